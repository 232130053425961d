import * as tf from '@tensorflow/tfjs';
import type { TrainConfig, UpdateMetrics, Welcome } from '@fedlink/protocol';
import { type BatchProgress, type CsvTable, DatasetError, type ImageDataset, assertDataFits, assertVocabularyFits, encodeTable, evaluate, modelFromTopology, readFlatWeights, setFlatWeights, splitHoldout, trainLocal } from '@fedlink/ml';

export interface FitOutcome {
  /** local - global, in manifest order. */
  delta: Float32Array;
  numExamples: number;
  /** `loss` is left out only by an edge whose group reported none (secure aggregation below it). */
  metrics: UpdateMetrics;
  /** Local optimizer steps taken (K). SCAFFOLD needs it: a trainer that leaves it out can't take part in a SCAFFOLD run. */
  steps?: number;
  /**
   * An edge's trainer: the leaf clients behind `delta` (then their example-weighted mean) and
   * `numExamples` (their total). Absent: this client's own update.
   */
  contributors?: number;
}

export interface FitHooks {
  onBatch?: (p: BatchProgress) => void;
  shouldStop?: () => boolean;
  /**
   * SCAFFOLD: c - c_i (flat, manifest order), to add to every local gradient. A trainer that
   * can't must throw rather than ignore it.
   */
  correction?: Float32Array;
  /** The round being trained and its deadline (epoch ms), as round:start gave them. */
  round?: { round: number; attempt: number; deadline: number; share?: number };
}

/**
 * What a client does with the global model in a round. The default trains with TensorFlow.js;
 * other trainers (a fixed-delta trainer in tests, a custom framework) plug in here.
 */
export interface Trainer {
  readonly numExamples: number;
  prepare(welcome: Welcome): Promise<void>;
  fit(global: Float32Array, config: TrainConfig, hooks?: FitHooks): Promise<FitOutcome>;
  dispose(): void;
}

/**
 * tfjs models of one topology shared by many trainers in one process (the simulator's worker
 * hosts hundreds of clients): a trainer borrows a model for one fit and gives it back, so an idle
 * client holds no model (0.8 MB of weights for the 2NN, 6.7 MB for the CNN) and the pool holds as
 * many as fits run at once. A borrowed model's weights are all overwritten by the next fit.
 */
export class ModelPool {
  private readonly free: tf.LayersModel[] = [];
  private key: string | undefined;
  private built = 0;
  private probing: Promise<tf.LayersModel> | undefined;

  /** Models built so far (the most fits that ran at once, once warmed up). */
  get size(): number {
    return this.built;
  }

  /**
   * A model of this topology to inspect (layers, input shape), built once however many trainers
   * ask at the same time; it is one of the pool's models, so read it, don't train it.
   */
  probe(topology: Record<string, unknown>): Promise<tf.LayersModel> {
    this.ensureTopology(topology);
    return (this.probing ??= modelFromTopology(topology).then((m) => {
      this.built++;
      this.free.push(m);
      return m;
    }));
  }

  async acquire(topology: Record<string, unknown>): Promise<tf.LayersModel> {
    this.ensureTopology(topology);
    const model = this.free.pop();
    if (model) return model;
    this.built++;
    return modelFromTopology(topology);
  }

  release(model: tf.LayersModel): void {
    this.free.push(model);
  }

  dispose(): void {
    for (const m of this.free.splice(0)) m.dispose();
    this.built = 0;
    this.probing = undefined;
  }

  private ensureTopology(topology: Record<string, unknown>): void {
    const key = JSON.stringify(topology);
    if (this.key === key) return;
    // Another topology (a new run): the old models are of no use.
    this.dispose();
    this.key = key;
  }
}

/**
 * Local training with TensorFlow.js on the client's own data. With a `ModelPool` the model is
 * borrowed for each fit (many clients in one process); without one the trainer keeps its own.
 */
export class TfjsTrainer implements Trainer {
  private model: tf.LayersModel | undefined;
  private topology: Record<string, unknown> | undefined;
  private readonly pool: ModelPool | undefined;
  private readonly holdout: ImageDataset | undefined;

  /**
   * `pool`: borrow the model for each fit (many clients in one process). `holdout`: this client's
   * held-out examples; each round it evaluates the global model it received on them (federated evaluation).
   */
  constructor(
    private readonly data: ImageDataset,
    options: { pool?: ModelPool; holdout?: ImageDataset } = {},
  ) {
    this.pool = options.pool;
    this.holdout = options.holdout;
    if (this.holdout !== undefined && this.holdout.count === 0) throw new DatasetError("this client's held-out split is empty");
    if (data.count === 0) throw new DatasetError('no training examples: this client\'s data (or its shard) is empty');
  }

  get numExamples(): number {
    return this.data.count;
  }

  async prepare(welcome: Welcome): Promise<void> {
    this.model?.dispose();
    this.model = undefined;
    this.topology = welcome.model.topology;
    const model = this.pool ? await this.pool.probe(welcome.model.topology) : await modelFromTopology(welcome.model.topology);
    if (!this.pool) this.model = model;
    this.check(model, welcome);
  }

  /** Fail at join, not in every round. */
  private check(model: tf.LayersModel, welcome: Welcome): void {
    // Stock tfjs-backend-wasm has no conv filter gradient.
    const backend = tf.getBackend();
    const hasConv = model.layers.some((l) => l.getClassName() === 'Conv2D');
    if (hasConv && !tf.getKernel('Conv2DBackpropFilter', backend)) {
      throw new Error(
        `the ${backend} backend can't train ${welcome.model.name} (no Conv2DBackpropFilter kernel); use --backend auto or fedlink`,
      );
    }
    // A ModelError naming the mismatch: input shape, or labels beyond the model's classes.
    assertDataFits(model, this.data, "this client's data");
    // A text run: every token id of its vocabulary has a row in the model's embedding.
    if (welcome.text) assertVocabularyFits(model, welcome.text);
  }

