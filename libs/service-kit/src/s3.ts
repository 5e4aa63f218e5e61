import { Client } from 'minio';

export interface S3Settings {
  S3_ENDPOINT: string;
  S3_PUBLIC_ENDPOINT?: string;
  S3_REGION: string;
  S3_ACCESS_KEY: string;
  S3_SECRET_KEY: string;
  S3_BUCKET: string;
}

/** The service's bucket: a client for its own traffic and one that signs URLs users can reach. */
export class ObjectStore {
  readonly client: Client;
  /** Signs presigned URLs with the endpoint users see (S3_PUBLIC_ENDPOINT), not the in-cluster one. */
  readonly signer: Client;
  readonly bucket: string;
  readonly partSize: number;

  constructor(settings: S3Settings, { partSize = 16 * 1024 * 1024 } = {}) {
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
  async putStream(key: string, body: AsyncIterable<Buffer>, { contentType = 'application/octet-stream', partSize = this.partSize } = {}): Promise<{ size: number; etag: string }> {
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
