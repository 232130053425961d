import type { RoundRecord, RunInfo, RunStore } from '../state/run-history.js';
import type { RegistryEvents } from '../federation/client-registry.js';
import type { ClientOutcome } from '../rounds/open-round.js';
import type { EventEmitter } from 'node:events';
import { encodeCheckpoint } from './checkpoint-file.js';
import { type ClientEvent, type Participation, RunArchive } from './run-archive.js';
import type { EncodedCheckpoint, RunRecords } from './run-records.js';
import { SqliteRunRecords } from './sqlite-run-records.js';
import { toBase64 } from '@fedlink/protocol';
import type { StrategySpec } from '@fedlink/core';

/** How long a client join or leave may wait to be written with the others of its burst. */
export const CLIENT_WRITE_DELAY_MS = 50;
const MAX_QUEUED_CLIENT_EVENTS = 1024;

export interface PersistentRunStoreOptions {
  /** Checkpoints kept per run, newest first (0 keeps all). At least 2 lets a corrupt one fall back. */
  keepCheckpoints: number;
  /** The strategy's server-optimizer state after the round just aggregated (saved with it). */
  serverState: () => Record<string, Float32Array>;
  /** The strategy spec that state belongs to, written into each checkpoint's header. */
  strategy?: StrategySpec;
}

/**
 * The persistent RunStore: every attempt goes to the run records (SQLite by default, PostgreSQL
 * in a cluster), and every completed round also a checkpoint (weights + server state + sha256),
 * stored with its row, so a committed round always has its checkpoint.
 */
export class PersistentRunStore implements RunStore {
  /**
   * Client joins and leaves not yet written. Each SQLite commit syncs the WAL (synchronous =
   * FULL), ~2 ms here: one per join capped a connection storm at a few hundred joins a second
   * (bench:coordinator). They are written together, CLIENT_WRITE_DELAY_MS after the first, and
   * before any round is recorded and at close.
   */
  private clientEvents: ClientEvent[] = [];
  private clientTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last client write in flight (PostgreSQL writes are asynchronous); rounds wait for it. */
  private clientWrite: Promise<void> = Promise.resolve();
  readonly records: RunRecords;

  constructor(
    records: RunRecords | RunArchive,
    private readonly options: PersistentRunStoreOptions,
  ) {
    this.records = records instanceof RunArchive ? new SqliteRunRecords(records) : records;
  }

  /** Follows the registry for the clients table. */
  trackClients(registry: EventEmitter<RegistryEvents>): void {
    registry.on('joined', (s) =>
      this.queueClient({
        kind: 'joined',
        clientId: s.clientId,
        signPublicKey: toBase64(s.signPublicKey),
        platform: s.platform,
        backend: s.backend,
        ...(s.name !== undefined ? { name: s.name } : {}),
        address: s.peer.address,
        at: s.joinedAt,
      }),
    );
    registry.on('left', (s) => this.queueClient({ kind: 'left', clientId: s.clientId, at: Date.now() }));
  }

  /** Writes the client joins and leaves queued so far (in one transaction); resolves when written. */
  flushClients(): Promise<void> {
    clearTimeout(this.clientTimer);
    this.clientTimer = undefined;
    const events = this.clientEvents;
    this.clientEvents = [];
    if (events.length === 0) return this.clientWrite;
    // In order: each batch after the one before; a failed batch is logged by nobody but must not
    // block the next ones (the clients table is a record, not the round's state).
    this.clientWrite = this.clientWrite.then(() => this.records.writeClients(events)).catch(() => undefined);
    return this.clientWrite;
  }

  private queueClient(e: ClientEvent): void {
    this.clientEvents.push(e);
    if (this.clientEvents.length >= MAX_QUEUED_CLIENT_EVENTS) void this.flushClients();
    else if (!this.clientTimer) {
      this.clientTimer = setTimeout(() => void this.flushClients(), CLIENT_WRITE_DELAY_MS);
      this.clientTimer.unref?.();
    }
  }

  async startRun(info: RunInfo, initialWeights: Float32Array): Promise<void> {
    await this.records.insertRun(info);
    // Round 0 is the seeded initial model: a run whose first checkpoint is corrupt restarts from it.
    await this.records.saveCheckpoint(this.encode(info.runId, 0, initialWeights, {}));
  }

  async recordRound(runId: string, record: RoundRecord, weights?: Float32Array, participation?: readonly { clientId: string; outcome: ClientOutcome }[]): Promise<void> {
    const checkpoint = record.status === 'completed' && weights ? this.encode(runId, record.round, weights, this.options.serverState()) : undefined;
    await this.flushClients();
    await this.records.saveRound(runId, record, checkpoint);
    if (participation && participation.length > 0) {
      const rows: Participation[] = participation.map((p) => ({ round: record.round, attempt: record.attempt, clientId: p.clientId, outcome: p.outcome }));
      await this.records.recordParticipation(runId, rows);
    }
    if (checkpoint) await this.records.pruneCheckpoints(runId, this.options.keepCheckpoints);
  }

  async finishRun(runId: string, status: 'finished' | 'stopped'): Promise<void> {
    await this.flushClients();
    await this.records.setRunStatus(runId, status);
  }

  private encode(runId: string, round: number, weights: Float32Array, serverState: Record<string, Float32Array>): EncodedCheckpoint {
    const strategy = this.options.strategy;
    const { bytes, sha256 } = encodeCheckpoint({ runId, round, weights, serverState, ...(strategy ? { strategy } : {}) });
    return { runId, round, bytes, sha256 };
  }
}
