import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { SafetensorsError, SafetensorsParser, type SafetensorsTensor } from '@clopen/safetensors';
import { ArtefactRejected } from './artefact.errors';
import { classifyArtefact, isParsedJsonFile, isSafetensorsFile, type ArtefactKind } from './file-names';

export const DEFAULT_MAX_JSON_BYTES = 16 * 1024 * 1024;

const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface ArtefactInspectorOptions {
  /** File name inside the model folder (flat: no directories). */
  path: string;
  /** Size the client announced; more bytes fail at once, fewer fail at the end ('truncated'). */
  declaredSize?: number;
  /** Hex sha256 the client announced; checked at the end ('checksum_mismatch'). */
  declaredSha256?: string;
  /** Hard cap for this file; exceeding it fails at once ('file_too_large'). */
  maxBytes: number;
  /** Cap for JSON files the inspector buffers and parses. */
  maxJsonBytes?: number;
  /** Cap for a safetensors header (default 100 MiB). */
  maxSafetensorsHeaderBytes?: number;
}

export interface InspectedSafetensors {
  tensorCount: number;
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string> | null;
}

export interface InspectedArtefact {
  path: string;
  size: number;
  /** Lower-case hex. */
  sha256: string;
  kind: ArtefactKind;
  safetensors?: InspectedSafetensors;
  /** The parsed content, for the JSON files the inspector parses (config.json, the shard index…). */
  json?: unknown;
}

/**
 * A pass-through stream that validates one uploaded model file while it flows to storage.
 * Bytes come out unchanged; nothing but a safetensors header or a small JSON file is buffered.
 * Any problem ends the stream with an ArtefactRejected error, so a pipeline into S3 aborts.
 *
 * The constructor throws ArtefactRejected for names or declarations that are wrong before any byte
 * is read (unsafe or unexpected name, malformed sha256, declared size over the cap).
 */
export class ArtefactInspector extends Transform {
  readonly path: string;
  readonly kind: ArtefactKind;

  private readonly declaredSize?: number;
  private readonly declaredSha256?: string;
  private readonly maxBytes: number;
  private readonly maxJsonBytes: number;
  private readonly hash: Hash = createHash('sha256');
  private readonly safetensors?: SafetensorsParser;
  private jsonChunks?: Buffer[];
  private size = 0;
  private inspected?: InspectedArtefact;

  constructor(options: ArtefactInspectorOptions) {
    super();
    this.path = options.path;
    this.kind = classifyArtefact(options.path);
    this.maxBytes = options.maxBytes;
    this.maxJsonBytes = options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES;

    if (options.declaredSize !== undefined) {
      if (!Number.isSafeInteger(options.declaredSize) || options.declaredSize < 0) {
        throw this.reject(
          'invalid_declaration',
          `artefact ${this.path} declares size ${options.declaredSize}; declare the file size as a whole number of bytes`,
        );
      }
      if (options.declaredSize > this.maxBytes) throw this.tooLarge(options.declaredSize, 'declares');
      this.declaredSize = options.declaredSize;
    }
    if (options.declaredSha256 !== undefined) {
      const sha256 = options.declaredSha256.toLowerCase();
      if (!SHA256_HEX.test(sha256)) {
        throw this.reject(
          'invalid_declaration',
          `artefact ${this.path} declares sha256 ${JSON.stringify(options.declaredSha256)}; ` + 'declare the sha256 as 64 hexadecimal characters',
        );
      }
      this.declaredSha256 = sha256;
    }
    if (isSafetensorsFile(this.path)) {
      this.safetensors = new SafetensorsParser({
        path: this.path,
        declaredSize: this.declaredSize,
        maxHeaderBytes: options.maxSafetensorsHeaderBytes,
      });
    }
    if (isParsedJsonFile(this.path)) this.jsonChunks = [];
  }

