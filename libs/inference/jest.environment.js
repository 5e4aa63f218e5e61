// onnxruntime-node's native binding returns typed arrays of Node's own realm, and
// onnxruntime-common checks them with instanceof against the realm jest runs tests in, which
// refuses every output ("A float32 tensor's data must be type of Float32Array"). Tests share
// Node's constructors for the tensor types the models here return; outside jest nothing differs.
const { TestEnvironment } = require('jest-environment-node');

class SharedTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of ['Float32Array', 'BigInt64Array']) this.global[name] = globalThis[name];
  }
}

module.exports = SharedTypedArraysEnvironment;
