import { busV1, create, storageV1, toBinary, timestampDate } from '@clopen/proto';
import { decodeEnvelope, encodeEnvelope, envelopeHeaders, headerValue, newEnvelope } from './envelope';
import { EnvelopeDecodeError, errorReply } from './errors';

describe('envelope', () => {
  it('a root message is its own correlation, with a uuid v7 id', () => {
    const env = newEnvelope('storage.model.registered', { model: { id: 'm1', name: 'llama' } }, { producer: 'storage' });
    expect(env.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(env.correlationId).toBe(env.id);
    expect(env.causationId).toBe('');
    expect(env.subject).toBe('storage.model.registered');
    expect(Math.abs(timestampDate(env.occurredAt!).getTime() - Date.now())).toBeLessThan(5_000);
  });

  it('a caused message inherits the correlation and names its cause', () => {
    const root = newEnvelope('storage.model.registered', {}, { producer: 'storage' });
    const next = newEnvelope('storage.version.published', { ownerId: 'alice' }, { producer: 'storage', causedBy: root });
    expect(next.correlationId).toBe(root.id);
    expect(next.causationId).toBe(root.id);
  });

  it('decodes the payload with the schema of its subject', () => {
    const env = newEnvelope('storage.version.published', { ownerId: 'alice', version: { id: 'v1', label: '1.0.0' } }, { producer: 'storage' });
    const decoded = decodeEnvelope(encodeEnvelope(env), 'storage.version.published');
    expect(decoded.payload.$typeName).toBe('clopen.storage.v1.VersionPublished');
    expect(decoded.payload.version?.label).toBe('1.0.0');
    expect(decoded.envelope.id).toBe(env.id);
  });

  it('refuses bytes that are not an envelope of a known subject', () => {
    expect(() => decodeEnvelope(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(EnvelopeDecodeError);
    const unknown = toBinary(busV1.EnvelopeSchema, create(busV1.EnvelopeSchema, { id: 'x', subject: 'nope.thing.happened' }));
    expect(() => decodeEnvelope(unknown)).toThrow(/unknown subject "nope.thing.happened"/);
    const other = encodeEnvelope(newEnvelope('storage.model.registered', {}, { producer: 't' }));
    expect(() => decodeEnvelope(other, 'storage.version.published')).toThrow(/expected "storage.version.published"/);
    const bad = create(busV1.EnvelopeSchema, { id: 'x', subject: 'storage.model.registered', payload: new Uint8Array([0x0a, 0x05, 0x01]) });
    expect(() => decodeEnvelope(toBinary(busV1.EnvelopeSchema, bad))).toThrow(/not a valid clopen.storage.v1.ModelRegistered/);
  });

  it('mirrors the envelope in NATS headers', () => {
    const root = newEnvelope('storage.model.registered', create(storageV1.ModelRegisteredSchema, {}), { producer: 'storage' });
    const env = newEnvelope('storage.model.registered', {}, { producer: 'storage', causedBy: root });
    const h = envelopeHeaders(env);
    expect(h.get('Nats-Msg-Id')).toBe(env.id);
    expect(h.get('Clopen-Producer')).toBe('storage');
    expect(h.get('Clopen-Correlation-Id')).toBe(root.id);
    expect(h.get('Clopen-Causation-Id')).toBe(root.id);
    expect(new Date(h.get('Clopen-Occurred-At')).toISOString()).toBe(timestampDate(env.occurredAt!).toISOString());
  });

  it('keeps header values on one bounded line', () => {
    expect(headerValue('a\r\nb')).toBe('a b');
    expect(headerValue('x'.repeat(600))).toHaveLength(512);
  });
});

describe('errorReply', () => {
  it('passes a domain code through and hides others as internal', () => {
    expect(errorReply(Object.assign(new Error('model m1 not found'), { code: 'not_found' }))).toEqual({ code: 'not_found', message: 'model m1 not found' });
    expect(errorReply(Object.assign(new Error('duplicate key'), { code: '23505' }))).toEqual({ code: 'internal', message: 'duplicate key' });
    expect(errorReply(new Error('boom'))).toEqual({ code: 'internal', message: 'boom' });
    expect(errorReply(undefined)).toEqual({ code: 'internal', message: 'internal error' });
  });
});
