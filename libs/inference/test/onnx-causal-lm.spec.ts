import { ENGINE_PYTHON_DIR, enginePythonPath, ensureBaseModel, exportOnnx } from '@clopen/fingerprint';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InferenceError, OnnxCausalLm, type GeneratedChunk } from '../src';

/**
 * The tiny base model trained by the real engine, exported with exportOnnx, served here with
 * onnxruntime and compared token for token with the PyTorch engine's gpt.greedy.
 */

/** Shared with libs/fingerprint's tests, so the tiny model trains once per machine. */
const MODEL_CACHE = path.join(os.tmpdir(), 'clopen-test-models');

const GREEDY = `
import json, sys, torch
from clopen_fp import gpt
job = json.load(sys.stdin)
torch.set_num_threads(2)
model, tok, _ = gpt.load_folder(job["model"])
out = []
for p in job["prompts"]:
    ids = gpt.greedy(model, [[tok.eot] + tok.encode(p["prompt"])], p["n"])[0]
    out.append({"ids": ids, "text": tok.decode(ids), "prompt_tokens": len(tok.encode(p["prompt"])), "eot": tok.eot})
print(json.dumps(out))
`;

// n_positions is 64: the last two run past the context window, before and during generation.
const LONG = 'a member of the genus of small dogs with a long body and short legs; '.repeat(5);
const PROMPTS = [
  { prompt: '', n: 16 },
  { prompt: 'a dog', n: 24 },
  { prompt: 'the quality of being', n: 24 },
  { prompt: 'ünïcode wörds ✓ 狗 and', n: 12 },
  { prompt: 'any of various small plants having', n: 40 },
  { prompt: LONG, n: 20 },
];

interface Reference {
  ids: number[];
  text: string;
  prompt_tokens: number;
  eot: number;
}

async function collect(stream: AsyncIterable<GeneratedChunk>): Promise<GeneratedChunk[]> {
  const chunks: GeneratedChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('OnnxCausalLm on the engine tiny model', () => {
  let base: string;
  let dir: string;
  let model: OnnxCausalLm;
  let reference: Reference[];

  beforeAll(async () => {
    base = (await ensureBaseModel('test-tiny', { cacheDir: MODEL_CACHE })).dir;
    dir = mkdtempSync(path.join(os.tmpdir(), 'clopen-inference-'));
    for (const file of ['config.json', 'tokenizer.json', 'model.safetensors']) copyFileSync(path.join(base, file), path.join(dir, file));
    await exportOnnx(dir);
    reference = JSON.parse(
      execFileSync(enginePythonPath(), ['-c', GREEDY], {
        input: JSON.stringify({ model: dir, prompts: PROMPTS }),
        env: { ...process.env, PYTHONPATH: ENGINE_PYTHON_DIR, PYTHONDONTWRITEBYTECODE: '1' },
        encoding: 'utf8',
      }),
    ) as Reference[];
    model = await OnnxCausalLm.load(dir, { threads: 2 });
  });
  afterAll(async () => {
    await model?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('knows its name and context window', () => {
    expect(model.name).toBe(path.basename(dir));
    expect(model.contextLength).toBe(64);
    expect(model.tokenizer.encode(LONG).length).toBeGreaterThan(64);
  });

  it('decodes greedily token for token as the PyTorch engine does', async () => {
    for (const [i, { prompt, n }] of PROMPTS.entries()) {
      const chunks = await collect(model.generate(prompt, { maxTokens: n }));
      expect({ prompt, ids: chunks.map((c) => c.tokenId) }).toEqual({ prompt, ids: reference[i].ids });
      expect(chunks.map((c) => c.text).join('')).toBe(reference[i].text);
      expect(chunks.filter((c) => c.finishReason).map((c) => c.finishReason)).toEqual(['length']);
      expect(chunks[chunks.length - 1].finishReason).toBe('length');

      const completion = await model.complete(prompt, { maxTokens: n });
      expect(completion).toEqual({ text: reference[i].text, tokensIn: reference[i].prompt_tokens, tokensOut: n, finishReason: 'length' });
    }
  });

  it('ends the text before a stop sequence', async () => {
    const { ids, text } = reference[2];
    // The stop sequence is the text of the first generated token after the third that adds a
    // visible character, so the reference text completes it well before the 24-token limit
    // whatever the tiny model happens to say.
    const upTo = (n: number) => model.tokenizer.decode(ids.slice(0, n));
    const k = ids.findIndex((_, i) => i >= 3 && /\S/.test(upTo(i + 1).slice(upTo(i).length)));
    expect(k).toBeGreaterThan(0);
    expect(k).toBeLessThan(20);
    const stop = upTo(k + 1).slice(upTo(k).length);
    const expected = text.slice(0, text.indexOf(stop));
    const completion = await model.complete(PROMPTS[2].prompt, { maxTokens: 24, stop: ['never generated', stop] });
    expect(completion).toMatchObject({ text: expected, finishReason: 'stop' });
    expect(completion.tokensOut).toBeLessThan(24);
    const chunks = await collect(model.generate(PROMPTS[2].prompt, { maxTokens: 24, stop }));
    expect(chunks.map((c) => c.text).join('')).toBe(expected);
    expect(chunks[chunks.length - 1].finishReason).toBe('stop');
  });

  it('ends at <|endoftext|> when asked to', async () => {
    const ref = reference.find((r) => r.ids.includes(r.eot));
    // The tiny model ends glosses with end-of-text, so some prompt produces it.
    expect(ref).toBeDefined();
    const at = ref!.ids.indexOf(ref!.eot);
    const prompt = PROMPTS[reference.indexOf(ref!)].prompt;
    const completion = await model.complete(prompt, { maxTokens: 40, stopAtEndOfText: true });
    expect(completion).toMatchObject({ text: model.tokenizer.decode(ref!.ids.slice(0, at)), tokensOut: at + 1, finishReason: 'stop' });
  });

  it('stops generating when the signal aborts', async () => {
    const controller = new AbortController();
    const seen: GeneratedChunk[] = [];
    const error = await (async () => {
      for await (const chunk of model.generate('a dog', { maxTokens: 50, signal: controller.signal })) {
        seen.push(chunk);
        if (seen.length === 3) controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InferenceError);
    expect(error).toMatchObject({ code: 'aborted' });
    expect(seen).toHaveLength(3);
    await expect(model.complete('a dog', { maxTokens: 5, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'aborted' });
  });

  it('refuses maxTokens below 1', async () => {
    await expect(model.complete('a dog', { maxTokens: 0 })).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('says model.onnx is missing from a folder that was not exported', async () => {
    const error = await OnnxCausalLm.load(base).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InferenceError);
    expect(error).toMatchObject({ code: 'missing_file', message: expect.stringContaining(`${base} has no model.onnx`) });
  });
});
