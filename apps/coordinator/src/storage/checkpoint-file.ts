import { createHash } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { type StrategySpec, parseStrategySpec } from '@fedlink/core';

/**
 * One checkpoint = one file: the global weights after a completed round plus the strategy's
 * server-optimizer state, so a resumed run continues exactly.
 *
 * Layout: `FLCKPT1\n`, a uint32 LE header length, a JSON header, then the body: every vector as
 * float32 little-endian, back to back, in the order the header lists them. The header carries
 * the sha256 of the body; the database keeps the same digest, so a file that was truncated,
 * edited or swapped for another run's is detected.
 */
const MAGIC = Buffer.from('FLCKPT1\n', 'ascii');

export interface CheckpointData {
  runId: string;
  round: number;
  weights: Float32Array;
  /** Strategy server state by namespaced name, e.g. `optimizer/m` (empty for stateless strategies). */
  serverState: Record<string, Float32Array>;
  /** The strategy that wrote the state (absent in checkpoints written before specs existed). */
  strategy?: StrategySpec;
}

/** The header as written; checked before any field is used, so a damaged file is a CheckpointError, not a crash. */
const HeaderSchema = z.object({
  runId: z.string().min(1).max(256),
  round: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  strategy: z.unknown().optional(),
  vectors: z.array(z.object({ name: z.string().max(512), length: z.number().int().min(0).max(2 ** 31) })).max(10_000),
});
type Header = z.infer<typeof HeaderSchema>;

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

export function encodeCheckpoint(data: CheckpointData): { bytes: Buffer; sha256: string } {
  const named: [string, Float32Array][] = [['weights', data.weights], ...Object.entries(data.serverState).map(([k, v]) => [`state:${k}`, v] as [string, Float32Array])];
  const body = Buffer.alloc(named.reduce((n, [, v]) => n + v.length * 4, 0));
  let off = 0;
  for (const [, v] of named) {
    // Copy through a Float32Array view so the byte order is the platform's (little-endian on
    // every platform Node runs on) without a per-element loop.
    Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(body, off);
    off += v.byteLength;
  }
  const sha256 = createHash('sha256').update(body).digest('hex');
  const header: Header = {
    runId: data.runId,
    round: data.round,
    sha256,
    ...(data.strategy ? { strategy: data.strategy } : {}),
    vectors: named.map(([name, v]) => ({ name, length: v.length })),
  };
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(h.length);
  return { bytes: Buffer.concat([MAGIC, len, h, body]), sha256 };
}

/** Parses and verifies a checkpoint; `expectedSha256` is the digest the database recorded. */
export function decodeCheckpoint(bytes: Buffer, expectedSha256?: string): CheckpointData {
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new CheckpointError('not a fedlink checkpoint');
  const hlen = bytes.readUInt32LE(MAGIC.length);
  const bodyStart = MAGIC.length + 4 + hlen;
  if (bodyStart > bytes.length) throw new CheckpointError('truncated header');
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.subarray(MAGIC.length + 4, bodyStart).toString('utf8'));
  } catch {
    throw new CheckpointError('unreadable header');
  }
  const parsed = HeaderSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CheckpointError(`malformed header: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  const header: Header = parsed.data;
  const body = bytes.subarray(bodyStart);
  const sha = createHash('sha256').update(body).digest('hex');
  if (sha !== header.sha256) throw new CheckpointError(`sha256 mismatch: body hashes to ${sha.slice(0, 12)}…, header says ${String(header.sha256).slice(0, 12)}…`);
  if (expectedSha256 !== undefined && sha !== expectedSha256) throw new CheckpointError(`sha256 ${sha.slice(0, 12)}… is not the recorded ${expectedSha256.slice(0, 12)}…`);
  const total = header.vectors.reduce((n, v) => n + v.length * 4, 0);
  if (total !== body.length) throw new CheckpointError(`body is ${body.length} bytes, header describes ${total}`);
  // Copy into an aligned buffer (the body's offset in the file is not a multiple of 4).
  const aligned = new Float32Array(body.length / 4);
  new Uint8Array(aligned.buffer).set(body);
  let off = 0;
  let weights: Float32Array | undefined;
  const state: [string, Float32Array][] = [];
  const names = new Set<string>();
  for (const v of header.vectors) {
    if (names.has(v.name)) throw new CheckpointError(`vector '${v.name.slice(0, 60)}' listed twice`);
    names.add(v.name);
    const vec = aligned.subarray(off, off + v.length);
    off += v.length;
    if (v.name === 'weights') weights = vec;
    else if (v.name.startsWith('state:')) state.push([v.name.slice(6), vec]);
  }
  // Own properties only (a name such as `__proto__` can't reach the prototype).
  const serverState: Record<string, Float32Array> = Object.fromEntries(state);
  if (!weights) throw new CheckpointError('no weights in checkpoint');
  let strategy: StrategySpec | undefined;
  if (header.strategy !== undefined) {
    try {
      strategy = parseStrategySpec(header.strategy);
    } catch (e) {
      throw new CheckpointError(`bad strategy in header: ${(e as Error).message}`);
    }
  }
  return { runId: header.runId, round: header.round, weights, serverState, ...(strategy ? { strategy } : {}) };
}

/** Writes to a temporary file, fsyncs it, then renames: a reader never sees half a checkpoint. */
export async function writeCheckpointFile(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  // Make the rename itself durable.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } catch {
    /* some filesystems refuse fsync on directories; the rename is still atomic */
  } finally {
    await dir.close();
  }
}

export async function readCheckpointFile(path: string, expectedSha256?: string): Promise<CheckpointData> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CheckpointError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return decodeCheckpoint(bytes, expectedSha256);
}

export async function removeFile(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}
