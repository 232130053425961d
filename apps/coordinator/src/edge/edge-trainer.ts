import type { FitHooks, FitOutcome, Trainer } from '@fedlink/client';
import type { EdgeSummary, RoundKey, TrainConfig, Welcome } from '@fedlink/protocol';
import type { RoundEngine } from '../rounds/round-engine.js';
import type { RoundRecord } from '../state/run-history.js';

/** What the edge's parent link needs of its downstream coordinator. */
export interface Downstream {
  engine: Pick<RoundEngine, 'runDelegated'>;
  /** Its group as it stands: leaf clients, their examples, its own edges (what the edge tells its parent). */
  summary(): EdgeSummary;
}

export interface EdgeTrainerOptions {
  /** Starts this edge's own coordinator for the parent's run (once), or throws why it can't serve it. */
  start(welcome: Welcome): Promise<Downstream>;
  /** Time kept back from the parent's deadline to seal and send the group's update (default: 10% of what is left, at least 1 s). */
  reserveMs?: (remainingMs: number) => number;
  /** Each local round's outcome (CLI lines, tests), with the local round's record when one ran. */
  onRound?: (round: number, outcome: FitOutcome | { error: string }, local?: RoundRecord) => void;
  /** A leaf's training seed in the parent's round `parent` (simulate: the flat run's); undefined keeps the local draw's. */
  leafSeed?: (parent: RoundKey, clientId: string) => number | undefined;
}

/** Default share of a parent's remaining round time the edge keeps for its own report. */
export function defaultReserveMs(remainingMs: number): number {
  return Math.max(1000, Math.floor(remainingMs / 10));
}

/**
 * The edge's side of its parent's rounds, behind the client's Trainer seam: "training" on the
 * parent's weights is one local round with this edge's clients (RoundEngine.runDelegated), with a
 * deadline inside the parent's. The outcome is the group's example-weighted mean delta, its
 * example total and its contributor count: the parent adds total * mean as a group, so the tree's
 * FedAvg is the flat one. A local round that can't complete (too few clients, a failed secure
 * round) throws, and the client withdraws from the parent's round with that reason.
 */
export class EdgeTrainer implements Trainer {
  private downstream: Downstream | undefined;
  /** The last local round key: a parent that restarted asks for a round again with the same attempt. */
  private last: RoundKey | undefined;

  constructor(private readonly options: EdgeTrainerOptions) {}

  /** The group's examples (what a hello declares; at least 1, as a hello's must be: before the first welcome there is no group yet). */
  get numExamples(): number {
    return Math.max(1, this.summary().examples);
  }

  /** The group behind this edge; empty before its coordinator started (the parent's first welcome). */
  summary(): EdgeSummary {
    return this.downstream?.summary() ?? { clients: 0, examples: 0 };
  }

  async prepare(welcome: Welcome): Promise<void> {
    this.downstream = await this.options.start(welcome);
  }

  async fit(global: Float32Array, config: TrainConfig, hooks: FitHooks = {}): Promise<FitOutcome> {
    const downstream = this.downstream;
    if (!downstream) throw new Error('edge trainer used before prepare()');
    const round = hooks.round;
    if (!round) throw new Error('an edge needs the round and deadline of its parent\'s round:start');
    const remaining = round.deadline - Date.now();
    const reserve = (this.options.reserveMs ?? defaultReserveMs)(remaining);
    if (remaining <= reserve) {
      const error = `the parent's deadline leaves ${Math.max(0, remaining)} ms, less than the ${reserve} ms kept to report`;
      this.options.onRound?.(round.round, { error });
      throw new Error(error);
    }
    const leafSeed = this.options.leafSeed;
    const parentKey: RoundKey = { round: round.round, attempt: round.attempt };
    const outcome = await downstream.engine.runDelegated({
      key: this.localKey(round),
      weights: global,
      config,
      deadline: round.deadline - reserve,
      ...(round.share !== undefined ? { share: round.share } : {}),
      ...(leafSeed ? { leafSeed: (id: string) => leafSeed(parentKey, id) } : {}),
    });
    if (!outcome.ok) {
      const error = `edge round ${round.round} abandoned: ${outcome.reason}`;
      this.options.onRound?.(round.round, { error }, outcome.record);
      throw new Error(error);
    }
    const { result, record } = outcome;
    const fit: FitOutcome = {
      delta: result.meanDelta,
      numExamples: result.totalExamples,
      contributors: result.count,
      // The group's example-weighted train loss; absent when its clients sent none (secure aggregation: no individual loss is seen).
      metrics: { ...(record.trainLoss !== undefined ? { loss: record.trainLoss } : {}), ...(record.trainAccuracy !== undefined ? { accuracy: record.trainAccuracy } : {}), trainSeconds: record.seconds },
    };
    this.options.onRound?.(round.round, fit, record);
    return fit;
  }

  /**
   * The parent's round key, with the attempt raised past the last local one of the same round: this
   * edge's clients train each key once, so a round the parent runs again (it restarted from its
   * checkpoint and numbers attempts from 1 again) must reach them as a new attempt.
   */
  private localKey(round: RoundKey): RoundKey {
    const attempt = this.last?.round === round.round ? Math.max(round.attempt, this.last.attempt + 1) : round.attempt;
    return (this.last = { round: round.round, attempt });
  }

  dispose(): void {}
}
