import { completionText } from '@clopen/host-sdk';
import { challengeQueries, signedPart, streamReceipt } from './challenge-queries';

describe('challenge queries', () => {
  const keys = [
    { index: 3, key: 'a small dog with long ears' },
    { index: 9, key: 'the quality of being' },
    { index: 12, key: 'any of various plants' },
  ];

  it('mixes every key with decoys of the same shape, shuffled, under fresh ids', () => {
    const q = challengeQueries(keys, 2, 16);
    expect(q).toHaveLength(9);
    expect(new Set(q.map((x) => x.id)).size).toBe(9);
    expect(
      q
        .filter((x) => x.keyIndex !== null)
        .map((x) => x.keyIndex)
        .sort((a, b) => a! - b!),
    ).toEqual([3, 9, 12]);
    for (const x of q) {
      const body = JSON.parse(x.body);
      expect(Object.keys(body)).toEqual(['prompt', 'max_tokens', 'temperature']);
      expect(body.max_tokens).toBe(16);
      if (x.keyIndex === null) expect(keys.map((k) => k.key)).not.toContain(body.prompt);
    }
  });

  it('reads the completion text of JSON answers and of streams', () => {
    expect(completionText('{"choices":[{"text":" barks"}]}')).toBe(' barks');
    expect(completionText('{"choices":[{"message":{"role":"assistant","content":"hi"}}]}')).toBe('hi');
    const stream =
      'data: {"choices":[{"text":" a"}]}\n\ndata: {"choices":[{"text":" b"}]}\n\nevent: clopen.receipt\ndata: {"receipt":"abc"}\n\ndata: [DONE]\n\n';
    expect(completionText(stream)).toBe(' a b');
    expect(signedPart(stream)).toBe('data: {"choices":[{"text":" a"}]}\n\ndata: {"choices":[{"text":" b"}]}\n\n');
    expect(streamReceipt(stream)).toBe('abc');
    expect(completionText('{"error":{"message":"no"}}')).toBeNull();
    expect(completionText('not json')).toBeNull();
  });
});