  /** What the file turned out to be; available once the stream has finished without error. */
  get result(): InspectedArtefact {
    if (!this.inspected) throw new Error(`artefact ${this.path} has not finished inspection`);
    return this.inspected;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.size += chunk.length;
      if (this.size > this.maxBytes) throw this.tooLarge(this.size, 'sent at least');
      if (this.declaredSize !== undefined && this.size > this.declaredSize) {
        throw this.reject(
          'size_mismatch',
          `artefact ${this.path} is larger than its declared size: got at least ${this.size} bytes, ` +
            `declared ${this.declaredSize}; fix the declared size or re-upload the file`,
        );
      }
      // An ONNX ModelProto opens with field 1 (ir_version, a varint): tag byte 0x08.
      if (this.kind === 'serving_graph' && this.size === chunk.length && chunk.length > 0 && chunk[0] !== 0x08) {
        throw this.reject(
          'corrupt_onnx',
          `artefact ${this.path} is not an ONNX model (it does not start with an ir_version field); export it again or leave it out`,
        );
      }
      this.hash.update(chunk);
      this.safetensors?.write(chunk);
      if (this.jsonChunks) {
        if (this.size > this.maxJsonBytes) {
          throw this.reject(
            'file_too_large',
            `artefact ${this.path} is larger than the ${this.maxJsonBytes}-byte limit for JSON files; ` + 'remove unused entries or upload a smaller file',
          );
        }
        this.jsonChunks.push(chunk);
      }
    } catch (error) {
      callback(this.rejectionFrom(error));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.inspected = this.finishInspection();
    } catch (error) {
      callback(this.rejectionFrom(error));
      return;
    }
    callback();
  }

  private finishInspection(): InspectedArtefact {
    if (this.declaredSize !== undefined && this.size < this.declaredSize) {
      throw this.reject(
        'truncated',
        `artefact ${this.path} is truncated: got ${this.size} bytes, declared ${this.declaredSize}; ` + 're-upload the complete file',
      );
    }
    const sha256 = this.hash.digest('hex');
    if (this.declaredSha256 !== undefined && sha256 !== this.declaredSha256) {
      throw this.reject(
        'checksum_mismatch',
        `artefact checksum mismatch for ${this.path}: expected ${this.declaredSha256} got ${sha256}; ` + 're-upload the file or fix the declared sha256',
      );
    }
    const result: InspectedArtefact = { path: this.path, size: this.size, sha256, kind: this.kind };
    if (this.safetensors) {
      const { tensorCount, tensors, metadata } = this.safetensors.end();
      result.safetensors = { tensorCount, tensors, metadata };
    }
    if (this.jsonChunks) {
      result.json = this.parseJson(Buffer.concat(this.jsonChunks, this.size));
      this.jsonChunks = undefined;
    }
    return result;
  }

  /** The safetensors parser's verdict, phrased as this upload's rejection; other errors pass unchanged. */
  private rejectionFrom(error: unknown): Error {
    if (!(error instanceof SafetensorsError)) return error as Error;
    return error.code === 'truncated'
      ? this.reject('truncated', `artefact ${this.path} is truncated: ${error.reason}; re-upload the complete file`)
      : this.reject(
          'corrupt_safetensors',
          `artefact ${this.path} is not a valid safetensors file: ${error.reason}; ` + 're-export it with the safetensors library and re-upload',
        );
  }

  private parseJson(bytes: Buffer): unknown {
    try {
      // fatal: invalid UTF-8 is an error rather than silently replaced; a leading BOM is dropped.
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (error) {
      const why = error instanceof SyntaxError ? error.message : 'it is not valid UTF-8';
      throw this.reject('invalid_json', `artefact ${this.path} is not valid JSON: ${why}; fix the file and re-upload it`);
    }
  }

  private tooLarge(size: number, verb: string): ArtefactRejected {
    return this.reject(
      'file_too_large',
      `artefact ${this.path} is too large: ${verb} ${size} bytes, the limit is ${this.maxBytes}; ` +
        (this.safetensors ? 'split the weights into shards (model-00001-of-0000N.safetensors) and re-upload' : 'upload a smaller file'),
    );
  }

  private reject(code: ArtefactRejected['code'], message: string): ArtefactRejected {
    return new ArtefactRejected(code, message, this.path);
  }
}
