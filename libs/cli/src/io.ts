/** Where the CLI reads and writes: the process in `main.ts`, buffers in tests. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
  /** Waits between polls (`jobs watch`); tests shorten it. */
  sleep?: (ms: number) => Promise<void>;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}
