/**
 * An intake worker thread (intake-pool.ts starts it): opens sealed updates (AES-GCM), decodes and
 * checks them with the same code as the event loop (update-check.ts), and hands the delta back
 * by transfer, not by copy. Nothing else runs here: no aggregate, no round state.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { open } from '@fedlink/crypto';
import { FedlinkError } from '@fedlink/protocol';
import { type UpdateCheckSpec, checkPlaintext } from './update-check.js';
import type { IntakeJob, IntakeReply } from './intake-pool.js';

const spec = workerData as UpdateCheckSpec;
const port = parentPort!;

port.on('message', (job: IntakeJob) => {
  void handle(job).then(({ reply, transfer }) => port.postMessage(reply, transfer));
});

async function handle(job: IntakeJob): Promise<{ reply: IntakeReply; transfer: ArrayBuffer[] }> {
  try {
    const plaintext = await open({ nonce: job.nonce, ciphertext: job.ciphertext }, job.sharedKey, job.associatedData);
    let delta = checkPlaintext(plaintext, spec);
    // A view of a buffer much larger than itself (a pooled slab) is copied: transferring would
    // take the whole slab, or detach memory this thread still uses.
    if (delta.buffer.byteLength > delta.byteLength + 4096) delta = delta.slice();
    return { reply: { id: job.id, ok: true, buffer: delta.buffer as ArrayBuffer, byteOffset: delta.byteOffset, length: delta.length }, transfer: [delta.buffer as ArrayBuffer] };
  } catch (err) {
    const e = err instanceof FedlinkError ? err : new FedlinkError('internal', 'update could not be processed');
    return { reply: { id: job.id, ok: false, code: e.code, message: e.message }, transfer: [] };
  }
}
