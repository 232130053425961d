import { FedlinkError, type TrainConfig, type Welcome } from '@fedlink/protocol';
import { DatasetError, type TextExamples, encodeText, exampleCount, splitHoldout, verifyTextSpec } from '@fedlink/ml';
import { type FitHooks, type FitOutcome, type ModelPool, type Trainer, TfjsTrainer } from './trainer.js';

export interface TextTrainerOptions {
  /** Borrow the model for each fit (many clients in one process). */
  pool?: ModelPool;
  /** Federated evaluation: hold out this share of the examples (after encoding), drawn from `holdoutSeed`. */
  holdout?: number;
  holdoutSeed?: number;
  /** Refuse a run whose vocabulary doesn't have this hash (serve prints it): a vocab_mismatch. */
  vocabHash?: string;
}

/**
 * A client's text, encoded with the vocabulary of the run it joins: the coordinator ships it in
 * the welcome (`welcome.text`), this trainer checks its hash (and the pinned one), encodes the raw
 * examples with it (unknown tokens -> <unk>, classes by name) and trains them with TfjsTrainer.
 * A run without a vocabulary, or one that doesn't hash right, is a `vocab_mismatch`.
 */
export class TextTrainer implements Trainer {
  private inner: TfjsTrainer | undefined;
  private specHash: string | undefined;

  constructor(
    private readonly examples: TextExamples,
    private readonly options: TextTrainerOptions = {},
  ) {
    if (exampleCount(examples) === 0) throw new DatasetError("no training examples: this client's text (or its share) holds no sequence");
    if (options.holdout !== undefined && exampleCount(examples) < 2) throw new DatasetError(`${exampleCount(examples)} example(s) can't be split into training and held-out parts`);
  }

  /** Before the welcome: every example (an upper bound, as hello needs); after: those it trains on. */
  get numExamples(): number {
    return this.inner?.numExamples ?? exampleCount(this.examples);
  }

  async prepare(welcome: Welcome): Promise<void> {
    const spec = welcome.text;
    if (!spec) throw new FedlinkError('vocab_mismatch', `this client has ${this.examples.task} text, but run ${welcome.runId} ships no vocabulary (its coordinator was not started on text data)`);
    try {
      await verifyTextSpec(spec, this.options.vocabHash);
    } catch (e) {
      throw new FedlinkError('vocab_mismatch', (e as Error).message);
    }
    if (this.specHash !== spec.hash || !this.inner) {
      this.inner?.dispose();
      const data = encodeText(this.examples, spec);
      const { pool } = this.options;
      if (this.options.holdout !== undefined && this.options.holdout > 0) {
        const { train, holdout } = splitHoldout(data, this.options.holdout, this.options.holdoutSeed ?? 0);
        this.inner = new TfjsTrainer(train, { holdout, ...(pool ? { pool } : {}) });
      } else this.inner = new TfjsTrainer(data, pool ? { pool } : {});
      this.specHash = spec.hash;
    }
    await this.inner.prepare(welcome);
  }

  fit(global: Float32Array, config: TrainConfig, hooks?: FitHooks): Promise<FitOutcome> {
    if (!this.inner) throw new Error('trainer used before prepare()');
    return this.inner.fit(global, config, hooks);
  }

  dispose(): void {
    this.inner?.dispose();
    this.inner = undefined;
    this.specHash = undefined;
  }
}
