import { createRng, gather, residualAfterSparse, stochasticQuantize8, topKIndices, withResidual } from '@fedlink/core';
import {
  DEFAULT_TOPK_FRACTION,
  type Quantized8Tensor,
  type SparseTensor,
  type TensorEncoding,
  type TensorSpec,
  encodeQuantized8,
  encodeSparse,
  encodeTensors,
  numElements,
  topkKept,
} from '@fedlink/protocol';

/** An encoded update and what to remember once it has been accepted. */
export interface EncodedUpdate {
  bytes: Uint8Array;
  /** Call when the coordinator accepted the update: keeps what it left out (topk's residual). */
  commit(): void;
}

export interface EncodeOptions {
  encoding: TensorEncoding;
  /** topk: share of each tensor's entries sent (default DEFAULT_TOPK_FRACTION). */
  topkFraction?: number;
  /** sq8: seed of the stochastic rounding (the round's training seed makes a simulation reproducible). */
  seed: number;
}

/**
 * Encodes a client's deltas for the wire, one per client. sq8 rounds stochastically (unbiased);
 * topk sends each tensor's largest entries and keeps the rest as an error-feedback residual that
 * is added to the next delta (Stich et al. 2018), so what one round leaves out is sent later.
 * The residual only moves forward when an update was accepted (`commit`).
 */
export class UpdateEncoder {
  private residual: Float32Array | undefined;

  /** What topk has left out so far (a copy), or undefined before the first committed topk update. */
  get pendingResidual(): Float32Array | undefined {
    return this.residual ? new Float32Array(this.residual) : undefined;
  }

  encode(manifest: readonly TensorSpec[], flat: Float32Array, options: EncodeOptions): EncodedUpdate {
    const { encoding } = options;
    if (encoding === 'sq8') return { bytes: encodeQuantized8(manifest, quantize(manifest, flat, options.seed)), commit: () => {} };
    if (encoding !== 'topk') return { bytes: encodeTensors(manifest, flat, encoding), commit: () => {} };
    // A residual of another length belongs to another model (a new run): start afresh.
    const carried = this.residual?.length === flat.length ? this.residual : undefined;
    const corrected = withResidual(flat, carried);
    const fraction = options.topkFraction ?? DEFAULT_TOPK_FRACTION;
    const tensors: SparseTensor[] = [];
    const sentAll: number[] = [];
    let off = 0;
    for (const t of manifest) {
      const n = numElements(t.shape);
      const part = corrected.subarray(off, off + n);
      const indices = topKIndices(part, topkKept(n, fraction));
      tensors.push({ indices, values: gather(part, indices) });
      for (let j = 0; j < indices.length; j++) sentAll.push(off + indices[j]!);
      off += n;
    }
    const bytes = encodeSparse(manifest, tensors);
    return {
      bytes,
      commit: () => {
        this.residual = residualAfterSparse(corrected, Uint32Array.from(sentAll));
      },
    };
  }
}

function quantize(manifest: readonly TensorSpec[], flat: Float32Array, seed: number): Quantized8Tensor[] {
  const rng = createRng(seed ^ 0x51a8c0de);
  const random = (): number => rng.next();
  let off = 0;
  return manifest.map((t) => {
    const n = numElements(t.shape);
    const levels = new Uint8Array(n);
    const range = stochasticQuantize8(flat.subarray(off, off + n), random, levels);
    off += n;
    return { ...range, levels };
  });
}
