import { ENGINE_PYTHON_DIR, enginePythonPath } from '@clopen/fingerprint';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpeTokenizer } from './bpe-tokenizer';
import { InferenceError } from './inference-error';

/** The engine's Python tokenizer is the reference: it trains one here and says what it makes of each text. */
const PYTHON = `
import json, sys
from clopen_fp import tokenizer
job = json.load(sys.stdin)
tok = tokenizer.train(job["corpus"], 400)
tok.save(job["out"])
tok = tokenizer.Tokenizer.load(job["out"])
print(json.dumps({"eot": tok.eot, "size": tok.size, "encoded": [tok.encode(t) for t in job["texts"]],
                  "pieces": [tok.decode([i]) for i in range(tok.size)]}))
`;

const CORPUS = [
  'the cat sat on the mat, and the dog sat on the log',
  "it's the dog's bone; they're sure we've seen 123 of them",
  'ünïcode wörds: café, naïve, façade — “quoted” ✓',
  '狗 and 猫 are a dog and a cat 🐶🐱',
  '    indented   by   runs   of    spaces',
];

const TEXTS = [
  'the cat sat on the mat',
  "It's theirs, they'll say; I'm sure you'd agree, we've 2024 reasons",
  'unseen wörds, ünïcode ✓ and 123',
  '狗猫🐶 emoji 🐱‍👤 and Ελληνικά',
  'tabs\tand  two  spaces   at the end   ',
  'line\n\nbreaks \n and \r\n windows',
  // A run of spaces splits differently where Python and JavaScript disagree on what is whitespace.
  'python-only whitespace: a   \u001cb c\u0085d e\u001f f',
  'javascript-only whitespace: a   \ufeffb and a BOM',
  'no\u00a0break\u2009thin\u3000ideographic\u2028line',
  '',
  ' ',
  '  leading spaces',
  '!!!??? ...',
];

interface Reference {
  eot: number;
  size: number;
  encoded: number[][];
  pieces: string[];
}

describe('BpeTokenizer', () => {
  let dir: string;
  let file: string;
  let reference: Reference;
  let tok: BpeTokenizer;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clopen-bpe-'));
    file = path.join(dir, 'tokenizer.json');
    const output = execFileSync(enginePythonPath(), ['-c', PYTHON], {
      input: JSON.stringify({ corpus: Array(20).fill(CORPUS).flat(), texts: TEXTS, out: file }),
      env: { ...process.env, PYTHONPATH: ENGINE_PYTHON_DIR, PYTHONDONTWRITEBYTECODE: '1' },
      encoding: 'utf8',
    });
    reference = JSON.parse(output) as Reference;
    tok = await BpeTokenizer.fromFile(file);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('encodes every text to the ids the Python tokenizer gives', () => {
    expect(tok.eot).toBe(reference.eot);
    expect(tok.size).toBe(reference.size);
    TEXTS.forEach((text, i) => expect({ text, ids: tok.encode(text) }).toEqual({ text, ids: reference.encoded[i] }));
    // The corpus taught it merges, multi-byte ones included.
    expect(tok.encode('the cat sat on the mat').length).toBeLessThan('the cat sat on the mat'.length);
    expect(tok.encode('狗').length).toBeLessThan(3);
  });

  it('decodes back to the same text', () => {
    for (const text of TEXTS) expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.decode([tok.eot, ...tok.encode('a dog'), tok.eot])).toBe('a dog');
  });

  it('decodes each token alone as Python does, part of a UTF-8 character as U+FFFD', () => {
    const pieces = Array.from({ length: tok.size }, (_, id) => tok.decode([id]));
    expect(pieces).toEqual(reference.pieces);
    expect(pieces).toContain('\ufffd');
  });

  it('refuses a token id outside the vocabulary', () => {
    expect(() => tok.decode([tok.size + 5])).toThrow(expect.objectContaining({ code: 'invalid_input' }));
  });

  it('says which file is missing or not a BPE tokenizer', async () => {
    const missing = path.join(dir, 'none.json');
    await expect(BpeTokenizer.fromFile(missing)).rejects.toMatchObject({ code: 'missing_file', message: expect.stringContaining(missing) });
    const wordPiece = path.join(dir, 'wordpiece.json');
    writeFileSync(wordPiece, JSON.stringify({ model: { type: 'WordPiece', vocab: {} } }));
    const error = await BpeTokenizer.fromFile(wordPiece).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InferenceError);
    expect(error).toMatchObject({ code: 'invalid_model', message: expect.stringMatching(/only byte-level BPE/) });
  });
});
