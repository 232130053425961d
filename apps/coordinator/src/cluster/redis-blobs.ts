import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Binary values (weights, partial sums) in Redis as chunks under keys with a TTL, never as one
 * pub/sub message: a multi-MB PUBLISH is copied into every subscriber's output buffer, and Redis
 * drops a subscriber past its limit. A blob is `<key>:meta` (chunks, bytes, sha256) plus
 * `<key>:0..n-1`; the reader checks the sha256, so a half-written or expired blob is an error.
 */
export const BLOB_CHUNK_BYTES = 512 * 1024;

export class BlobError extends Error {
  override readonly name = 'BlobError';
}

interface BlobMeta {
  chunks: number;
  bytes: number;
  sha256: string;
}

/** Writes the chunks, then the meta (in one MULTI): a reader that finds the meta finds every chunk. */
export async function putBlob(redis: Redis, key: string, bytes: Uint8Array, ttlMs: number, chunkBytes = BLOB_CHUNK_BYTES): Promise<void> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks = Math.max(1, Math.ceil(buf.length / chunkBytes));
  const meta: BlobMeta = { chunks, bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex') };
  const m = redis.multi();
  for (let i = 0; i < chunks; i++) m.set(`${key}:${i}`, buf.subarray(i * chunkBytes, (i + 1) * chunkBytes), 'PX', ttlMs);
  m.set(`${key}:meta`, JSON.stringify(meta), 'PX', ttlMs);
  const out = await m.exec();
  const failed = out?.find(([e]) => e);
  if (!out || failed) throw new BlobError(`could not write blob ${key}: ${failed?.[0]?.message ?? 'transaction aborted'}`);
}

/** Reads and verifies a blob; BlobError when it is missing, expired, incomplete or altered. */
export async function getBlob(redis: Redis, key: string): Promise<Buffer> {
  const raw = await redis.get(`${key}:meta`);
  if (raw === null) throw new BlobError(`blob ${key} is missing (expired or never written)`);
  let meta: BlobMeta;
  try {
    meta = JSON.parse(raw) as BlobMeta;
  } catch {
    throw new BlobError(`blob ${key} has an unreadable header`);
  }
  if (!Number.isInteger(meta.chunks) || meta.chunks < 1 || meta.chunks > 1 << 16) throw new BlobError(`blob ${key} has a bad chunk count`);
  const parts = await redis.mgetBuffer(...Array.from({ length: meta.chunks }, (_, i) => `${key}:${i}`));
  if (parts.some((p) => p === null)) throw new BlobError(`blob ${key} lost chunks (expired)`);
  const buf = Buffer.concat(parts as Buffer[]);
  if (buf.length !== meta.bytes) throw new BlobError(`blob ${key} is ${buf.length} bytes, its header says ${meta.bytes}`);
  const sha = createHash('sha256').update(buf).digest('hex');
  if (sha !== meta.sha256) throw new BlobError(`blob ${key} fails its sha256`);
  return buf;
}

/** Float arrays through blobs (little-endian, the platform's order on every platform Node runs on). */
export const floats = {
  f32(buf: Buffer): Float32Array {
    if (buf.length % 4 !== 0) throw new BlobError(`${buf.length} bytes is not a float32 vector`);
    const out = new Float32Array(buf.length / 4);
    new Uint8Array(out.buffer).set(buf);
    return out;
  },
  f64(buf: Buffer): Float64Array {
    if (buf.length % 8 !== 0) throw new BlobError(`${buf.length} bytes is not a float64 vector`);
    const out = new Float64Array(buf.length / 8);
    new Uint8Array(out.buffer).set(buf);
    return out;
  },
  bytes(v: Float32Array | Float64Array): Uint8Array {
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  },
};
