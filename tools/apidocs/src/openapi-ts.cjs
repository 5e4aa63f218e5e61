// Prints the openapi-typescript declarations of the OpenAPI document read on stdin. A process of its
// own: openapi-typescript's dependencies are ES modules, which plain Node loads but jest's module
// system (the documents test) cannot.
const { default: openapiTS, astToString } = require('openapi-typescript');

let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', async () => {
  process.stdout.write(astToString(await openapiTS(JSON.parse(input), { alphabetize: false })));
});
