import { promises as fs } from 'node:fs';
import { InferenceError } from './inference-error';

/**
 * The engine's byte-level BPE (libs/fingerprint/python/clopen_fp/tokenizer.py) ported token for
 * token: the same pre-tokenizer, merge order, end-of-text handling and UTF-8 error replacement, so
 * a host counts and decodes exactly what the PyTorch engine does.
 */

export const END_OF_TEXT = '<|endoftext|>';

/**
 * Python's `\s` on str (str.isspace): JavaScript's `\s` lacks U+001C–U+001F and U+0085 and adds
 * U+FEFF, which would split words differently.
 */
const WS = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PRETOKEN = new RegExp(`'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^${WS}A-Za-z0-9]+|[${WS}]+(?![^${WS}])|[${WS}]+`, 'gu');
const CACHE_LIMIT = 200_000;

/** GPT-2's byte → printable character table. */
function byteEncoder(): string[] {
  const printable: number[] = [];
  const range = (from: number, to: number) => {
    for (let b = from; b <= to; b++) printable.push(b);
  };
  range(0x21, 0x7e);
  range(0xa1, 0xac);
  range(0xae, 0xff);
  const table: string[] = new Array(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  }
  return table;
}

const BYTE_ENC = byteEncoder();
const BYTE_DEC = new Map(BYTE_ENC.map((c, b) => [c, b]));
const utf8 = new TextEncoder();

export class BpeTokenizer {
  /** The id of `<|endoftext|>`: it starts every prompt and is dropped when decoding. */
  readonly eot: number;
  private readonly vocab: Map<string, number>;
  private readonly pieces = new Map<number, string>();
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(vocab: Map<string, number>, merges: string[]) {
    this.vocab = new Map(vocab);
    if (!this.vocab.has(END_OF_TEXT)) this.vocab.set(END_OF_TEXT, this.vocab.size);
    this.eot = this.vocab.get(END_OF_TEXT) as number;
    for (const [piece, id] of this.vocab) this.pieces.set(id, piece);
    merges.forEach((merge, rank) => this.ranks.set(merge, rank));
  }

  /** Reads a tokenizer.json in the Hugging Face `tokenizers` format with a BPE model. */
  static async fromFile(path: string): Promise<BpeTokenizer> {
    let text: string;
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new InferenceError('missing_file', `${path}: not found`);
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new InferenceError('invalid_model', `${path} is not JSON: ${(error as Error).message}`);
    }
    return BpeTokenizer.fromJson(json, path);
  }

  static fromJson(json: unknown, source = 'tokenizer.json'): BpeTokenizer {
    const j = (json ?? {}) as { model?: { type?: unknown; vocab?: unknown; merges?: unknown }; added_tokens?: unknown };
    const model = j.model ?? {};
    if (model.type !== 'BPE' || typeof model.vocab !== 'object' || model.vocab === null || !Array.isArray(model.merges)) {
      throw new InferenceError('invalid_model', `${source}: only byte-level BPE tokenizers are supported (model.type = BPE with vocab and merges)`);
    }
    const vocab = new Map<string, number>(Object.entries(model.vocab as Record<string, number>));
    for (const token of Array.isArray(j.added_tokens) ? (j.added_tokens as { content: string; id: number }[]) : []) {
      vocab.set(token.content, token.id);
    }
    // Newer files list each merge as a pair instead of "a b".
    const merges = (model.merges as (string | string[])[]).map((m) => (typeof m === 'string' ? m : m.join(' ')));
    return new BpeTokenizer(vocab, merges);
  }

  /** Vocabulary size, `<|endoftext|>` included. */
  get size(): number {
    return this.vocab.size;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const [word] of text.matchAll(PRETOKEN)) {
      let symbols = '';
      for (const byte of utf8.encode(word)) symbols += BYTE_ENC[byte];
      ids.push(...this.bpe(symbols));
    }
    return ids;
  }

  /** The UTF-8 bytes of the tokens, `<|endoftext|>` dropped; for decoding a stream piece by piece. */
  decodeBytes(ids: readonly number[]): Uint8Array {
    const bytes: number[] = [];
    for (const id of ids) {
      if (id === this.eot) continue;
      const piece = this.pieces.get(id);
      if (piece === undefined) throw new InferenceError('invalid_input', `token id ${id} is not in the vocabulary (0–${this.size - 1})`);
      for (const c of piece) {
        const byte = BYTE_DEC.get(c);
        if (byte === undefined) throw new InferenceError('invalid_model', `token ${id} (${JSON.stringify(piece)}) is not a byte-level BPE token`);
        bytes.push(byte);
      }
    }
    return Uint8Array.from(bytes);
  }

  /** Text of the tokens; invalid UTF-8 becomes U+FFFD, as Python's errors="replace" does. */
  decode(ids: readonly number[]): string {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids));
  }

  private bpe(token: string): number[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const parts = [...token];
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const rank = this.ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          best = i;
          bestRank = rank;
        }
      }
      if (best < 0) break;
      parts.splice(best, 2, parts[best] + parts[best + 1]);
    }
    const ids = parts.map((part) => {
      const id = this.vocab.get(part);
      if (id === undefined) throw new InferenceError('invalid_model', `the vocabulary lacks the byte-level piece ${JSON.stringify(part)}`);
      return id;
    });
    if (this.cache.size < CACHE_LIMIT) this.cache.set(token, ids);
    return ids;
  }
}
