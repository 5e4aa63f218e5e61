import { busV1, create, fromBinary, storageV1, toBinary } from './index';

describe('generated protobuf types', () => {
  it('round-trip a version inside an envelope, with 64-bit sizes intact', () => {
    const version = create(storageV1.ModelVersionSchema, {
      id: 'v1',
      kind: storageV1.VersionKind.OML,
      files: [{ path: 'model.safetensors', sizeBytes: 2n ** 40n, sha256: 'ab' }],
    });
    const payload = toBinary(storageV1.VersionPublishedSchema, create(storageV1.VersionPublishedSchema, { version, ownerId: 'alice' }));
    const envelope = fromBinary(
      busV1.EnvelopeSchema,
      toBinary(busV1.EnvelopeSchema, create(busV1.EnvelopeSchema, { id: 'e1', subject: 'storage.version.published', payload })),
    );
    const decoded = fromBinary(storageV1.VersionPublishedSchema, envelope.payload);
    expect(decoded.version?.files[0].sizeBytes).toBe(2n ** 40n);
    expect(decoded.version?.kind).toBe(storageV1.VersionKind.OML);
    expect(decoded.ownerId).toBe('alice');
  });
});
