import { Client } from 'minio';

export interface S3Settings {
  S3_ENDPOINT: string;
  S3_PUBLIC_ENDPOINT?: string;
  S3_REGION: string;
  S3_ACCESS_KEY: string;
  S3_SECRET_KEY: string;
  S3_BUCKET: string;
  S3_PART_SIZE?: number;
}

/** The service's bucket: a client for its own traffic and one that signs URLs users can reach. */
export class ObjectStore {
  readonly client: Client;
  /** Signs presigned URLs with the endpoint users see (S3_PUBLIC_ENDPOINT), not the in-cluster one. */
  readonly signer: Client;
  readonly bucket: string;
  readonly partSize: number;

  constructor(settings: S3Settings, { partSize = settings.S3_PART_SIZE ?? 8 * 1024 * 1024 } = {}) {
    this.bucket = settings.S3_BUCKET;
    this.partSize = partSize;
    this.client = makeClient(settings.S3_ENDPOINT, settings, partSize);
    this.signer = settings.S3_PUBLIC_ENDPOINT ? makeClient(settings.S3_PUBLIC_ENDPOINT, settings, partSize) : this.client;
  }

  /** Creates the bucket when missing (local and test setups); production buckets come from infra. */
  async ensureBucket(region: string): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket, region);
      } catch (e) {
        if (!/BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(String((e as { code?: string }).code ?? e))) throw e;
      }
    }
  }

  /**
   * Streams `body` to `key` with bounded memory: one part is filled while the previous one
   * uploads. Anything smaller than a part goes in one PUT. When the body fails or S3 refuses a
   * part, the multipart upload is aborted, so a failed upload leaves no object and no parts behind.
   */
  async putStream(
    key: string,
    body: AsyncIterable<Buffer>,
    { contentType = 'application/octet-stream', expectedSize = 0 } = {},
  ): Promise<{ size: number; etag: string }> {
    // S3 allows 10,000 parts: a file larger than 10,000 configured parts gets larger parts.
    const partSize = Math.max(this.partSize, Math.ceil(expectedSize / 9_000));
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let size = 0;
    let uploadId: string | undefined;
    let inFlight: Promise<void> | undefined;
    const etags: { part: number; etag: string }[] = [];
    const headers = { 'Content-Type': contentType };

    const sendPart = async (part: Buffer) => {
      uploadId ??= await this.client.initiateNewMultipartUpload(this.bucket, key, headers);
      const partNumber = etags.length + 1;
      const slot = { part: partNumber, etag: '' };
      etags.push(slot);
      await inFlight;
      inFlight = this.client
        .uploadPart({ bucketName: this.bucket, objectName: key, uploadID: uploadId, partNumber, headers: { 'Content-Length': part.length } }, part)
        .then((r) => {
          slot.etag = r.etag;
        });
      // Keep the rejection observed; it is awaited again before the next part or completion.
      inFlight.catch(() => undefined);
    };

    try {
      for await (const chunk of body) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        size += chunk.length;
        if (pendingBytes >= partSize) {
          const all = Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
          let offset = 0;
          for (; all.length - offset >= partSize; offset += partSize) await sendPart(all.subarray(offset, offset + partSize));
          if (offset < all.length) {
            pending.push(all.subarray(offset));
            pendingBytes = all.length - offset;
          }
        }
      }
      if (uploadId === undefined) {
        const r = await this.client.putObject(this.bucket, key, Buffer.concat(pending, pendingBytes), pendingBytes, headers);
        return { size, etag: r.etag };
      }
      if (pendingBytes > 0) await sendPart(Buffer.concat(pending, pendingBytes));
      await inFlight;
      const done = await this.client.completeMultipartUpload(this.bucket, key, uploadId, etags);
      return { size, etag: done.etag };
    } catch (e) {
      if (uploadId !== undefined) {
        await inFlight?.catch(() => undefined);
        await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined);
      }
      throw e;
    }
  }

  /** Removes objects and any unfinished multipart uploads under these keys; missing ones are fine. */
  async removeAll(keys: string[]): Promise<void> {
    if (!keys.length) return;
    await this.client.removeObjects(this.bucket, keys);
    for (const key of keys) await this.client.removeIncompleteUpload(this.bucket, key).catch(() => undefined);
  }

  /** Objects under a prefix, with their age. */
  async *listObjects(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }> {
    for await (const o of this.client.listObjectsV2(this.bucket, prefix, true)) {
      if (o.name) yield { key: o.name, size: o.size, lastModified: o.lastModified };
    }
  }

  /** Multipart uploads started under a prefix and neither completed nor aborted. */
  async listUnfinishedUploads(prefix: string): Promise<{ key: string; uploadId: string; initiated: Date }[]> {
    const out: { key: string; uploadId: string; initiated: Date }[] = [];
    let keyMarker = '';
    let uploadIdMarker = '';
    for (;;) {
      const page = await this.client.listIncompleteUploadsQuery(this.bucket, prefix, keyMarker, uploadIdMarker, '');
      for (const u of page.uploads) out.push({ key: u.key, uploadId: u.uploadId, initiated: u.initiated });
      const last = page.uploads.at(-1);
      // Some servers omit the next markers; continue from the last upload seen, and stop if that makes no progress.
      const nextKey = page.nextKeyMarker || last?.key || '';
      const nextId = page.nextUploadIdMarker || last?.uploadId || '';
      if (!page.isTruncated || (nextKey === keyMarker && nextId === uploadIdMarker)) return out;
      keyMarker = nextKey;
      uploadIdMarker = nextId;
    }
  }

  abortUpload(key: string, uploadId: string): Promise<void> {
    return this.client.abortMultipartUpload(this.bucket, key, uploadId);
  }

  async ping(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) throw new Error(`bucket ${this.bucket} does not exist`);
  }
}

function makeClient(endpoint: string, s: S3Settings, partSize: number): Client {
  const url = new URL(endpoint);
  const useSSL = url.protocol === 'https:';
  return new Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: s.S3_ACCESS_KEY,
    secretKey: s.S3_SECRET_KEY,
    region: s.S3_REGION,
    pathStyle: true,
    // Smaller parts bound the memory a streamed upload holds (one part is buffered at a time).
    partSize,
  });
}
