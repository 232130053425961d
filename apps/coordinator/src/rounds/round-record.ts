import type { EvalResult } from '@fedlink/ml';
import type { RoundKey } from '@fedlink/protocol';
import type { RoundRecord } from '../state/run-history.js';
import type { OpenRound } from './open-round.js';

/** The figures of an attempt that every record carries, completed or abandoned. */
export type RecordBase = Omit<RoundRecord, 'status' | 'reason' | 'trainLoss' | 'trainAccuracy' | 'testLoss' | 'testAccuracy' | 'testMae' | 'testRmse' | 'testClassCounts' | 'federatedEval'>;

/** Builds the one record of each attempt; the record type is the protocol's (`DashboardRound`). */
export const RoundRecords = {
  /** What an attempt collected, measured when it stopped collecting. */
  base(open: OpenRound, endedAt: number): RecordBase {
    return {
      round: open.key.round,
      attempt: open.key.attempt,
      startedAt: open.startedAt,
      endedAt,
      seconds: (endedAt - open.startedAt) / 1000,
      selected: open.selectedLeaves,
      target: open.target,
      reported: open.count,
      dropped: open.dropped.size,
      rejected: open.rejected,
      totalExamples: open.totalExamples,
      bytesIn: open.bytesIn,
      bytesOut: open.bytesOut,
    };
  },

  /** An attempt that never started collecting (too few clients connected in time). */
  notStarted(key: RoundKey, startedAt: number, endedAt: number, reason: string): RoundRecord {
    return {
      round: key.round,
      attempt: key.attempt,
      status: 'abandoned',
      reason,
      startedAt,
      endedAt,
      seconds: (endedAt - startedAt) / 1000,
      selected: 0,
      target: 0,
      reported: 0,
      dropped: 0,
      rejected: 0,
      totalExamples: 0,
      bytesIn: 0,
      bytesOut: 0,
    };
  },

  abandoned(base: RecordBase, reason: string): RoundRecord {
    return { ...base, status: 'abandoned', reason };
  },

  /**
   * A completed attempt with the clients' example-weighted training metrics (the loss over the
   * updates that carried one). In secure mode
   * clients report no individual metrics, so there is no train loss.
   */
  completed(base: RecordBase, open: OpenRound): RoundRecord {
    return {
      ...base,
      status: 'completed',
      ...(open.lossWeight > 0 ? { trainLoss: open.lossSum / open.lossWeight } : {}),
      ...(open.accWeight > 0 ? { trainAccuracy: open.accSum / open.accWeight } : {}),
      ...(open.evaluation.examples > 0
        ? {
            federatedEval: {
              loss: open.evaluation.lossSum / open.evaluation.examples,
              accuracy: open.evaluation.accSum / open.evaluation.examples,
              examples: open.evaluation.examples,
              clients: open.evaluation.clients,
              ...(open.evaluation.errorExamples > 0
                ? { mae: open.evaluation.maeSum / open.evaluation.errorExamples, rmse: Math.sqrt(open.evaluation.mseSum / open.evaluation.errorExamples) }
                : {}),
            },
          }
        : {}),
    };
  },

  /** The evaluation of the new global model, and the time it took, added to a completed record. */
  evaluated(record: RoundRecord, ev: EvalResult | undefined, endedAt: number): RoundRecord {
    const r: RoundRecord = {
      ...record,
      ...(ev ? { testLoss: ev.loss } : {}),
      ...(ev?.accuracy !== undefined ? { testAccuracy: ev.accuracy } : {}),
      ...(ev?.mae !== undefined ? { testMae: ev.mae } : {}),
      ...(ev?.rmse !== undefined ? { testRmse: ev.rmse } : {}),
      ...(ev?.classCounts ? { testClassCounts: ev.classCounts } : {}),
      endedAt,
    };
    r.seconds = (endedAt - r.startedAt) / 1000;
    return r;
  },
};

/** The metrics of a record, by name (what round:end and run:end carry; with DP, the run's epsilon and delta after the round). */
export function metricsOf(r: RoundRecord): Record<string, number> {
  const m: Record<string, number> = {};
  if (r.trainLoss !== undefined) m.trainLoss = r.trainLoss;
  if (r.trainAccuracy !== undefined) m.trainAccuracy = r.trainAccuracy;
  if (r.testLoss !== undefined) m.testLoss = r.testLoss;
  if (r.testAccuracy !== undefined) m.testAccuracy = r.testAccuracy;
  if (r.testMae !== undefined) m.testMae = r.testMae;
  if (r.testRmse !== undefined) m.testRmse = r.testRmse;
  if (r.federatedEval) {
    m.clientEvalLoss = r.federatedEval.loss;
    m.clientEvalAccuracy = r.federatedEval.accuracy;
    if (r.federatedEval.mae !== undefined) m.clientEvalMae = r.federatedEval.mae;
    if (r.federatedEval.rmse !== undefined) m.clientEvalRmse = r.federatedEval.rmse;
  }
  if (r.privacy) {
    m.epsilon = r.privacy.epsilon;
    m.delta = r.privacy.delta;
  }
  return m;
}
