import type { RoundEnd } from '@fedlink/protocol';

/**
 * This client's SCAFFOLD control variate c_i (core/aggregation/scaffold.ts has the math), kept in
 * memory for the client's lifetime, per run: a new run starts from zeros. It is not persisted:
 * a restarted client process starts again from c_i = 0 (SCAFFOLD still converges; its c no
 * longer equals the mean of the clients' c_i until the rounds wash the difference out).
 *
 * The server adds a client's Delta c_i to c only if the round the update counted for completes,
 * so the new c_i+ stays pending until the client learns that: round:end 'completed' for that
 * round, or a round:start of a later round (the coordinator moves on only after a completed
 * round), commits it; round:end 'abandoned', a round:start of the same or an earlier round (a
 * retried attempt, a coordinator resumed from an older checkpoint) or a welcome whose last
 * completed round is before it, drops it. One case guesses: an attempt that counted this
 * client's update, was abandoned while the client was away, and whose round then completed in
 * a later attempt without it, is committed when the next round starts.
 */
export class ClientControl {
  private runId: string | undefined;
  private committed: Float32Array | undefined;
  private pending: { round: number; next: Float32Array } | undefined;

  /** c_i for `runId` (zeros at the first round of a run), after settling what round `round` starting implies. */
  startRound(runId: string, round: number, length: number): Float32Array {
    this.forRun(runId);
    if (this.pending) {
      if (round > this.pending.round) this.committed = this.pending.next;
      this.pending = undefined;
    }
    if (this.committed && this.committed.length !== length) throw new RangeError(`this client's control variate has ${this.committed.length} entries, the model ${length}`);
    return this.committed ?? new Float32Array(length);
  }

  /** The coordinator accepted the update of `round`, whose c_i+ is `next`. */
  propose(runId: string, round: number, next: Float32Array): void {
    this.forRun(runId);
    this.pending = { round, next };
  }

  roundEnded(end: RoundEnd): void {
    if (end.runId !== this.runId || !this.pending || this.pending.round !== end.round) return;
    if (end.status === 'completed') this.committed = this.pending.next;
    this.pending = undefined;
  }

  /** A (re)join: `completedRound` is the coordinator's last completed round. */
  rejoined(runId: string, completedRound: number): void {
    this.forRun(runId);
    if (this.pending && this.pending.round > completedRound) this.pending = undefined;
  }

  /** The committed c_i of `runId`, if any (for tests and views). */
  current(runId: string): Float32Array | undefined {
    return runId === this.runId ? this.committed : undefined;
  }

  private forRun(runId: string): void {
    if (runId === this.runId) return;
    this.runId = runId;
    this.committed = undefined;
    this.pending = undefined;
  }
}
