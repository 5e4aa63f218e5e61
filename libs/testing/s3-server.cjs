// The local S3 server for development, tests and benchmarks: s3rver, plus the two multipart
// operations MinIO has and s3rver lacks (ListMultipartUploads and AbortMultipartUpload), so code
// that cleans up unfinished uploads behaves here as it does against MinIO. Plain JS so that
// tools/s3rver.mjs can use it without a build.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const S3rver = require('s3rver');

const UPLOADS = '._S3rver_uploads';
const xml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Unfinished multipart uploads of a bucket: [{ key, uploadId, initiated }]. */
function incompleteUploads(directory, bucket) {
  const dir = path.join(directory, bucket, UPLOADS);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).flatMap((uploadId) => {
    const keyFile = path.join(dir, uploadId, 'key');
    if (!fs.existsSync(keyFile)) return [];
    return [{ key: fs.readFileSync(keyFile, 'utf8'), uploadId, initiated: fs.statSync(keyFile).mtime }];
  });
}

async function startS3Server({ port = 0, address = '127.0.0.1', directory, buckets = [] }) {
  const s3rver = new S3rver({ port: 0, address, silent: true, directory, configureBuckets: buckets.map((name) => ({ name })) });
  await s3rver.configureBuckets?.();
  const handle = s3rver.callback();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://local');
    const [, bucket, ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    if (req.method === 'GET' && bucket && !key && url.searchParams.has('uploads')) {
      const prefix = url.searchParams.get('prefix') ?? '';
      const uploads = incompleteUploads(directory, bucket).filter((u) => u.key.startsWith(prefix));
      res.writeHead(200, { 'content-type': 'application/xml' });
      return res.end(
        `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
          `<Bucket>${xml(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker>` +
          `<NextUploadIdMarker></NextUploadIdMarker><Prefix>${xml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
          uploads
            .map(
              (u) =>
                `<Upload><Key>${xml(u.key)}</Key><UploadId>${u.uploadId}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
            )
            .join('') +
          `</ListMultipartUploadsResult>`,
      );
    }
    if (req.method === 'DELETE' && bucket && key && url.searchParams.has('uploadId')) {
      const uploadId = url.searchParams.get('uploadId');
      const dir = path.join(directory, bucket, UPLOADS, path.basename(uploadId));
      const exists = fs.existsSync(dir);
      if (exists) fs.rmSync(dir, { recursive: true, force: true });
      req.resume();
      if (!exists) {
        res.writeHead(404, { 'content-type': 'application/xml' });
        return res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>`);
      }
      res.writeHead(204);
      return res.end();
    }
    return handle(req, res);
  });
  await new Promise((resolve, reject) => server.listen(port, address, resolve).on('error', reject));
  return {
    port: server.address().port,
    address,
    incompleteUploads: (bucket) => incompleteUploads(directory, bucket),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

module.exports = { startS3Server, incompleteUploads };
