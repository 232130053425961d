import { assertSameLength } from './vector.js';

/**
 * Streaming weighted sum of vectors: memory O(model), not O(clients x model). Accumulates in
 * float64 so that the order clients arrive in does not change the result beyond float32 rounding
 * of the final mean. Sums are associative: partial sums from several nodes (edge aggregators,
 * coordinator shards) merge with `merge`.
 */
export class StreamingWeightedSum {
  private readonly sum: Float64Array;
  private weightTotal = 0;
  private n = 0;

  constructor(readonly length: number) {
    this.sum = new Float64Array(length);
  }

  add(vector: ArrayLike<number>, weight: number): void {
    assertSameLength(vector, this.sum);
    if (!(weight > 0) || !Number.isFinite(weight)) throw new RangeError(`weight must be a positive finite number, got ${weight}`);
    const s = this.sum;
    const n = s.length;
    let i = 0;
    // Four entries a turn: the same additions, each entry once, in less loop overhead.
    for (; i + 3 < n; i += 4) {
      s[i]! += weight * vector[i]!;
      s[i + 1]! += weight * vector[i + 1]!;
      s[i + 2]! += weight * vector[i + 2]!;
      s[i + 3]! += weight * vector[i + 3]!;
    }
    for (; i < n; i++) s[i]! += weight * vector[i]!;
    this.weightTotal += weight;
    this.n++;
  }

  /**
   * Adds a group that was summed elsewhere: `weightedSum = sum_i w_i v_i` over `count` vectors
   * with `sum_i w_i = totalWeight` (secure aggregation and edge aggregators deliver only this).
   */
  addWeightedSum(weightedSum: ArrayLike<number>, totalWeight: number, count: number): void {
    assertSameLength(weightedSum, this.sum);
    if (!(totalWeight > 0) || !Number.isFinite(totalWeight)) throw new RangeError(`total weight must be positive, got ${totalWeight}`);
    if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`count must be a positive integer, got ${count}`);
    for (let i = 0; i < this.sum.length; i++) this.sum[i]! += weightedSum[i]!;
    this.weightTotal += totalWeight;
    this.n += count;
  }

  merge(other: StreamingWeightedSum): void {
    assertSameLength(other.sum, this.sum);
    for (let i = 0; i < this.sum.length; i++) this.sum[i]! += other.sum[i]!;
    this.weightTotal += other.weightTotal;
    this.n += other.n;
  }

  get count(): number {
    return this.n;
  }

  get totalWeight(): number {
    return this.weightTotal;
  }

  /** The weighted sum itself (a copy). */
  total(): Float64Array {
    return this.sum.slice();
  }

  /** sum_i w_i v_i / sum_i w_i. Throws when nothing was added. */
  mean(): Float32Array {
    if (this.n === 0) throw new RangeError('mean of an empty weighted sum');
    const out = new Float32Array(this.sum.length);
    const inv = 1 / this.weightTotal;
    for (let i = 0; i < out.length; i++) out[i] = this.sum[i]! * inv;
    return out;
  }
}
