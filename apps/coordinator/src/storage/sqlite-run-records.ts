import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RoundRecord } from '../state/run-history.js';
import { removeFile, writeCheckpointFile } from './checkpoint-file.js';
import { DB_FILE } from './database.js';
import type { RunArchive, StoredCheckpoint } from './run-archive.js';
import type { EncodedCheckpoint, RunRecords } from './run-records.js';

/**
 * RunRecords in a state directory: rows in its SQLite database (RunArchive), each checkpoint a
 * file beside it, written (fsync + rename) before its row is committed.
 */
export class SqliteRunRecords implements RunRecords {
  readonly location: string;

  constructor(readonly archive: RunArchive) {
    this.location = `sqlite:${join(archive.stateDir, DB_FILE)}`;
  }

  insertRun: RunArchive['insertRun'] = (info) => this.archive.insertRun(info);
  setRunStatus: RunArchive['setRunStatus'] = (runId, status, at) => this.archive.setRunStatus(runId, status, at);
  markInterrupted: RunArchive['markInterrupted'] = (runId, at) => this.archive.markInterrupted(runId, at);
  runs: RunArchive['runs'] = () => this.archive.runs();
  run: RunArchive['run'] = (runId) => this.archive.run(runId);
  latestUnfinished: RunArchive['latestUnfinished'] = () => this.archive.latestUnfinished();
  rounds: RunArchive['rounds'] = (runId) => this.archive.rounds(runId);
  rewindTo: RunArchive['rewindTo'] = (runId, round) => this.archive.rewindTo(runId, round);
  checkpoints: RunArchive['checkpoints'] = (runId) => this.archive.checkpoints(runId);
  loadLatestCheckpoint: RunArchive['loadLatestCheckpoint'] = (runId, atMost) => this.archive.loadLatestCheckpoint(runId, atMost);
  writeClients: RunArchive['writeClients'] = (events) => this.archive.writeClients(events);
  recordParticipation: RunArchive['recordParticipation'] = (runId, rows) => this.archive.recordParticipation(runId, rows);
  participation: RunArchive['participation'] = (runId) => this.archive.participation(runId);
  clients: RunArchive['clients'] = (runId) => this.archive.clients(runId);

  async saveCheckpoint(c: EncodedCheckpoint): Promise<void> {
    this.archive.insertCheckpoint(await this.writeFile(c));
  }

  async saveRound(runId: string, record: RoundRecord, checkpoint?: EncodedCheckpoint): Promise<void> {
    const stored = checkpoint ? await this.writeFile(checkpoint) : undefined;
    this.archive.recordRound(runId, record, stored);
  }

  async pruneCheckpoints(runId: string, keep: number): Promise<void> {
    if (keep <= 0) return;
    // Row first, then file: a crash in between leaves an orphan file, never a row without its file.
    for (const old of this.archive.checkpoints(runId).slice(keep)) {
      this.archive.deleteCheckpoint(runId, old.round);
      await removeFile(this.archive.checkpointPath(old));
    }
  }

  close(): void {
    this.archive.db.close();
  }

  private async writeFile(c: EncodedCheckpoint): Promise<StoredCheckpoint> {
    const rel = join('checkpoints', c.runId, `round-${String(c.round).padStart(6, '0')}.ckpt`);
    await mkdir(join(this.archive.stateDir, 'checkpoints', c.runId), { recursive: true, mode: 0o700 });
    await writeCheckpointFile(join(this.archive.stateDir, rel), c.bytes);
    return { runId: c.runId, round: c.round, file: rel, sha256: c.sha256, bytes: c.bytes.length, createdAt: Date.now() };
  }
}
