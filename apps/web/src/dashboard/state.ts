import type {
  DashboardClient,
  DashboardOpenRound,
  DashboardPhaseEvent,
  DashboardRound,
  DashboardRunEnded,
  DashboardSnapshot,
} from '@fedlink/protocol/dashboard';

/**
 * The dashboard's picture of the run: a snapshot, then the feed's events applied in order.
 * Pure (no DOM), so the rules for merging events are in one place.
 */
export class DashboardState {
  snap: DashboardSnapshot | undefined;
  /** Local clock minus server clock, for "last seen" in the viewer's time. */
  skewMs = 0;

  get ready(): boolean {
    return this.snap !== undefined;
  }

  snapshot(s: DashboardSnapshot): void {
    this.snap = { ...s, rounds: [...s.rounds], clients: [...s.clients] };
    this.skewMs = Date.now() - s.serverTime;
  }

  phase(e: DashboardPhaseEvent): void {
    if (!this.snap) return;
    this.snap.phase = e.phase;
    this.snap.round = e.round;
    this.skewMs = Date.now() - e.serverTime;
  }

  openRound(o: DashboardOpenRound): void {
    if (this.snap) this.snap.openRound = o;
  }

  round(r: DashboardRound): void {
    if (!this.snap) return;
    // A reconnect's snapshot may already hold this attempt.
    if (!this.snap.rounds.some((x) => x.round === r.round && x.attempt === r.attempt)) this.snap.rounds.push(r);
    if (r.status === 'completed') this.snap.round = Math.max(this.snap.round, r.round);
    this.snap.openRound = null;
  }

  clients(c: DashboardClient[]): void {
    if (this.snap) this.snap.clients = c;
  }

  runEnded(e: DashboardRunEnded): void {
    if (!this.snap) return;
    this.snap.status = e.status;
    this.snap.openRound = null;
  }

  completed(): DashboardRound[] {
    return (this.snap?.rounds ?? []).filter((r) => r.status === 'completed');
  }

  abandoned(): DashboardRound[] {
    return (this.snap?.rounds ?? []).filter((r) => r.status === 'abandoned');
  }
}
