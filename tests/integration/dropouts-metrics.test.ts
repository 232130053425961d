import { generateIdentity, type Identity } from '@fedlink/crypto';
import type { RoundRecord } from '@fedlink/coordinator';
import { EVENTS, type RoundStart } from '@fedlink/protocol';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { testVector } from '../helpers/fixed-trainer.js';
import { RawClient } from '../helpers/raw-client.js';

const N = 10;
const ROUND_TIMEOUT_MS = 3000;
type Fate = 'reports' | 'before' | 'after' | 'silent';

/** Parses `name{labels} value` lines of a Prometheus scrape. */
function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : NaN;
}

test('30% of selected clients vanish every round (before or after training, or go silent); rounds close by their deadline and the run reaches its target; /metrics follows', async () => {
  const coord = await startTestCoordinator({
    rounds: 3,
    roundTimeoutMs: ROUND_TIMEOUT_MS,
    waitTimeoutMs: 30_000,
    // target 7 of 10, over-selected by 30% (capped at the 10 connected), minFit 5.
    selection: { fraction: 0.7, minFit: 5, minAvailable: N, overSelect: 0.3 },
  });
  const identities: Identity[] = Array.from({ length: N }, () => generateIdentity());
  const clients: RawClient[] = [];
  const scrape = async () => (await fetch(`${coord.url}/metrics`)).text();
  try {
    for (const id of identities) {
      const c = await RawClient.connect(coord.url, id);
      await c.join(TEST_TOKEN);
      clients.push(c);
    }
    const n = coord.context.model.numParams;
    const records: RoundRecord[] = [];
    coord.engine.on('roundEnded', (r) => records.push(r));
    // Attempt 1 of round 2 loses 6 of 10 (below minFit): abandoned, retried with 30% lost.
    const plans: Fate[][] = [
      ['before', 'after', 'silent', ...Array<Fate>(7).fill('reports')],
      ['before', 'before', 'after', 'after', 'silent', 'silent', ...Array<Fate>(4).fill('reports')],
      ['after', 'silent', 'before', ...Array<Fate>(7).fill('reports')],
      ['silent', 'before', 'after', ...Array<Fate>(7).fill('reports')],
    ];
    let before = '';
    for (const [attempt, plan] of plans.entries()) {
      const starts: RoundStart[] = await Promise.all(clients.map((c) => c.nextRoundStart()));
      expect(new Set(starts.map((s) => s.round)).size).toBe(1);
      const round = starts[0]!.round;
      const globalBefore = coord.context.model.weights.slice();
      const ended = new Promise<RoundRecord>((resolve) => coord.engine.once('roundEnded', resolve));
      const late: { c: RawClient; i: number }[] = [];
      await Promise.all(
        clients.map(async (c, i) => {
          const fate = plan[i]!;
          if (fate === 'before') return c.close();
          const update = await c.update(round, testVector(n, 100 * attempt + i));
          if (fate === 'after') return c.close();
          if (fate === 'silent') return late.push({ c, i });
          const r = await c.request(EVENTS.update, update);
          expect(r.ok).toBe(true);
        }),
      );
      const record = await ended;
      expect(record.round).toBe(round);
      // Closed at the target, or when everyone answered or dropped, or at the deadline: never later.
      expect(record.endedAt - starts[0]!.deadline).toBeLessThan(2000);
      if (attempt === 1) {
        expect(record.status).toBe('abandoned');
        expect(record.reason).toMatch(/minFit is 5/);
        expect(coord.context.model.weights).toEqual(globalBefore); // global model untouched
      } else {
        expect(record.status).toBe('completed');
        expect(record.reported).toBe(7);
      }
      // A late update for the closed round: typed `stale`, discarded.
      for (const { c, i } of late) {
        const r = await c.request(EVENTS.update, await c.update(round, testVector(n, 999 + i)));
        expect(!r.ok && r.error.code).toBe('stale');
      }
      // The vanished come back with the same key and rejoin at the current round.
      if (attempt === plans.length - 1) break;
      for (const [i, fate] of plan.entries()) {
        if (fate !== 'before' && fate !== 'after') continue;
        const back = await RawClient.connect(coord.url, identities[i]);
        const w = await back.join(TEST_TOKEN);
        expect(w.clientId).toBe(clients[i]!.welcome!.clientId);
        expect(w.round).toBe(coord.engine.round);
        clients[i] = back;
      }
      if (attempt === 0) {
        before = await scrape();
        expect(metric(before, 'fedlink_rounds_total', 'status="completed"')).toBe(1);
      }
    }
    const end = await coord.done;
    expect(end).toMatchObject({ status: 'finished', rounds: 3 });
    expect(records.map((r) => `${r.round}:${r.status}`)).toEqual(['1:completed', '2:abandoned', '2:completed', '3:completed']);

    const after = await scrape();
    expect(metric(after, 'fedlink_rounds_total', 'status="completed"')).toBe(3);
    expect(metric(after, 'fedlink_rounds_total', 'status="abandoned"')).toBe(1);
    expect(metric(after, 'fedlink_round')).toBe(3);
    expect(metric(after, 'fedlink_updates_accepted_total')).toBe(7 + 4 + 7 + 7);
    expect(metric(after, 'fedlink_updates_rejected_total', 'code="stale"')).toBe(1 + 2 + 1 + 1);
    expect(metric(after, 'fedlink_clients_selected_total')).toBe(40);
    expect(metric(after, 'fedlink_clients_dropped_total')).toBeGreaterThan(metric(before, 'fedlink_clients_dropped_total'));
    expect(metric(after, 'fedlink_bytes_received_total')).toBeGreaterThan(metric(before, 'fedlink_bytes_received_total'));
    expect(metric(after, 'fedlink_bytes_sent_total')).toBeGreaterThan(metric(before, 'fedlink_bytes_sent_total'));
    expect(metric(after, 'fedlink_round_duration_seconds_count', 'status="completed"')).toBe(3);
    expect(metric(after, 'fedlink_stage_duration_seconds_count', 'stage="training"')).toBe(4);
    expect(after).toMatch(/fedlink_process_resident_memory_bytes/);
  } finally {
    clients.forEach((c) => c.close());
    await coord.cleanup();
  }
});