  async fit(global: Float32Array, config: TrainConfig, hooks: FitHooks = {}): Promise<FitOutcome> {
    if (!this.topology) throw new Error('trainer used before prepare()');
    const model = this.pool ? await this.pool.acquire(this.topology) : this.model!;
    try {
      setFlatWeights(model, global);
      const ev = this.holdout ? await evaluate(model, this.holdout) : undefined;
      const r = await trainLocal(model, this.data, hooks.correction ? { ...config, correction: hooks.correction } : config, hooks);
      const local = await readFlatWeights(model);
      for (let i = 0; i < local.length; i++) local[i]! -= global[i]!;
      return {
        delta: local,
        numExamples: r.numExamples,
        steps: r.steps,
        metrics: {
          loss: r.loss,
          ...(r.accuracy !== undefined ? { accuracy: r.accuracy } : {}),
          trainSeconds: r.seconds,
          samplesPerSecond: r.samplesPerSecond,
          ...(ev ? { evalLoss: ev.loss, evalExamples: ev.count } : {}),
          ...(ev?.accuracy !== undefined ? { evalAccuracy: ev.accuracy } : {}),
          ...(ev?.mae !== undefined && ev.rmse !== undefined ? { evalMae: ev.mae, evalRmse: ev.rmse } : {}),
        },
      };
    } finally {
      if (this.pool) this.pool.release(model);
    }
  }

  dispose(): void {
    this.model?.dispose();
    this.model = undefined;
  }
}

export interface EncodeOnWelcomeOptions {
  /** Borrow the model for each fit (many clients in one process). */
  pool?: ModelPool;
  /** Federated evaluation: hold out this share of the examples (after encoding), drawn from `holdoutSeed`. */
  holdout?: number;
  holdoutSeed?: number;
}

/**
 * A client whose raw data can only be encoded with what the run's coordinator ships in the
 * welcome (the statistics of a tabular run, the vocabulary of a text run), never with anything
 * of its own: it holds the raw data until the welcome, checks what the welcome carries, encodes,
 * splits off the held-out share and trains like any TfjsTrainer. Subclasses say how to check,
 * encode and count.
 */
export abstract class EncodeOnWelcomeTrainer implements Trainer {
  private inner: TfjsTrainer | undefined;
  private encodedFor: string | undefined;

  constructor(
    private readonly encoding: EncodeOnWelcomeOptions,
    private readonly defaultHoldoutSeed: number,
  ) {}

  /** Examples before the welcome (an upper bound, as hello needs). */
  protected abstract countBeforeWelcome(): number;
  /**
   * Checks the welcome (a typed error when it lacks what this data needs) and returns a key naming
   * the encoding it asks for: the same key on a later welcome keeps the encoded data; undefined
   * encodes again every time.
   */
  protected abstract accept(welcome: Welcome): Promise<string | undefined>;
  protected abstract encode(welcome: Welcome): ImageDataset;

  /** Before the welcome: countBeforeWelcome; after: the examples it trains on. */
  get numExamples(): number {
    return this.inner?.numExamples ?? this.countBeforeWelcome();
  }

  async prepare(welcome: Welcome): Promise<void> {
    const key = await this.accept(welcome);
    if (!this.inner || key === undefined || key !== this.encodedFor) {
      this.inner?.dispose();
      this.inner = undefined;
      const data = this.encode(welcome);
      const { pool, holdout } = this.encoding;
      const lend = pool ? { pool } : {};
      if (holdout !== undefined && holdout > 0) {
        const split = splitHoldout(data, holdout, this.encoding.holdoutSeed ?? this.defaultHoldoutSeed);
        this.inner = new TfjsTrainer(split.train, { ...lend, holdout: split.holdout });
      } else this.inner = new TfjsTrainer(data, lend);
      this.encodedFor = key;
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
    this.encodedFor = undefined;
  }
}

/**
 * A client of a tabular run: its raw CSV rows encoded with the coordinator's statistics
 * (`welcome.data`). A run without statistics, or rows that don't fit them (a missing column, a
 * non-number, a label outside the classes), fail at join with a DatasetError.
 */
export class TabularTrainer extends EncodeOnWelcomeTrainer {
  /** `holdout`: the share of the rows held out for federated evaluation, drawn from `holdoutSeed` (default 1). */
  constructor(
    private readonly table: CsvTable,
    private readonly options: EncodeOnWelcomeOptions & { source?: string } = {},
  ) {
    super(options, 1);
    if (table.rows.length === 0) throw new DatasetError(`no training rows: this client's data (or its shard) is empty`);
  }

  protected countBeforeWelcome(): number {
    const rows = this.table.rows.length;
    return rows - (this.options.holdout ? Math.min(rows - 1, Math.max(1, Math.round(rows * this.options.holdout))) : 0);
  }

  protected async accept(welcome: Welcome): Promise<undefined> {
    if (!welcome.data) throw new DatasetError('this client holds CSV rows, but the coordinator sent no tabular statistics (is it serving csv data?)');
    return undefined;
  }

  protected encode(welcome: Welcome): ImageDataset {
    return encodeTable(this.table, welcome.data!, this.options.source ?? 'csv');
  }
}
