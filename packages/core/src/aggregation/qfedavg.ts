import { type AggregateResult, type AggregationRound, type Aggregator, AggregationError, RoundGuard, checkContribution } from './aggregator.js';

/**
 * q-FedAvg (Li, Sanjabi, Beirami and Smith 2020, "Fair Resource Allocation in Federated
 * Learning"), as Flower's QFedAvg computes it, on deltas d_k = w_k - w. With L = 1 / lr (lr the
 * clients' learning rate: the Lipschitz estimate) and F_k the client's reported training loss:
 *   g_k = L (w - w_k) = -L d_k;  Delta_k = (F_k + 1e-10)^q g_k;
 *   h_k = q (F_k + 1e-10)^(q-1) ||g_k||^2 + L (F_k + 1e-10)^q;
 *   w' = w - sum_k Delta_k / sum_k h_k,  so the aggregated delta is sum_k Delta_k / sum_k h_k negated.
 * Clients with a higher loss weigh more (q = 0 is plain, unweighted-by-examples, FedAvg with a
 * step set by h). Streams in float64 (memory O(model)), but needs each update's loss and norm,
 * hence needsIndividualUpdates. Example counts are not used (as in the paper and Flower).
 */
export class QFedAvgAggregator implements Aggregator {
  readonly kind = 'qfedavg';
  readonly needsIndividualUpdates = true;

  constructor(
    readonly q: number,
    readonly lr: number,
  ) {
    if (!(q >= 0 && Number.isFinite(q))) throw new RangeError(`qfedavg q must be a finite number >= 0, got ${q}`);
    if (!(lr > 0 && Number.isFinite(lr))) throw new RangeError(`qfedavg lr (the clients' learning rate) must be a positive finite number, got ${lr}`);
  }

  begin(length: number): AggregationRound {
    const { q, lr } = this;
    const L = 1 / lr;
    const sum = new Float64Array(length);
    let sumH = 0;
    let count = 0;
    let total = 0;
    const guard = new RoundGuard();
    return {
      add: (delta, numExamples, info) => {
        guard.assertOpen();
        checkContribution(delta, numExamples, length);
        const loss = info?.loss;
        if (loss === undefined || !(loss >= 0 && Number.isFinite(loss))) throw new RangeError(`qfedavg needs each update's training loss (a finite number >= 0), got ${loss}`);
        let sq = 0;
        for (let j = 0; j < length; j++) sq += delta[j]! * delta[j]!;
        const fq = Math.pow(loss + 1e-10, q);
        // sum of -Delta_k = F^q L d_k (the delta's sign: w' = w + sum / sumH)
        for (let j = 0; j < length; j++) sum[j]! += fq * L * delta[j]!;
        sumH += q * Math.pow(loss + 1e-10, q - 1) * L * L * sq + L * fq;
        count++;
        total += numExamples;
      },
      addWeightedSum: () => {
        guard.assertOpen();
        throw new AggregationError('qfedavg needs individual updates: each client\'s loss and norm weigh its update');
      },
      get count() {
        return count;
      },
      get totalExamples() {
        return total;
      },
      finish: (): AggregateResult => {
        guard.assertOpen();
        if (count === 0) throw new AggregationError('nothing to aggregate: no update was added');
        guard.close();
        return { meanDelta: Float32Array.from(sum, (x) => x / sumH), count, totalExamples: total, metrics: {} };
      },
    };
  }
}
