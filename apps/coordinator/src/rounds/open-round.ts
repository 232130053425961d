import { FedlinkError, type RoundKey } from '@fedlink/protocol';

/** Why an open round stopped taking updates. */
export type CloseReason = 'target reached' | 'all selected clients answered or dropped' | 'deadline' | (string & {});

/** What an open round adds accepted contributions to (the strategy's round aggregate). */
export interface ContributionSink {
  /**
   * `info.loss`: the client's reported training loss (QFedAvg weighs by it). `delta` is lent for
   * the call: a sink that keeps it copies it (the intake pool reuses its memory afterwards).
   */
  add(delta: ArrayLike<number>, numExamples: number, info?: { loss?: number }): void;
  /** A group summed elsewhere (an edge's update): sum_i n_i d_i over `count` clients. Absent: groups are refused. */
  addWeightedSum?(weightedSum: ArrayLike<number>, totalExamples: number, count: number): void;
  /** Contributing clients (a group counts as its members). */
  readonly count: number;
  readonly totalExamples: number;
}

export interface OpenRoundOptions {
  key: RoundKey;
  selected: readonly string[];
  /** Leaf clients the selected stand for (delegated selection: the sum of the edges' shares); default: one each. */
  selectedLeaves?: number;
  /** Contributing leaf clients that close the round early (an edge's group counts as its members). */
  target: number;
  startedAt: number;
  /** Epoch ms; the round closes with reason 'deadline' then. */
  deadline: number;
  sink: ContributionSink;
  /**
   * Plain rounds close by themselves at the target, or once every selected client answered or
   * dropped. A secure round is closed by its driver (the SecAgg stages decide).
   */
  autoClose: boolean;
  /** Told of every report, drop and rejection (a secure driver re-checks its stage, views refresh). */
  onChange?: () => void;
}

/** One accepted update, as the intake hands it over. */
export interface Contribution {
  clientId: string;
  delta: ArrayLike<number>;
  numExamples: number;
  /** Absent only from an edge whose group reported none (secure aggregation below it). */
  loss?: number;
  accuracy?: number;
  /** The client's evaluation of the global model it received, on its held-out split. */
  evaluation?: { loss: number; accuracy?: number; examples: number; mae?: number; rmse?: number };
  bytes: number;
  /** An edge's update: `delta` is the mean over this many leaf clients with `numExamples` in all. Absent: one client. */
  contributors?: number;
}

/** Per-client outcome of an attempt, as the participation table records it. */
export type ClientOutcome = 'reported' | 'rejected' | 'dropped';

/**
 * One attempt at a round while it collects updates. It owns the round's state and its only
 * transitions: a client reports or drops, the round closes (once, with a reason), and draining
 * waits, without polling, for updates still being checked when it closed.
 */
export class OpenRound {
  readonly key: RoundKey;
  readonly selected: ReadonlySet<string>;
  /** Leaf clients asked: the selected, or the sum of their shares under delegated selection. */
  readonly selectedLeaves: number;
  readonly target: number;
  readonly startedAt: number;
  readonly deadline: number;
  private readonly reportedIds = new Set<string>();
  private readonly droppedIds = new Set<string>();
  private readonly rejectedIds = new Set<string>();
  private readonly inFlight = new Set<string>();
  private reason: CloseReason | undefined;
  private readonly timer: ReturnType<typeof setTimeout>;
  private resolveClosed!: (reason: CloseReason) => void;
  private drainWaiters: (() => void)[] = [];
  /** Resolves with the reason once the round closed. */
  readonly closed: Promise<CloseReason>;
  rejected = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Example-weighted sums of the clients' training metrics. */
  lossSum = 0;
  /** Examples behind the losses reported (an edge whose group sent none reports no loss). */
  lossWeight = 0;
  accSum = 0;
  accWeight = 0;
  /** Held-out-example-weighted sums of the clients' evaluations of the global model. */
  readonly evaluation = { lossSum: 0, accSum: 0, examples: 0, clients: 0, maeSum: 0, mseSum: 0, errorExamples: 0 };

  constructor(private readonly options: OpenRoundOptions) {
    this.key = options.key;
    this.selected = new Set(options.selected);
    this.selectedLeaves = options.selectedLeaves ?? this.selected.size;
    this.target = options.target;
    this.startedAt = options.startedAt;
    this.deadline = options.deadline;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.timer = setTimeout(() => this.close('deadline'), Math.max(0, options.deadline - Date.now()));
  }

  get isClosed(): boolean {
    return this.reason !== undefined;
  }

  get closeReason(): CloseReason | undefined {
    return this.reason;
  }

  get reported(): ReadonlySet<string> {
    return this.reportedIds;
  }

  get dropped(): ReadonlySet<string> {
    return this.droppedIds;
  }

