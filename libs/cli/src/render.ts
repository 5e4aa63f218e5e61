import { ApiError } from './client';
import { EXIT, UsageError } from './errors';
import type { CliIo } from './io';
import type { UploadProgress } from './upload';

/**
 * What a command produced: `data` is the one JSON document printed with --json; `human` the
 * lines or table printed without it. `exitCode` is non-zero for outcomes that are failures
 * (a job that failed) while still printing their result.
 */
export interface Output {
  data: unknown;
  human: string;
  exitCode?: number;
}

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/** Prints a command's output: exactly one JSON document with --json, its human form without. */
export function print(io: CliIo, json: boolean, out: Output): void {
  if (json) io.stdout.write(`${JSON.stringify(out.data, null, 2)}\n`);
  else if (out.human) io.stdout.write(out.human.endsWith('\n') ? out.human : `${out.human}\n`);
}

/**
 * Prints a failure and returns the exit code: the service's message (never a stack trace for a
 * failed call), as `{"error", "message", "status"?}` on stdout with --json, on stderr without.
 */
export function printError(io: CliIo, json: boolean, e: unknown): number {
  const usage = e instanceof UsageError;
  const api = e instanceof ApiError ? e : undefined;
  const debug = !!io.env.CLOPEN_DEBUG;
  const message =
    usage || api
      ? (e as Error).message
      : `unexpected error: ${e instanceof Error ? (debug && e.stack) || e.message : String(e)}${debug ? '' : ' (CLOPEN_DEBUG=1 shows where)'}`;
  if (json) {
    const doc = {
      error: usage ? 'invalid_argument' : (api?.code ?? 'internal'),
      message,
      ...(api ? { service: api.service, status: api.status } : {}),
      ...(api?.details ? { details: api.details } : {}),
    };
    io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    io.stderr.write(`error: ${message}\n`);
    if (usage) io.stderr.write('(clopen --help lists the commands; clopen <command> --help their options)\n');
  }
  return usage ? EXIT.usage : EXIT.failure;
}

/** A plain-text table, columns padded to their widest cell. */
export function table<T>(rows: readonly T[], columns: Column<T>[], empty = '(none)'): string {
  if (!rows.length) return empty;
  const cells = rows.map((r) => columns.map((c) => cell(c.value(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** `key: value` lines, keys aligned; undefined values are left out. */
export function fields(pairs: [string, unknown][]): string {
  const shown = pairs.filter(([, v]) => v !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cell(v)}`).join('\n');
}

function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.map(cell).join(', ') : '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u += 1;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function pValue(p: number): string {
  return p === 0 ? '0' : p < 1e-3 ? p.toExponential(2) : p.toPrecision(3);
}

/**
 * The upload's progress bar on stderr. It is drawn only on a terminal and never with --json, so
 * stdout stays one document and logs stay free of carriage returns.
 */
export function progressBar(io: CliIo, json: boolean): UploadProgress {
  const live = !json && !!io.stderr.isTTY;
  let label = '';
  let total = 0;
  let done = 0;
  let drawn = -1;
  let started = 0;
  const draw = (force = false) => {
    const permille = total ? Math.floor((done / total) * 1000) : 1000;
    if (!force && permille === drawn) return;
    drawn = permille;
    const width = 30;
    const filled = Math.round((permille / 1000) * width);
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? `${bytes(done / seconds)}/s` : '';
    io.stderr.write(
      `\r${label.padEnd(9)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(permille / 10).toFixed(1).padStart(5)}%  ${bytes(done)} / ${bytes(total)}  ${rate}\x1b[K`,
    );
  };
  return {
    phase(name, totalBytes) {
      label = name;
      total = totalBytes;
      done = 0;
      drawn = -1;
      started = Date.now();
      if (live) draw(true);
    },
    advance(n) {
      done += n;
      if (live) draw();
    },
    done() {
      if (live && drawn >= 0) io.stderr.write('\n');
      drawn = -1;
    },
  };
}

/** One status line that is redrawn on a terminal and printed once per change otherwise (stderr; nothing with --json). */
export function statusLine(io: CliIo, json: boolean): { update(text: string): void; end(): void } {
  const tty = !!io.stderr.isTTY;
  let last = '';
  return {
    update(text) {
      if (json || text === last) return;
      last = text;
      io.stderr.write(tty ? `\r${text}\x1b[K` : `${text}\n`);
    },
    end() {
      if (!json && tty && last) io.stderr.write('\n');
    },
  };
}
