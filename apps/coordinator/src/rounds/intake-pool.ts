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

/** Opens a sealed update and checks it (update-check.ts): the delta, or a FedlinkError. */
export interface UpdateOpener {
  readonly name: 'in-thread' | 'pool';
  open(request: OpenRequest): Promise<Float32Array>;
  /** Ends the opener's threads (a later open starts them again). */
  close(): Promise<void>;
}

/** The message a worker gets. */
export interface IntakeJob extends OpenRequest {
  id: number;
}

/** A worker's answer: the delta's bytes (transferred), or the refusal. */
export type IntakeReply =
  | { id: number; ok: true; buffer: ArrayBuffer; byteOffset: number; length: number }
  | { id: number; ok: false; code: ErrorCode; message: string };

/** On the event loop: what the intake did before the pool. */
export class InThreadOpener implements UpdateOpener {
  readonly name = 'in-thread';
  constructor(private readonly spec: UpdateCheckSpec) {}

  async open(r: OpenRequest): Promise<Float32Array> {
    const plaintext = await openEnvelope({ nonce: r.nonce, ciphertext: r.ciphertext }, r.sharedKey, r.associatedData);
    return checkPlaintext(plaintext, this.spec);
  }

  async close(): Promise<void> {}
}

/** Intake threads by default: one per core beyond the event loop's, at most 4; none on one core. */
export function defaultIntakeWorkers(cores = availableParallelism()): number {
  return Math.max(0, Math.min(4, cores - 1));
}

/** Default bound on ciphertext bytes handed to the workers and not yet answered. */
export const INTAKE_BUDGET_BYTES = 64 * 1024 * 1024;

export interface IntakePoolOptions {
  workers: number;
  /** Ciphertext bytes in the workers at once (default INTAKE_BUDGET_BYTES); an update over it waits its turn. */
  budgetBytes?: number;
}

interface Lane {
  worker: Worker;
  pending: Map<number, { resolve: (d: Float32Array) => void; reject: (e: Error) => void; bytes: number }>;
}

const WORKER_URL = new URL('./intake-worker.js', import.meta.url);

/**
 * Opens and checks sealed updates on worker threads, so ingest scales with cores while the event
 * loop keeps the sockets. Each update's ciphertext is copied once into a buffer that is moved
 * (transferred) to a worker, which opens it, decodes and checks it and moves the delta back;
 * the caller adds it (update-intake.ts adds in arrival order, so a pooled round sums exactly as
 * an in-thread one). At most `budgetBytes` of ciphertext are with the workers at once: further
 * updates wait in arrival order (their sockets' acks wait with them, and a client sends its next
 * update only after the ack). Workers start on the first update, are unref'd while idle, and a
 * worker that dies fails only its own updates (`internal`) and is replaced on the next.
 */
export class IntakePool implements UpdateOpener {
  readonly name = 'pool';
  private lanes: Lane[] = [];
  private nextId = 1;
  private inFlightBytes = 0;
  private readonly waiting: { bytes: number; go: () => void }[] = [];
  private readonly budget: number;
  /** Most ciphertext bytes that were with the workers at once (tests check the bound). */
  peakInFlightBytes = 0;
  /** Updates the workers opened (accepted or refused). */
  opened = 0;

  constructor(
    private readonly spec: UpdateCheckSpec,
    private readonly options: IntakePoolOptions,
  ) {
    if (!(Number.isInteger(options.workers) && options.workers >= 1)) throw new RangeError(`intake workers must be a positive integer, got ${options.workers}`);
    this.budget = options.budgetBytes ?? INTAKE_BUDGET_BYTES;
    if (!(this.budget > 0)) throw new RangeError(`intake budget must be positive, got ${this.budget}`);
  }

  get workers(): number {
    return this.lanes.length;
  }

  async open(r: OpenRequest): Promise<Float32Array> {
    const bytes = r.ciphertext.byteLength;
    await this.admit(bytes);
    try {
      const lane = this.lane();
      const id = this.nextId++;
      // Exactly the ciphertext's bytes in a buffer of their own, moved to the worker: the
      // caller's buffer (a socket's, maybe a view of a larger one) stays as it was.
      const ciphertext = new Uint8Array(bytes);
      ciphertext.set(r.ciphertext);
      const job: IntakeJob = { id, nonce: Uint8Array.from(r.nonce), ciphertext, sharedKey: r.sharedKey, associatedData: r.associatedData };
      const done = new Promise<Float32Array>((resolve, reject) => lane.pending.set(id, { resolve, reject, bytes }));
      if (lane.pending.size === 1) lane.worker.ref();
      lane.worker.postMessage(job, [ciphertext.buffer]);
      return await done;
    } finally {
      this.release(bytes);
    }
  }

  async close(): Promise<void> {
    const lanes = this.lanes;
    this.lanes = [];
    await Promise.all(lanes.map((l) => this.fail(l, 'the intake pool closed').worker.terminate()));
  }

  private admit(bytes: number): Promise<void> {
    // One update larger than the budget still goes, alone.
    if (this.waiting.length === 0 && (this.inFlightBytes === 0 || this.inFlightBytes + bytes <= this.budget)) {
      this.take(bytes);
      return Promise.resolve();
    }
    return new Promise((go) => this.waiting.push({ bytes, go: () => (this.take(bytes), go()) }));
  }

  private take(bytes: number): void {
    this.inFlightBytes += bytes;
    this.peakInFlightBytes = Math.max(this.peakInFlightBytes, this.inFlightBytes);
  }

  private release(bytes: number): void {
    this.inFlightBytes -= bytes;
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      if (this.inFlightBytes > 0 && this.inFlightBytes + next.bytes > this.budget) break;
      this.waiting.shift();
      next.go();
    }
  }

  /** The lane with the fewest updates in hand; a new worker while there are fewer than asked. */
  private lane(): Lane {
    if (this.lanes.length < this.options.workers) {
      const lane: Lane = { worker: new Worker(WORKER_URL, { workerData: this.spec }), pending: new Map() };
      lane.worker.unref();
      lane.worker.on('message', (reply: IntakeReply) => this.answer(lane, reply));
      lane.worker.on('error', (err) => this.retire(lane, `intake worker failed: ${err.message}`));
      lane.worker.on('exit', (code) => this.retire(lane, `intake worker exited (${code})`));
      this.lanes.push(lane);
      return lane;
    }
    let best = this.lanes[0]!;
    for (const l of this.lanes) if (l.pending.size < best.pending.size) best = l;
    return best;
  }

  private answer(lane: Lane, reply: IntakeReply): void {
    const job = lane.pending.get(reply.id);
    if (!job) return;
    lane.pending.delete(reply.id);
    if (lane.pending.size === 0) lane.worker.unref();
    this.opened++;
    if (reply.ok) job.resolve(new Float32Array(reply.buffer, reply.byteOffset, reply.length));
    else job.reject(new FedlinkError(reply.code, reply.message));
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
export function updateOpener(spec: UpdateCheckSpec, workers: number, budgetBytes?: number): UpdateOpener {
  if (workers === 0) return new InThreadOpener(spec);
  return new IntakePool(spec, { workers, ...(budgetBytes !== undefined ? { budgetBytes } : {}) });
}
