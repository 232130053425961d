import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RoundRecord, RunInfo, RunStore } from '../state/run-history.js';
import type { EngineEvents } from '../federation/round-engine.js';
import type { RegistryEvents } from '../federation/client-registry.js';
import type { EventEmitter } from 'node:events';
import { encodeCheckpoint, removeFile, writeCheckpointFile } from './checkpoint-file.js';
import type { Participation, RunArchive, StoredCheckpoint } from './run-archive.js';
import { toBase64 } from '@fedlink/protocol';

export interface PersistentRunStoreOptions {
  /** Checkpoints kept per run, newest first (0 keeps all). At least 2 lets a corrupt one fall back. */
  keepCheckpoints: number;
  /** The strategy's server-optimizer state after the round just aggregated (saved with it). */
  serverState: () => Record<string, Float32Array>;
}

/**
 * The embedded persistent RunStore: every attempt goes to SQLite, and every completed round
 * also to a checkpoint file (weights + server state + sha256), written before its row is
 * committed, so a committed round always has its file.
 */
export class PersistentRunStore implements RunStore {
  /** Who was asked and what came of it, for the attempt in progress. */
  private attempt: { round: number; attempt: number; selected: string[]; reported: Set<string>; rejected: Set<string> } | undefined;

  constructor(
    readonly archive: RunArchive,
    private readonly options: PersistentRunStoreOptions,
  ) {}

  /** Follows the engine and the registry for participation and the clients table. */
  track(engine: EventEmitter<EngineEvents>, registry: EventEmitter<RegistryEvents>): void {
    engine.on('roundStarted', (s) => (this.attempt = { round: s.round, attempt: s.attempt, selected: [...s.selected], reported: new Set(), rejected: new Set() }));
    engine.on('updateAccepted', (u) => this.attempt?.round === u.round && this.attempt.reported.add(u.clientId));
    engine.on('updateRejected', (u) => this.attempt?.round === u.round && this.attempt.rejected.add(u.clientId));
    registry.on('joined', (s) =>
      this.archive.upsertClient({
        clientId: s.clientId,
        signPublicKey: toBase64(s.signPublicKey),
        platform: s.platform,
        backend: s.backend,
        ...(s.name !== undefined ? { name: s.name } : {}),
        address: s.peer.address,
        at: s.joinedAt,
      }),
    );
    registry.on('left', (s) => this.archive.touchClient(s.clientId));
  }

  async startRun(info: RunInfo, initialWeights: Float32Array): Promise<void> {
    this.archive.insertRun(info);
    // Round 0 is the seeded initial model: a run whose first checkpoint is corrupt restarts from it.
    const c = await this.writeCheckpoint(info.runId, 0, initialWeights, {});
    this.archive.insertCheckpoint(c);
  }

  async recordRound(runId: string, record: RoundRecord, weights?: Float32Array): Promise<void> {
    const checkpoint = record.status === 'completed' && weights ? await this.writeCheckpoint(runId, record.round, weights, this.options.serverState()) : undefined;
    this.archive.recordRound(runId, record, checkpoint);
    const a = this.attempt;
    if (a && a.round === record.round && a.attempt === record.attempt) {
      const rows: Participation[] = a.selected.map((clientId) => ({
        round: a.round,
        attempt: a.attempt,
        clientId,
        outcome: a.reported.has(clientId) ? 'reported' : a.rejected.has(clientId) ? 'rejected' : 'dropped',
      }));
      this.archive.recordParticipation(runId, rows);
      this.attempt = undefined;
    }
    if (checkpoint) await this.prune(runId);
  }

  finishRun(runId: string, status: 'finished' | 'stopped'): void {
    this.archive.setRunStatus(runId, status);
  }

  private async writeCheckpoint(runId: string, round: number, weights: Float32Array, serverState: Record<string, Float32Array>): Promise<StoredCheckpoint> {
    const rel = join('checkpoints', runId, `round-${String(round).padStart(6, '0')}.ckpt`);
    const path = join(this.archive.stateDir, rel);
    await mkdir(join(this.archive.stateDir, 'checkpoints', runId), { recursive: true, mode: 0o700 });
    const { bytes, sha256 } = encodeCheckpoint({ runId, round, weights, serverState });
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
