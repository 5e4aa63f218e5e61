import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  ftruncateSync,
} from 'node:fs';
import type { KeyObject } from 'node:crypto';
import * as path from 'node:path';
import { encodeEnvelope, type Bus, type BusLogger } from '@clopen/bus';
import { accessV1, fromBinary, toBinary } from '@clopen/proto';
import { signReceiptBatch } from './receipts';

export interface ReceiptPublisherOptions {
  bus: Bus;
  /** The host's EVM address and the registered serving key that signs its batches. */
  host: string;
  servingKey: KeyObject;
  hostKeyId: string;
  /** A directory of this host alone, on a disk that survives restarts. */
  spoolDir: string;
  /** Receipts per published batch. Default 500. */
  maxBatch?: number;
  /** A partly filled batch is published after this long. Default 1000 ms. */
  flushIntervalMs?: number;
  /** First wait after a failed publish; doubles up to 30 s. Default 500 ms. */
  retryMs?: number;
  logger?: BusLogger;
}

const LOG_FILE = 'receipts.log';
const BATCH_PREFIX = 'batch-';
const MAX_RETRY_MS = 30_000;

/**
 * Publishes a host's usage receipts to `access.usage.reported` in signed batches, losing none:
 * each receipt is appended to a write-ahead log in the spool directory as it is recorded; a batch
 * is written to the spool as the exact envelope it will be published as before the log is cleared,
 * and removed only once JetStream has acknowledged it. While NATS is down batches pile up on disk
 * and are retried (oldest first, with backoff); after a crash or restart, the log and the spooled
 * batches are published on open. A batch published twice (a crash between the ack and the
 * removal) has the same envelope id, and the access service counts a (grant, counter) once anyway.
 */
export class ReceiptPublisher {
  private readonly maxBatch: number;
  private readonly retryMs: number;
  private readonly logger: BusLogger;
  private buffer: accessV1.UsageReceipt[] = [];
  private logFd: number;
  private timer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private draining: Promise<void> = Promise.resolve();
  private backoff: number;
  private spooled: string[] = [];
  /** While NATS refuses, batches are only sealed until then (the retry timer publishes). */
  private retryAt = 0;
  private closed = false;
  /** Receipts acknowledged by JetStream since start. */
  published = 0;

  private constructor(private readonly options: ReceiptPublisherOptions) {
    this.maxBatch = options.maxBatch ?? 500;
    this.retryMs = options.retryMs ?? 500;
    this.backoff = this.retryMs;
    this.logger = options.logger ?? options.bus.logger;
    mkdirSync(options.spoolDir, { recursive: true });
    const logPath = path.join(options.spoolDir, LOG_FILE);
    this.buffer = existsSync(logPath) ? readLog(readFileSync(logPath)) : [];
    this.logFd = openSync(logPath, 'a');
    this.spooled = readdirSync(options.spoolDir)
      .filter((f) => f.startsWith(BATCH_PREFIX) && f.endsWith('.bin'))
      .sort();
    this.spooledReceipts = this.spooled.reduce((n, f) => n + receiptCount(f), 0);
  }

  /** Opens the spool and publishes what an earlier run left in it. */
  static async open(options: ReceiptPublisherOptions): Promise<ReceiptPublisher> {
    const publisher = new ReceiptPublisher(options);
    if (publisher.buffer.length || publisher.spooled.length) {
      publisher.logger.log(
        `receipt spool: ${publisher.buffer.length} receipt(s) and ${publisher.spooled.length} batch(es) from an earlier run; publishing them`,
      );
    }
    publisher.timer = setInterval(() => void publisher.flush(), options.flushIntervalMs ?? 1_000);
    publisher.timer.unref();
    await publisher.flush();
    return publisher;
  }

  /** Records one served request's receipt; it is on disk when this returns. */
  record(receipt: accessV1.UsageReceipt): void {
    if (this.closed) throw new Error('the receipt publisher is closed');
    const bytes = toBinary(accessV1.UsageReceiptSchema, receipt);
    const frame = Buffer.allocUnsafe(4 + bytes.length);
    frame.writeUInt32BE(bytes.length, 0);
    frame.set(bytes, 4);
    writeSync(this.logFd, frame);
    this.buffer.push(receipt);
    if (this.buffer.length >= this.maxBatch) void this.flush();
  }

