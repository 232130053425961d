/**
 * An intake worker thread (intake-pool.ts starts it): opens a sealed update (AES-GCM) from its
 * slot's input into the slot's output, decodes and checks it there with the same code as the
 * event loop (update-check.ts), and answers where the delta is. Nothing else runs here: no
 * aggregate, no round state, and no buffer per update.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openInto } from '@fedlink/crypto';
import { FedlinkError } from '@fedlink/protocol';
import { type UpdateCheckSpec, checkPlaintext } from './update-check.js';
import type { IntakeJob, IntakeReply, WorkerReady } from './intake-pool.js';

const spec = workerData as UpdateCheckSpec;
const port = parentPort!;

port.on('message', (job: IntakeJob) => {
  void handle(job).then((reply) => port.postMessage(reply));
});
const ready: WorkerReady = 'ready';
port.postMessage(ready);

async function handle(job: IntakeJob): Promise<IntakeReply> {
  try {
    const out = new Uint8Array(job.output);
    const length = await openInto({ nonce: job.nonce, ciphertext: new Uint8Array(job.input, 0, job.length) }, job.sharedKey, job.associatedData, out);
    const delta = checkPlaintext(out.subarray(0, length), spec);
    if (delta.buffer === job.output) return { id: job.id, ok: true, byteOffset: delta.byteOffset, length: delta.length };
    // Decoded to a fresh dense vector (sq8, topk): into the slot, over the plaintext it came from.
    new Float32Array(job.output, 0, delta.length).set(delta);
    return { id: job.id, ok: true, byteOffset: 0, length: delta.length };
  } catch (err) {
    const e = err instanceof FedlinkError ? err : new FedlinkError('internal', 'update could not be processed');
    return { id: job.id, ok: false, code: e.code, message: e.message };
  }
}
