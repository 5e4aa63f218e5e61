import { randomInt, randomUUID } from 'node:crypto';
import type { ChallengeQuery } from './prover-challenge.entity';

/**
 * The requests a prover sends: every fingerprint key and `decoysPerKey` decoys per key, shuffled,
 * all in the same request shape, so neither the host nor the prover can tell keys from traffic.
 * A decoy is made of the keys' own words (a random draw, the length of a random key): the same
 * vocabulary and lengths as the keys, without being one.
 */
export function challengeQueries(keys: readonly { index: number; key: string }[], decoysPerKey: number, maxTokens: number): ChallengeQuery[] {
  const words = keys.flatMap((k) => k.key.split(/\s+/).filter(Boolean));
  const keySet = new Set(keys.map((k) => k.key));
  const body = (prompt: string) => JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0 });
  const queries: ChallengeQuery[] = keys.map((k) => ({ id: '', body: body(k.key), keyIndex: k.index }));
  for (let i = 0; i < keys.length * decoysPerKey && words.length; i += 1) {
    const length = keys[randomInt(keys.length)].key.split(/\s+/).filter(Boolean).length || 1;
    let prompt = '';
    for (let tries = 0; tries < 8 && (!prompt || keySet.has(prompt)); tries += 1)
      prompt = Array.from({ length }, () => words[randomInt(words.length)]).join(' ');
    if (!keySet.has(prompt)) queries.push({ id: '', body: body(prompt), keyIndex: null });
  }
  for (let i = queries.length - 1; i > 0; i -= 1) {
    const j = randomInt(i + 1);
    [queries[i], queries[j]] = [queries[j], queries[i]];
  }
  return queries.map((q) => ({ ...q, id: randomUUID() }));
}

/** The bytes a host's receipt hashes: a stream's bytes before its receipt event, or the whole body. */
export function signedPart(body: string, receiptEvent = 'clopen.receipt'): string {
  const at = body.indexOf(`event: ${receiptEvent}\n`);
  return at >= 0 ? body.slice(0, at) : body;
}

/** The receipt a stream carries in its receipt event, when the prover did not lift it out. */
export function streamReceipt(body: string, receiptEvent = 'clopen.receipt'): string | undefined {
  const at = body.indexOf(`event: ${receiptEvent}\n`);
  if (at < 0) return undefined;
  const line = body
    .slice(at)
    .split('\n')
    .find((l) => l.startsWith('data:'));
  try {
    return (JSON.parse(line!.slice(5)) as { receipt?: string }).receipt;
  } catch {
    return undefined;
  }
}