  /** Receipts recorded but not yet acknowledged by JetStream (in the log or in spooled batches). */
  get pending(): number {
    return this.buffer.length + this.spooledReceipts;
  }

  /** Batches waiting in the spool for NATS. */
  get spooledBatches(): number {
    return this.spooled.length;
  }

  private spooledReceipts = 0;

  /** Seals the recorded receipts into a batch and publishes every spooled batch. */
  flush(force = false): Promise<void> {
    this.draining = this.draining.then(() => this.drain(force)).catch((e: Error) => this.logger.error(`receipt publisher: ${e.message}`));
    return this.draining;
  }

  /** Publishes what can be published (waiting at most `timeoutMs` for NATS), then stops; the rest stays spooled. */
  async close(timeoutMs = 5_000): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    await Promise.race([this.flush(true), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.closed = true;
    closeSync(this.logFd);
  }

  private async drain(force = false): Promise<void> {
    while (this.buffer.length) this.seal(this.buffer.splice(0, this.maxBatch));
    if (!force && Date.now() < this.retryAt) return;
    while (this.spooled.length) {
      const file = this.spooled[0];
      const full = path.join(this.options.spoolDir, file);
      const bytes = readFileSync(full);
      try {
        await this.options.bus.publishEnvelope(bytes);
      } catch (e) {
        this.logger.warn(`receipt publisher: ${this.spooled.length} batch(es) spooled, NATS refused (${(e as Error).message}); retrying in ${this.backoff} ms`);
        clearTimeout(this.retryTimer);
        this.retryAt = Date.now() + this.backoff;
        this.retryTimer = setTimeout(() => void this.flush(true), this.backoff);
        this.retryTimer.unref();
        this.backoff = Math.min(this.backoff * 2, MAX_RETRY_MS);
        return;
      }
      const count = receiptCount(file);
      unlinkSync(full);
      this.spooled.shift();
      this.spooledReceipts -= count;
      this.published += count;
      this.backoff = this.retryMs;
      this.retryAt = 0;
    }
  }

  /** Writes a signed batch to the spool (atomically) and clears the log of its receipts. */
  private seal(receipts: accessV1.UsageReceipt[]): void {
    const { bus, servingKey, hostKeyId, host, spoolDir } = this.options;
    const report = signReceiptBatch(servingKey, hostKeyId, host, receipts);
    const envelope = bus.newEnvelope('access.usage.reported', report);
    // Names sort in sealing order (uuid v7 ids are time-ordered) and carry the count for `pending`.
    const file = `${BATCH_PREFIX}${envelope.id}-${receipts.length}.bin`;
    const tmp = path.join(spoolDir, `${file}.tmp`);
    writeFileSync(tmp, encodeEnvelope(envelope));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path.join(spoolDir, file));
    this.spooled.push(file);
    this.spooledReceipts += receipts.length;
    if (!this.buffer.length) ftruncateSync(this.logFd, 0);
    else rewriteLog(this.logFd, this.buffer);
  }
}

function receiptCount(file: string): number {
  const m = /-(\d+)\.bin$/.exec(file);
  return m ? Number(m[1]) : 0;
}

/** Complete frames of the write-ahead log; a frame cut short by a crash was never acknowledged to anyone. */
function readLog(data: Buffer): accessV1.UsageReceipt[] {
  const out: accessV1.UsageReceipt[] = [];
  let at = 0;
  while (at + 4 <= data.length) {
    const len = data.readUInt32BE(at);
    if (at + 4 + len > data.length) break;
    try {
      out.push(fromBinary(accessV1.UsageReceiptSchema, data.subarray(at + 4, at + 4 + len)));
    } catch {
      break;
    }
    at += 4 + len;
  }
  return out;
}

function rewriteLog(fd: number, receipts: accessV1.UsageReceipt[]): void {
  ftruncateSync(fd, 0);
  for (const r of receipts) {
    const bytes = toBinary(accessV1.UsageReceiptSchema, r);
    const frame = Buffer.allocUnsafe(4 + bytes.length);
    frame.writeUInt32BE(bytes.length, 0);
    frame.set(bytes, 4);
    writeSync(fd, frame);
  }
}
