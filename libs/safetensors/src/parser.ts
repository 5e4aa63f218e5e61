import { DEFAULT_MAX_SAFETENSORS_HEADER_BYTES, LENGTH_PREFIX_BYTES, type Tensor } from './format';
import { corrupt, dataLengthOf, parseSafetensorsHeader, type SafetensorsHeader } from './header';
import { SafetensorsError } from './safetensors.errors';

export interface SafetensorsSummary extends SafetensorsHeader {
  headerLength: number;
  /** Bytes of tensor data, i.e. the largest data offset. */
  dataLength: number;
  /** 8 + headerLength + dataLength: the only valid file size. */
  fileSize: number;
}

export interface SafetensorsParserOptions {
  /** File name, used in error messages and carried by SafetensorsError. */
  path?: string;
  /** Size the sender declared for the file; lets a lying header be refused before its bytes arrive. */
  declaredSize?: number;
  maxHeaderBytes?: number;
}

/**
 * Incremental parser: feed it the file in chunks of any size, then call end(). It buffers the header
 * only; tensor data is counted, never kept. Throws SafetensorsError as soon as the bytes seen so far
 * prove the file invalid.
 */
export class SafetensorsParser {
  private readonly path?: string;
  private readonly declaredSize?: number;
  private readonly maxHeaderBytes: number;

  private phase: 'length' | 'header' | 'data' = 'length';
  private readonly lengthPrefix = Buffer.alloc(LENGTH_PREFIX_BYTES);
  private lengthPrefixFilled = 0;
  private headerLength = 0;
  /** Grows by doubling up to headerLength, so a huge declared header costs memory only as bytes arrive. */
  private headerBytes = Buffer.alloc(0);
  private headerFilled = 0;
  private header?: SafetensorsHeader;
  private dataLength = 0;
  private dataSeen = 0;
  private ended = false;

  constructor(options: SafetensorsParserOptions = {}) {
    this.path = options.path;
    this.declaredSize = options.declaredSize;
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_SAFETENSORS_HEADER_BYTES;
  }

  write(chunk: Uint8Array): void {
    if (this.ended) throw new Error('SafetensorsParser.write called after end()');
    let offset = 0;
    while (offset < chunk.length) {
      if (this.phase === 'length') {
        const take = Math.min(LENGTH_PREFIX_BYTES - this.lengthPrefixFilled, chunk.length - offset);
        this.lengthPrefix.set(chunk.subarray(offset, offset + take), this.lengthPrefixFilled);
        this.lengthPrefixFilled += take;
        offset += take;
        if (this.lengthPrefixFilled === LENGTH_PREFIX_BYTES) this.acceptHeaderLength();
      } else if (this.phase === 'header') {
        const take = Math.min(this.headerLength - this.headerFilled, chunk.length - offset);
        this.reserveHeader(this.headerFilled + take);
        // Copy: the caller may reuse its buffer, and we hold on to these bytes.
        this.headerBytes.set(chunk.subarray(offset, offset + take), this.headerFilled);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled === this.headerLength) this.acceptHeader();
      } else {
        const take = chunk.length - offset;
        this.dataSeen += take;
        offset += take;
        if (this.dataSeen > this.dataLength) {
          throw corrupt(this.path, `the file continues past the end of its last tensor (${this.fileSizeImplied()} bytes)`);
        }
      }
    }
  }

  /** Call once all bytes were written; returns what the file holds or throws SafetensorsError. */
  end(): SafetensorsSummary {
    this.ended = true;
    if (this.phase === 'length') {
      throw this.truncated(`it ended after ${this.lengthPrefixFilled} bytes, inside the 8-byte header length`);
    }
    if (this.phase === 'header') {
      throw this.truncated(`it ended ${this.headerLength - this.headerFilled} bytes short of the ${this.headerLength}-byte header`);
    }
    if (this.dataSeen < this.dataLength) {
      throw this.truncated(
        `its header describes ${this.fileSizeImplied()} bytes but only ` + `${LENGTH_PREFIX_BYTES + this.headerLength + this.dataSeen} arrived`,
      );
    }
    const header = this.header as SafetensorsHeader;
    return {
      ...header,
      headerLength: this.headerLength,
      dataLength: this.dataLength,
      fileSize: this.fileSizeImplied(),
    };
  }

  private fileSizeImplied(): number {
    return LENGTH_PREFIX_BYTES + this.headerLength + this.dataLength;
  }

  private acceptHeaderLength(): void {
    const length = this.lengthPrefix.readBigUInt64LE(0);
    if (length === 0n) throw corrupt(this.path, 'the header length is 0');
    if (length > BigInt(this.maxHeaderBytes)) {
      throw corrupt(this.path, `the header length ${length} exceeds the ${this.maxHeaderBytes}-byte limit`);
    }
    if (this.declaredSize !== undefined && length > BigInt(this.declaredSize - LENGTH_PREFIX_BYTES)) {
      throw corrupt(this.path, `the header length ${length} is larger than the declared file size ${this.declaredSize}`);
    }
    this.headerLength = Number(length);
    this.phase = 'header';
  }

  private reserveHeader(needed: number): void {
    if (needed <= this.headerBytes.length) return;
    const size = Math.min(this.headerLength, Math.max(needed, this.headerBytes.length * 2, 64 * 1024));
    const grown = Buffer.allocUnsafe(size);
    this.headerBytes.copy(grown, 0, 0, this.headerFilled);
    this.headerBytes = grown;
  }

  private acceptHeader(): void {
    const bytes = this.headerBytes.subarray(0, this.headerLength);
    this.headerBytes = Buffer.alloc(0);
    this.header = parseSafetensorsHeader(bytes, this.path);
    this.dataLength = dataLengthOf(this.header, this.path);
    this.phase = 'data';
    if (this.declaredSize !== undefined && this.fileSizeImplied() !== this.declaredSize) {
      throw corrupt(this.path, `its header describes ${this.fileSizeImplied()} bytes but the declared file size is ${this.declaredSize}`);
    }
  }

  private truncated(why: string): SafetensorsError {
    return new SafetensorsError('truncated', why, { path: this.path });
  }
}

/** Validates a whole file held in memory; for tests, fixtures and small files. */
export function parseSafetensors(bytes: Uint8Array, options: SafetensorsParserOptions = {}): SafetensorsSummary {
  const parser = new SafetensorsParser(options);
  parser.write(bytes);
  return parser.end();
}

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  /** Empty when the file has no "__metadata__", as the Python engine reads it. */
  metadata: Record<string, string>;
}

/** Reads a whole file held in memory; each tensor's data is a view into `bytes`, not a copy. */
export function readSafetensors(bytes: Buffer, options: Omit<SafetensorsParserOptions, 'declaredSize'> = {}): SafetensorsFile {
  const summary = parseSafetensors(bytes, options);
  const data = bytes.subarray(LENGTH_PREFIX_BYTES + summary.headerLength);
  const tensors = Object.entries(summary.tensors).map(
    ([
      name,
      {
        dtype,
        shape,
        dataOffsets: [begin, end],
      },
    ]) => [name, { dtype, shape, data: data.subarray(begin, end) }],
  );
  // Object.fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(tensors), metadata: summary.metadata ?? {} };
}
