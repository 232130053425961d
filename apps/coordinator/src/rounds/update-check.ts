import { firstNonFinite, l2Norm } from '@fedlink/core';
import { FedlinkError, type TensorEncoding, type TensorSpec, decodeTensors } from '@fedlink/protocol';
import type { RunContext } from '../federation/run-context.js';

/**
 * What an opened update is checked against: plain data, so a worker thread gets the same checks
 * as the event loop (update-intake.ts, intake-pool.ts).
 */
export interface UpdateCheckSpec {
  /** The manifest every sealed update is decoded against (RunContext.updateManifest). */
  manifest: readonly TensorSpec[];
  /** The run's wire encoding of deltas. */
  encoding: TensorEncoding;
  /** The model's parameter count: the first `modelParams` entries are delta y (SCAFFOLD adds delta c after them). */
  modelParams: number;
  /** L2 bound on delta y; 0: none. */
  maxUpdateNorm: number;
}

export function checkSpecOf(context: RunContext): UpdateCheckSpec {
  return {
    manifest: context.updateManifest.map(({ name, shape }) => ({ name, shape: [...shape] })),
    encoding: context.settings.encoding,
    modelParams: context.model.numParams,
    maxUpdateNorm: context.settings.maxUpdateNorm,
  };
}

const fail = (code: 'bad_request' | 'non_finite' | 'norm_exceeded', message: string): never => {
  throw new FedlinkError(code, message);
};

/**
 * Decodes an opened update against the run's manifest and checks its values; returns the flat
 * delta or throws a FedlinkError (`shape_mismatch` and `bad_request` from the codec, then
 * `bad_request` for the wrong encoding, `non_finite`, `norm_exceeded`). `plaintext` must be the
 * caller's own buffer: a float32 delta is a view of it (no copy); compressed encodings (sq8, topk)
 * decode to a fresh dense vector, their header and indices checked by the codec.
 */
export function checkPlaintext(plaintext: Uint8Array, spec: UpdateCheckSpec): Float32Array {
  // Under SCAFFOLD the update is [delta y, delta c] (the run's update manifest): a payload of
  // the model's manifest alone, or control tensors of other shapes, is a shape_mismatch.
  const decoded = decodeTensors(plaintext, spec.manifest, { shareMemory: true });
  if (decoded.encoding !== spec.encoding) fail('bad_request', `update is encoded as ${decoded.encoding}; this run's deltas are ${spec.encoding}`);
  const delta = decoded.flat;
  const bad = firstNonFinite(delta);
  if (bad >= 0) fail('non_finite', `${bad < spec.modelParams ? 'delta' : 'control variate delta'} has a non-finite value at element ${bad % spec.modelParams}`);
  if (spec.maxUpdateNorm > 0) {
    // The bound is on the model's delta (delta y); a SCAFFOLD update's delta c is not bounded by it.
    const norm = l2Norm(delta.subarray(0, spec.modelParams));
    if (norm > spec.maxUpdateNorm) fail('norm_exceeded', `delta L2 norm ${norm.toFixed(3)} exceeds the bound ${spec.maxUpdateNorm}`);
  }
  return delta;
}