  get count(): number {
    return this.options.sink.count;
  }

  get totalExamples(): number {
    return this.options.sink.totalExamples;
  }

  isDropped(clientId: string): boolean {
    return this.droppedIds.has(clientId);
  }

  /** Whether the client has an update accepted or being checked. */
  hasAnswered(clientId: string): boolean {
    return this.reportedIds.has(clientId) || this.inFlight.has(clientId);
  }

  /** A client that will not report (refused round:start, left, withdrew). Returns whether it counted. */
  drop(clientId: string): boolean {
    if (this.isClosed || !this.selected.has(clientId) || this.reportedIds.has(clientId) || this.droppedIds.has(clientId)) return false;
    this.droppedIds.add(clientId);
    this.changed();
    return true;
  }

  /**
   * A message of this client was refused during this attempt. It counts against the round (the
   * dashboard and metrics show it) only while the round is open; the participation table marks
   * the client 'rejected' unless it also reported.
   */
  noteRejected(clientId: string): void {
    if (this.selected.has(clientId)) this.rejectedIds.add(clientId);
    if (this.isClosed) return;
    this.rejected++;
    this.options.onChange?.();
  }

  /** An update passed the checks that need no decryption; it is being opened now. */
  beginIntake(clientId: string): void {
    this.inFlight.add(clientId);
  }

  /** Adds an opened, checked update to the aggregate. The caller checked the round is open. */
  accept(c: Contribution): void {
    const sink = this.options.sink;
    if (c.contributors === undefined) sink.add(c.delta, c.numExamples, c.loss !== undefined ? { loss: c.loss } : {});
    else if (!sink.addWeightedSum) throw new FedlinkError('unsupported', 'this round takes no pre-summed groups');
    else sink.addWeightedSum(Float64Array.from(c.delta, (x) => x * c.numExamples), c.numExamples, c.contributors);
    this.reportedIds.add(c.clientId);
    this.droppedIds.delete(c.clientId);
    if (c.loss !== undefined) {
      this.lossSum += c.loss * c.numExamples;
      this.lossWeight += c.numExamples;
    }
    if (c.accuracy !== undefined) {
      this.accSum += c.accuracy * c.numExamples;
      this.accWeight += c.numExamples;
    }
    if (c.evaluation) {
      this.evaluation.lossSum += c.evaluation.loss * c.evaluation.examples;
      this.evaluation.accSum += (c.evaluation.accuracy ?? 0) * c.evaluation.examples;
      if (c.evaluation.rmse !== undefined && c.evaluation.mae !== undefined) {
        // Regression: RMSE pools as the example-weighted mean of squared errors, then its root.
        this.evaluation.maeSum += c.evaluation.mae * c.evaluation.examples;
        this.evaluation.mseSum += c.evaluation.rmse ** 2 * c.evaluation.examples;
        this.evaluation.errorExamples += c.evaluation.examples;
      }
      this.evaluation.examples += c.evaluation.examples;
      this.evaluation.clients++;
    }
    this.bytesIn += c.bytes;
  }

  /** The update is in (accepted or refused): the round may close, and draining may finish. */
  endIntake(clientId: string): void {
    this.inFlight.delete(clientId);
    if (this.inFlight.size === 0) for (const w of this.drainWaiters.splice(0)) w();
    this.changed();
  }

  /** Closes the round once; later calls keep the first reason. */
  close(reason: CloseReason): void {
    if (this.isClosed) return;
    this.reason = reason;
    clearTimeout(this.timer);
    this.resolveClosed(reason);
    this.options.onChange?.();
  }

  /** Resolves once no update is being checked (call after close: nothing new starts then). */
  drained(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Who was asked and what came of it. */
  outcomes(): { clientId: string; outcome: ClientOutcome }[] {
    return [...this.selected].map((clientId) => ({
      clientId,
      outcome: this.reportedIds.has(clientId) ? 'reported' : this.rejectedIds.has(clientId) ? 'rejected' : 'dropped',
    }));
  }

  private changed(): void {
    this.closeIfDone();
    this.options.onChange?.();
  }

  /**
   * Plain rounds: closes at the target count, or once every selected client answered or dropped.
   * The target counts contributing leaf clients (an edge's group as its members): with delegated
   * selection the target is in leaves, and each edge was asked for its share of it.
   */
  closeIfDone(): void {
    if (this.isClosed || !this.options.autoClose) return;
    if (this.count >= this.target) return this.close('target reached');
    // Reported and dropped are disjoint subsets of the selected (drop refuses reporters, accept
    // un-drops), so counting them is enough: no scan of the selection on every update.
    if (this.reportedIds.size + this.droppedIds.size < this.selected.size) return;
    if (this.inFlight.size === 0) this.close('all selected clients answered or dropped');
  }
}
