import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STREAMS, SUBJECTS, streamNames, type StreamSpec, type Subject } from '@clopen/bus';
import { hostAuthMessage } from '@clopen/host-auth';
import { REJECTION_REASONS, batchSigningBytes, grantSigningBytes, receiptSigningBytes, requestDigestText } from '@clopen/host-sdk';
import { PARTNER, PARTNER_STREAM, rolesOf } from './participants';

const EXAMPLES_DIR = 'tools/apidocs/examples';

/**
 * docs/partners.md with its generated parts filled in, the rest as written: between
 * `<!-- generated:subjects -->` and `<!-- /generated:subjects -->` the subjects a partner
 * publishes and consumes (from the participants table), between `<!-- generated:example NAME -->`
 * and `<!-- /generated:example -->` the example file NAME, which typecheck compiles and a test runs.
 */
export function partnerPage(root: string, page: string): string {
  return page
    .replace(/(<!-- generated:subjects -->\n)[\s\S]*?(<!-- \/generated:subjects -->)/, (_, open: string, close: string) => `${open}${subjectTables()}${close}`)
    .replace(
      /(<!-- generated:signed-texts -->\n)[\s\S]*?(<!-- \/generated:signed-texts -->)/,
      (_, open: string, close: string) => `${open}${signedTexts()}${close}`,
    )
    .replace(
      /(<!-- generated:rejections -->\n)[\s\S]*?(<!-- \/generated:rejections -->)/,
      (_, open: string, close: string) => `${open}${rejectionTable()}${close}`,
    )
    .replace(/(<!-- generated:example ([\w.-]+) -->\n)[\s\S]*?(<!-- \/generated:example -->)/g, (_, open: string, name: string, close: string) => {
      const code = readFileSync(join(root, EXAMPLES_DIR, name), 'utf8');
      return `${open}\`\`\`ts\n${code.endsWith('\n') ? code : `${code}\n`}\`\`\`\n${close}`;
    });
}

function subjectTables(): string {
  const subjects = Object.keys(SUBJECTS) as Subject[];
  const partnerDoes = (action: 'send' | 'receive') => subjects.filter((s) => rolesOf(s).some((r) => r.participant === PARTNER && r.action === action));
  const row = (subject: Subject, where: string) => {
    const spec = SUBJECTS[subject];
    const message = spec.kind === 'event' ? spec.schema.typeName : spec.request.typeName;
    return `| \`${subject}\` | ${where} | \`${message}\` | ${spec.description.replace(/\|/g, '\\|')} |`;
  };
  const header = (where: string) => [`| subject | ${where} | message | what it says |`, '| --- | --- | --- | --- |'];
  const streamOf = (subject: Subject) => {
    const spec = SUBJECTS[subject];
    return spec.kind === 'event' ? spec.stream : '(request)';
  };
  const sends = [...header('stored as'), ...partnerDoes('send').map((s) => row(s, `${streamOf(s)}, as \`${s}.<your id>\``))];
  const reads = [
    ...header('stream you read'),
    ...partnerDoes('receive').map((s) => {
      const spec = SUBJECTS[s];
      if (spec.kind === 'event' && 'toPartners' in spec && spec.toPartners)
        return row(s, `PARTNERS, as \`${s}.<your id>\`, through your durable \`<your id>__${s.replace(/\./g, '_')}\``);
      const mirror = streamNames().find((name) => name === PARTNER_STREAM && (STREAMS[name] as StreamSpec).mirror?.subject === s);
      return row(s, mirror ? `${mirror} (a mirror of ${streamOf(s)})` : streamOf(s));
    }),
  ];
  return `You publish:\n\n${sends.join('\n')}\n\nYou read:\n\n${reads.join('\n')}\n`;
}

/** A text as a JSON string literal: every newline and byte visible. */
const literal = (text: string) => `\`${JSON.stringify(text)}\``;

/**
 * What each party signs, produced by the very functions that sign (libs/host-sdk, libs/host-auth)
 * with placeholders for the values, so the page cannot drift from the code.
 */
function signedTexts(): string {
  const context = (bytes: Buffer, tail: string) => {
    const text = bytes.toString('latin1');
    if (!text.endsWith(tail)) throw new Error(`signed bytes do not end with ${tail}`);
    return text.slice(0, text.length - tail.length);
  };
  const rows = [
    [
      "host request (`x-clopen-host-auth`), EIP-191 personal message by the host's EVM key",
      literal(
        hostAuthMessage({
          audience: '<service: access | distribution>',
          method: '<METHOD>',
          path: '<path with the query as sent>',
          nonce: '<16 random bytes, hex>',
          expiresAt: '<unix seconds>' as unknown as number,
          bodySha256: '<sha256 hex of the body bytes; of "" without one>',
        }),
      ),
    ],
    [
      "user request (the permission string's `user_signature`), ed25519 by the grant's user key over the **sha256** of",
      literal(requestDigestText('<grant id>', '<counter, decimal>', '<host address, lower case>', '<model id>', '<sha256 hex of the request body as sent>')),
    ],
    [
      'one receipt (`host_signature`), ed25519 by the serving key',
      `${literal(context(receiptSigningBytes(Buffer.from('<body>')), '<body>'))} followed by the \`ReceiptBody\` bytes`,
    ],
    [
      'a batch (`batch_signature`), ed25519 by the serving key',
      `${literal(context(batchSigningBytes('<host address>', [], Buffer.from('<hashes>')), '<hashes>'))} followed by the 32-byte sha256 of each receipt body, in order`,
    ],
    [
      'a grant (`issuer_signature`), ed25519 by the access issuer key',
      `${literal(context(grantSigningBytes(Buffer.from('<grant>')), '<grant>'))} followed by the \`Grant\` bytes`,
    ],
  ];
  return ['| what | the exact bytes signed |', '| --- | --- |', ...rows.map(([what, text]) => `| ${what} | ${text.replace(/\|/g, '\\|')} |`)].join('\n') + '\n';
}

function rejectionTable(): string {
  return (
    [
      '| reason | why the receipt was not counted |',
      '| --- | --- |',
      ...Object.entries(REJECTION_REASONS).map(([reason, why]) => `| \`${reason}\` | ${why} |`),
    ].join('\n') + '\n'
  );
}
