import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { open as openEnvelope } from '@fedlink/crypto';
import { type ErrorCode, FedlinkError } from '@fedlink/protocol';
import { type UpdateCheckSpec, checkPlaintext } from './update-check.js';

/** One sealed update to open and check. */
export interface OpenRequest {
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  sharedKey: Uint8Array;
  associatedData: Uint8Array;
}

/** A checked delta, lent until `release` (after which its memory may hold another update). */
export interface OpenedUpdate {
  delta: Float32Array;
  release(): void;
}

/** Opens a sealed update and checks it (update-check.ts): the delta, or a FedlinkError. */
export interface UpdateOpener {
  readonly name: 'in-thread' | 'pool';
  open(request: OpenRequest): Promise<OpenedUpdate>;
  /**
   * Starts the opener's threads now, so the first update of a round does not wait for one to
   * boot; settles when they can take updates (at once on the event loop). The engine calls it
   * when a plain round opens; open() works without it.
   */
  warm(): Promise<void>;
  /** Ends the opener's threads (a later open starts them again). */
  close(): Promise<void>;
}

/** The message a worker gets: the ciphertext is in `input`'s first `length` bytes; the delta goes to `output`. */
export interface IntakeJob {
  id: number;
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  length: number;
  nonce: Uint8Array;
  sharedKey: Uint8Array;
  associatedData: Uint8Array;
}

/** What a worker posts once, when its modules are loaded and it takes jobs. */
export type WorkerReady = 'ready';
const WORKER_READY: WorkerReady = 'ready';

/** A worker's answer: where in `output` the delta is, or the refusal. */
export type IntakeReply = { id: number; ok: true; byteOffset: number; length: number } | { id: number; ok: false; code: ErrorCode; message: string };

const NOTHING_TO_RELEASE = (): void => undefined;

/** On the event loop: what the intake did before the pool. */
export class InThreadOpener implements UpdateOpener {
  readonly name = 'in-thread';
  constructor(private readonly spec: UpdateCheckSpec) {}

  async open(r: OpenRequest): Promise<OpenedUpdate> {
    const plaintext = await openEnvelope({ nonce: r.nonce, ciphertext: r.ciphertext }, r.sharedKey, r.associatedData);
    // The plaintext is this call's own fresh buffer: the delta can be a view of it, never reused.
    return { delta: checkPlaintext(plaintext, this.spec), release: NOTHING_TO_RELEASE };
  }

  async warm(): Promise<void> {}

  async close(): Promise<void> {}
}

/** Intake threads by default: one per core beyond the event loop's, at most 4; none on one core. */
export function defaultIntakeWorkers(cores = availableParallelism()): number {
  return Math.max(0, Math.min(4, cores - 1));
}

/** Default bound on the ciphertext bytes in the pool's slots at once (about as much again holds their deltas). */
export const INTAKE_BUDGET_BYTES = 32 * 1024 * 1024;

export interface IntakePoolOptions {
  workers: number;
  /** The largest ciphertext an update may have (RunContext.maxUpdateBytes): a slot's size. */
  maxCiphertextBytes: number;
  /** Ciphertext bytes in the slots at once (default INTAKE_BUDGET_BYTES): `budgetBytes / maxCiphertextBytes` slots, at least one per worker. */
  budgetBytes?: number;
}

interface Lane {
  worker: Worker;
  pending: Map<number, { resolve: (r: IntakeReply) => void; reject: (e: Error) => void }>;
  /** Settles when the worker posted WORKER_READY, or died before. */
  ready: Promise<void>;
}

/** Shared memory for one update in the pool: its ciphertext in, its delta out. */
interface Slot {
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
}

const WORKER_URL = new URL('./intake-worker.js', import.meta.url);

/**
 * Opens and checks sealed updates on worker threads, so ingest scales with cores while the event
 * loop keeps the sockets. An update takes a slot, a pair of SharedArrayBuffers: the event loop
 * copies its ciphertext in (the one copy: the socket's buffer stays the caller's), a worker
 * opens it piece by piece into the slot's output, decodes and checks it there, and the delta the
 * caller gets is a view of that output, lent until `release`. No per-update buffer is allocated
 * on either side, so the garbage collector has nothing large to chase. The caller adds the
 * delta and releases it (update-intake.ts does so in arrival order, so a pooled round sums
 * exactly as an in-thread one). When all slots are taken, further updates wait in arrival order
 * (their acks wait with them, and a client sends its next update only after its ack); what
 * waits is counted by the intake's receive budget, which pauses reading the sockets past its
 * limit (receive-budget.ts). Workers start on the first update and are unref'd while idle; a worker
 * that dies fails only its own updates (`internal`) and is replaced on the next.
 */
export class IntakePool implements UpdateOpener {
  readonly name = 'pool';
  private lanes: Lane[] = [];
  private nextId = 1;
  private readonly free: Slot[] = [];
  private slotsMade = 0;
  private readonly slotLimit: number;
  private readonly outputBytes: number;
  private readonly waiting: ((slot: Slot) => void)[] = [];
  private inFlightBytes = 0;
  /** Most ciphertext bytes that were in the slots at once (tests check the bound). */
  peakInFlightBytes = 0;
  /** Updates the workers opened (accepted or refused). */
  opened = 0;

