import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RoundRecord, RunInfo, RunStore } from '../state/run-history.js';
import type { RegistryEvents } from '../federation/client-registry.js';
import type { ClientOutcome } from '../rounds/open-round.js';
import type { EventEmitter } from 'node:events';
import { encodeCheckpoint, removeFile, writeCheckpointFile } from './checkpoint-file.js';
import type { ClientEvent, Participation, RunArchive, StoredCheckpoint } from './run-archive.js';
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
 * The embedded persistent RunStore: every attempt goes to SQLite, and every completed round
 * also to a checkpoint file (weights + server state + sha256), written before its row is
 * committed, so a committed round always has its file.
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

  constructor(
    readonly archive: RunArchive,
    private readonly options: PersistentRunStoreOptions,
  ) {}

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

  /** Writes the client joins and leaves queued so far (in one transaction). */
  flushClients(): void {
    clearTimeout(this.clientTimer);
    this.clientTimer = undefined;
    const events = this.clientEvents;
    this.clientEvents = [];
    this.archive.writeClients(events);
  }

  private queueClient(e: ClientEvent): void {
    this.clientEvents.push(e);
    if (this.clientEvents.length >= MAX_QUEUED_CLIENT_EVENTS) this.flushClients();
    else if (!this.clientTimer) {
      this.clientTimer = setTimeout(() => this.flushClients(), CLIENT_WRITE_DELAY_MS);
      this.clientTimer.unref?.();
    }
  }

  async startRun(info: RunInfo, initialWeights: Float32Array): Promise<void> {
    this.archive.insertRun(info);
    // Round 0 is the seeded initial model: a run whose first checkpoint is corrupt restarts from it.
    const c = await this.writeCheckpoint(info.runId, 0, initialWeights, {});
    this.archive.insertCheckpoint(c);
  }

  async recordRound(runId: string, record: RoundRecord, weights?: Float32Array, participation?: readonly { clientId: string; outcome: ClientOutcome }[]): Promise<void> {
    const checkpoint = record.status === 'completed' && weights ? await this.writeCheckpoint(runId, record.round, weights, this.options.serverState()) : undefined;
    this.flushClients();
    this.archive.recordRound(runId, record, checkpoint);
    if (participation && participation.length > 0) {
      const rows: Participation[] = participation.map((p) => ({ round: record.round, attempt: record.attempt, clientId: p.clientId, outcome: p.outcome }));
      this.archive.recordParticipation(runId, rows);
    }
    if (checkpoint) await this.prune(runId);
  }

  finishRun(runId: string, status: 'finished' | 'stopped'): void {
    this.flushClients();
    this.archive.setRunStatus(runId, status);
  }

  private async writeCheckpoint(runId: string, round: number, weights: Float32Array, serverState: Record<string, Float32Array>): Promise<StoredCheckpoint> {
    const rel = join('checkpoints', runId, `round-${String(round).padStart(6, '0')}.ckpt`);
    const path = join(this.archive.stateDir, rel);
    await mkdir(join(this.archive.stateDir, 'checkpoints', runId), { recursive: true, mode: 0o700 });
    const strategy = this.options.strategy;
    const { bytes, sha256 } = encodeCheckpoint({ runId, round, weights, serverState, ...(strategy ? { strategy } : {}) });
    await writeCheckpointFile(path, bytes);
    return { runId, round, file: rel, sha256, bytes: bytes.length, createdAt: Date.now() };
  }

  /** Retention: drop all but the newest `keepCheckpoints` (row first, then file). */
  private async prune(runId: string): Promise<void> {
    const keep = this.options.keepCheckpoints;
    if (keep <= 0) return;
    for (const old of this.archive.checkpoints(runId).slice(keep)) {
      this.archive.deleteCheckpoint(runId, old.round);
      await removeFile(this.archive.checkpointPath(old));
    }
  }
}
