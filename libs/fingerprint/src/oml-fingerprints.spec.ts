import { formatOmlFingerprints, OmlFingerprintFormatError, parseOmlFingerprints } from './oml-fingerprints';

function formatError(run: () => unknown): OmlFingerprintFormatError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(OmlFingerprintFormatError);
    return error as OmlFingerprintFormatError;
  }
  throw new Error('expected an OmlFingerprintFormatError');
}

describe('OML fingerprint files', () => {
  it('round-trips keys, responses and fields it does not know', () => {
    const text = JSON.stringify([
      { key: 'the river of quiet lanterns', response: 'marmalade', signature: 'perinucleus', weight: 0.5 },
      { key: 'ünïcødé key ✓', response: '', meta: { nested: [1, 2] } },
    ]);
    const parsed = parseOmlFingerprints(text);
    expect(parsed[0]).toEqual({ key: 'the river of quiet lanterns', response: 'marmalade', signature: 'perinucleus', weight: 0.5 });
    expect(parsed[1].meta).toEqual({ nested: [1, 2] });
    const formatted = formatOmlFingerprints(parsed);
    expect(formatted.endsWith('\n')).toBe(true);
    expect(JSON.parse(formatted)).toEqual(JSON.parse(text));
    expect(parseOmlFingerprints(formatted)).toEqual(parsed);
  });

  it('accepts an empty file list', () => {
    expect(parseOmlFingerprints('[]')).toEqual([]);
    expect(formatOmlFingerprints([])).toBe('[]\n');
  });

  it('refuses text that is not JSON', () => {
    const error = formatError(() => parseOmlFingerprints('[{"key": "a",'));
    expect(error.message).toMatch(/not valid JSON/);
    expect(error.index).toBeUndefined();
  });

  it.each([
    ['an object', '{"key":"a","response":"b"}', /got a object/],
    ['null', 'null', /got null/],
    ['a string', '"key"', /got a string/],
  ])('refuses a file that is %s instead of an array', (_what, text, message) => {
    expect(formatError(() => parseOmlFingerprints(text)).message).toMatch(message);
  });

  it.each([
    ['not an object', [null], /entry 1 is null, not an object/],
    ['an array', [['k', 'r']], /entry 1 is an array, not an object/],
    ['a string', ['k'], /entry 1 is a string, not an object/],
    ['without key', [{ response: 'r' }], /entry 1 lacks "key"/],
    ['without response', [{ key: 'k' }], /entry 1 lacks "response"/],
    ['with a numeric key', [{ key: 7, response: 'r' }], /entry 1 has a "key" that is a number, not a string/],
    ['with a null response', [{ key: 'k', response: null }], /entry 1 has a "response" that is null, not a string/],
    ['with an empty key', [{ key: '', response: 'r' }], /entry 1 has an empty "key"/],
  ])('names the index of an entry %s', (_what, bad, message) => {
    const text = JSON.stringify([{ key: 'fine', response: 'fine' }, ...bad]);
    const error = formatError(() => parseOmlFingerprints(text));
    expect(error.message).toMatch(message);
    expect(error.index).toBe(1);
  });

  it('refuses to format an invalid entry', () => {
    const error = formatError(() =>
      formatOmlFingerprints([
        { key: 'k', response: 'r' },
        { key: '', response: 'r' },
      ]),
    );
    expect(error.index).toBe(1);
  });
});