  constructor(
    private readonly spec: UpdateCheckSpec,
    private readonly options: IntakePoolOptions,
  ) {
    if (!(Number.isInteger(options.workers) && options.workers >= 1)) throw new RangeError(`intake workers must be a positive integer, got ${options.workers}`);
    if (!(Number.isInteger(options.maxCiphertextBytes) && options.maxCiphertextBytes > 0)) throw new RangeError(`max ciphertext bytes must be a positive integer, got ${options.maxCiphertextBytes}`);
    const budget = options.budgetBytes ?? INTAKE_BUDGET_BYTES;
    if (!(budget > 0)) throw new RangeError(`intake budget must be positive, got ${budget}`);
    this.slotLimit = Math.max(options.workers, Math.floor(budget / options.maxCiphertextBytes));
    // Room for the opened plaintext, or for a compressed update's dense delta (4 bytes an entry).
    const entries = spec.manifest.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    this.outputBytes = Math.max(options.maxCiphertextBytes, 4 * entries);
  }

  get workers(): number {
    return this.lanes.length;
  }

  /** Slots that hold an update at most at once. */
  get slots(): number {
    return this.slotLimit;
  }

  async open(r: OpenRequest): Promise<OpenedUpdate> {
    const bytes = r.ciphertext.byteLength;
    if (bytes > this.options.maxCiphertextBytes) throw new FedlinkError('payload_too_large', `update is ${bytes} bytes, the limit for this model is ${this.options.maxCiphertextBytes}`);
    const slot = await this.acquire();
    this.inFlightBytes += bytes;
    this.peakInFlightBytes = Math.max(this.peakInFlightBytes, this.inFlightBytes);
    let lent = false;
    const release = () => {
      this.inFlightBytes -= bytes;
      this.give(slot);
    };
    try {
      new Uint8Array(slot.input, 0, bytes).set(r.ciphertext);
      const lane = this.lane();
      const id = this.nextId++;
      const job: IntakeJob = { id, input: slot.input, output: slot.output, length: bytes, nonce: Uint8Array.from(r.nonce), sharedKey: r.sharedKey, associatedData: r.associatedData };
      const answered = new Promise<IntakeReply>((resolve, reject) => lane.pending.set(id, { resolve, reject }));
      if (lane.pending.size === 1) lane.worker.ref();
      lane.worker.postMessage(job);
      const reply = await answered;
      if (!reply.ok) throw new FedlinkError(reply.code, reply.message);
      lent = true;
      let released = false;
      return {
        delta: new Float32Array(slot.output, reply.byteOffset, reply.length),
        release: () => {
          if (!released) (released = true), release();
        },
      };
    } finally {
      if (!lent) release();
    }
  }

  async warm(): Promise<void> {
    while (this.lanes.length < this.options.workers) this.startLane();
    await Promise.all(this.lanes.map((l) => l.ready));
  }

  async close(): Promise<void> {
    const lanes = this.lanes;
    this.lanes = [];
    await Promise.all(lanes.map((l) => this.fail(l, 'the intake pool closed').worker.terminate()));
  }

  private acquire(): Promise<Slot> {
    const slot = this.free.pop();
    if (slot) return Promise.resolve(slot);
    if (this.slotsMade < this.slotLimit) {
      this.slotsMade++;
      return Promise.resolve({ input: new SharedArrayBuffer(this.options.maxCiphertextBytes), output: new SharedArrayBuffer(this.outputBytes) });
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private give(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  /** The lane with the fewest updates in hand; a new worker while there are fewer than asked. */
  private lane(): Lane {
    if (this.lanes.length < this.options.workers) return this.startLane();
    let best = this.lanes[0]!;
    for (const l of this.lanes) if (l.pending.size < best.pending.size) best = l;
    return best;
  }

  private startLane(): Lane {
    const worker = new Worker(WORKER_URL, { workerData: this.spec });
    let readied!: () => void;
    const lane: Lane = { worker, pending: new Map(), ready: new Promise((r) => (readied = r)) };
    worker.unref();
    worker.on('message', (reply: IntakeReply | typeof WORKER_READY) => (reply === WORKER_READY ? readied() : this.answer(lane, reply)));
    worker.on('error', (err) => this.retire(lane, `intake worker failed: ${err.message}`));
    worker.on('exit', (code) => {
      readied();
      this.retire(lane, `intake worker exited (${code})`);
    });
    this.lanes.push(lane);
    return lane;
  }

  private answer(lane: Lane, reply: IntakeReply): void {
    const job = lane.pending.get(reply.id);
    if (!job) return;
    lane.pending.delete(reply.id);
    if (lane.pending.size === 0) lane.worker.unref();
    this.opened++;
    job.resolve(reply);
  }

  /** A dead worker: its updates are refused, and the next open starts a new one. */
  private retire(lane: Lane, why: string): void {
    this.lanes = this.lanes.filter((l) => l !== lane);
    this.fail(lane, why);
  }

  private fail(lane: Lane, why: string): Lane {
    for (const job of lane.pending.values()) job.reject(new FedlinkError('internal', why));
    lane.pending.clear();
    return lane;
  }
}

/** The opener for `workers` intake threads: 0 keeps the intake on the event loop. */
export function updateOpener(spec: UpdateCheckSpec, options: { workers: number; maxCiphertextBytes: number; budgetBytes?: number | undefined }): UpdateOpener {
  if (options.workers === 0) return new InThreadOpener(spec);
  return new IntakePool(spec, { workers: options.workers, maxCiphertextBytes: options.maxCiphertextBytes, ...(options.budgetBytes !== undefined ? { budgetBytes: options.budgetBytes } : {}) });
}
