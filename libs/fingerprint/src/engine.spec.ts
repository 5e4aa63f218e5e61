import { engineError } from '../test/engine-error';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { enginePythonPath, runEngineJob, type EngineProgress } from './engine';

/** Stand-in interpreters: shell scripts that speak (or break) the engine's stdout protocol. */
describe('runEngineJob protocol handling', () => {
  let dir: string;
  let n = 0;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'clopen-fake-engine-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function fakePython(script: string): string {
    const file = path.join(dir, `python-${++n}`);
    writeFileSync(file, `#!/bin/sh\n${script}\n`);
    chmodSync(file, 0o755);
    return file;
  }

  const manifest = { job: 'generate', model: '/m', count: 1 } as const;

  it('sends the manifest on stdin, reassembles split lines and resolves with the result fields', async () => {
    const python = fakePython(`
m=$(cat)
printf '{"type":"progress","t":0.1,"phase":"train","perc'
sleep 0.2
printf 'ent":12.5,"step":3}\\n{"type":"log","t":0.2,"message":"caf\\303'
sleep 0.2
printf '\\251"}\\n'
printf '{"type":"result","t":1.5,"job":"generate","manifest":%s}' "$m"`);
    const progress: EngineProgress[] = [];
    const logs: string[] = [];
    const result = await runEngineJob(manifest, { python, onProgress: (p) => progress.push(p), onLog: (l) => logs.push(l.message) });
    expect(progress).toEqual([{ t: 0.1, phase: 'train', percent: 12.5, step: 3 }]);
    expect(logs).toEqual(['café']);
    expect(result).toEqual({ job: 'generate', manifest });
  });

  it('rejects with the code, message and exit status of an error line', async () => {
    const python = fakePython(`echo 'warning: something' >&2
echo '{"type":"error","t":0,"code":"invalid_model","message":"/m has no config.json"}'
exit 3`);
    const error = await engineError(runEngineJob(manifest, { python }));
    expect(error).toMatchObject({ code: 'invalid_model', exitCode: 3, signal: null });
    expect(error.message).toMatch(/\/m has no config.json/);
    expect(error.stderrTail).toMatch(/warning: something/);
  });

  it('rejects a line that is not a protocol message', async () => {
    const python = fakePython(`echo 'Loading weights...'; sleep 30`);
    const started = Date.now();
    const error = await engineError(runEngineJob(manifest, { python }));
    expect(error.code).toBe('malformed_output');
    expect(error.message).toMatch(/Loading weights/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not wait long for a descendant that keeps stdout open after the engine exited', async () => {
    const python = fakePython(`sleep 4 &
echo '{"type":"result","t":0,"job":"generate","count":0}'`);
    const started = Date.now();
    await expect(runEngineJob(manifest, { python })).resolves.toEqual({ job: 'generate', count: 0 });
    expect(Date.now() - started).toBeLessThan(3_500);
  });

  it('rejects an exit without a result line', async () => {
    const error = await engineError(runEngineJob(manifest, { python: fakePython('exit 0') }));
    expect(error.code).toBe('malformed_output');
  });

  it('reports a non-zero exit without an error line as a crash, with stderr', async () => {
    const python = fakePython(`echo 'Traceback: ImportError: no module named torch' >&2; exit 1`);
    const error = await engineError(runEngineJob(manifest, { python }));
    expect(error).toMatchObject({ code: 'crashed', exitCode: 1 });
    expect(error.message).toMatch(/ImportError/);
  });

  it('reports death by SIGKILL it did not send as out of memory', async () => {
    const error = await engineError(runEngineJob(manifest, { python: fakePython('kill -9 $$') }));
    expect(error).toMatchObject({ code: 'out_of_memory', exitCode: null, signal: 'SIGKILL' });
  });

  it('reports death by another signal as a crash', async () => {
    const error = await engineError(runEngineJob(manifest, { python: fakePython('kill -SEGV $$') }));
    expect(error).toMatchObject({ code: 'crashed', signal: 'SIGSEGV' });
  });

  it('terminates a job past its time limit', async () => {
    const error = await engineError(runEngineJob(manifest, { python: fakePython('exec sleep 30'), timeoutMs: 300 }));
    expect(error).toMatchObject({ code: 'timeout', signal: 'SIGTERM' });
  });

  it('sends SIGKILL 5 s after SIGTERM when the process ignores it', async () => {
    const python = fakePython(`trap '' TERM; echo '{"type":"log","t":0,"message":"ready"}'; while true; do sleep 0.1; done`);
    const controller = new AbortController();
    const started = Date.now();
    const error = await engineError(runEngineJob(manifest, { python, signal: controller.signal, onLog: () => controller.abort() }));
    expect(error).toMatchObject({ code: 'aborted', signal: 'SIGKILL' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
  }, 15_000);

  it('rejects at once when the signal is already aborted', async () => {
    const error = await engineError(runEngineJob(manifest, { python: fakePython('exit 0'), signal: AbortSignal.abort() }));
    expect(error.code).toBe('aborted');
  });

  it('stops the job when a callback throws', async () => {
    const python = fakePython(`echo '{"type":"progress","t":0,"phase":"x","percent":1}'; exec sleep 30`);
    await expect(
      runEngineJob(manifest, {
        python,
        onProgress: () => {
          throw new Error('progress sink broke');
        },
      }),
    ).rejects.toThrow('progress sink broke');
  });

  it('says how to install the interpreter when it does not exist', async () => {
    const error = await engineError(runEngineJob(manifest, { python: path.join(dir, 'no-such-python') }));
    expect(error.code).toBe('engine_unavailable');
    expect(error.message).toMatch(/CLOPEN_PYTHON/);
  });

  it('uses CLOPEN_PYTHON, else Debian python3', () => {
    expect(enginePythonPath({})).toBe('/usr/bin/python3');
    expect(enginePythonPath({ CLOPEN_PYTHON: '/opt/py/bin/python' })).toBe('/opt/py/bin/python');
  });
});
