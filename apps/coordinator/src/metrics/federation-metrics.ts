import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Phase } from '@fedlink/protocol';
import type { ClientRegistry } from '../federation/client-registry.js';
import type { Gatekeeper } from '../federation/gatekeeper.js';
import type { FederationEngine } from '../rounds/engine.js';
import type { ReceiveBudget } from '../rounds/receive-budget.js';
import type { RoundSnapshot } from '../rounds/round-state.js';

const ROUND_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];
const STAGE_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];

/**
 * Prometheus metrics of one coordinator, fed only by events (engine, registry, gatekeeper), so
 * the domain classes know nothing of Prometheus. Each coordinator has its own registry: several
 * can live in one process (tests, simulations) without clashing.
 */
export class FederationMetrics {
  readonly registry = new Registry();

  constructor(runId: string, engine: FederationEngine, clients: ClientRegistry, gate: Gatekeeper, receive?: ReceiveBudget) {
    const r = this.registry;
    r.setDefaultLabels({ run_id: runId });
    collectDefaultMetrics({ register: r, prefix: 'fedlink_' });

    const rounds = new Counter({ name: 'fedlink_rounds_total', help: 'Round attempts by outcome (completed, abandoned).', labelNames: ['status'], registers: [r] });
    const lastRound = new Gauge({ name: 'fedlink_round', help: 'Last completed round.', registers: [r] });
    const selected = new Counter({ name: 'fedlink_clients_selected_total', help: 'Clients asked to train, summed over round attempts.', registers: [r] });
    const reported = new Counter({ name: 'fedlink_clients_reported_total', help: 'Accepted updates, summed over round attempts.', registers: [r] });
    const dropped = new Counter({ name: 'fedlink_clients_dropped_total', help: 'Selected clients that refused, disconnected or missed the deadline.', registers: [r] });
    const bytesIn = new Counter({ name: 'fedlink_bytes_received_total', help: 'Bytes of sealed updates received.', registers: [r] });
    const bytesOut = new Counter({ name: 'fedlink_bytes_sent_total', help: 'Bytes of global weights sent with round:start.', registers: [r] });
    const roundSeconds = new Histogram({ name: 'fedlink_round_duration_seconds', help: 'Round attempt duration by outcome.', labelNames: ['status'], buckets: ROUND_BUCKETS, registers: [r] });
    const stageSeconds = new Histogram({ name: 'fedlink_stage_duration_seconds', help: 'Time spent in each engine phase.', labelNames: ['stage'], buckets: STAGE_BUCKETS, registers: [r] });
    const accepted = new Counter({ name: 'fedlink_updates_accepted_total', help: 'Updates added to an aggregate.', registers: [r] });
    const rejected = new Counter({ name: 'fedlink_updates_rejected_total', help: 'Updates refused, by error code.', labelNames: ['code'], registers: [r] });
    const refused = new Counter({ name: 'fedlink_refused_total', help: 'Messages and connections refused at the gateway, by event and error code.', labelNames: ['event', 'code'], registers: [r] });
    if (receive) {
      new Gauge({ name: 'fedlink_updates_held_bytes', help: 'Update bytes held between arrival and their end (waiting, being opened); past the receive budget, client sockets are not read.', registers: [r], collect() { this.set(receive.held); } });
      new Gauge({ name: 'fedlink_receive_budget_bytes', help: 'The receive budget: held update bytes past which reading pauses until half is left.', registers: [r], collect() { this.set(receive.limitBytes); } });
      new Counter({ name: 'fedlink_receive_pauses_total', help: 'Times the held update bytes passed the receive budget and reading paused.', registers: [r], collect() { this.reset(); this.inc(receive.pauses); } });
    }
    new Gauge({ name: 'fedlink_clients_connected', help: 'Joined clients (completed hello).', registers: [r], collect() { this.set(clients.size); } });
    new Gauge({ name: 'fedlink_edges_connected', help: 'Joined clients that are edge aggregators (hello role edge), counted in fedlink_clients_connected too.', registers: [r], collect() { this.set(clients.sessions().filter((s) => s.edge).length); } });
    // Which edge is which: one series per joined edge, labelled by its client id (and name).
    new Gauge({
      name: 'fedlink_edge_clients',
      help: 'Eligible leaf clients under each joined edge aggregator, as it last reported them.',
      labelNames: ['edge_id', 'edge_name'],
      registers: [r],
      collect() {
        this.reset();
        for (const s of clients.sessions()) if (s.edge) this.set({ edge_id: s.clientId, edge_name: s.name ?? '' }, s.edgeSummary?.clients ?? 0);
      },
    });
    new Gauge({
      name: 'fedlink_edge_examples',
      help: 'Examples of the leaf clients under each joined edge aggregator, as it last reported them.',
      labelNames: ['edge_id', 'edge_name'],
      registers: [r],
      collect() {
        this.reset();
        for (const s of clients.sessions()) if (s.edge) this.set({ edge_id: s.clientId, edge_name: s.name ?? '' }, s.edgeSummary?.examples ?? 0);
      },
    });
    new Gauge({
      name: 'fedlink_connections',
      help: 'Open socket.io connections by kind: pending (not joined yet), client (joined), dashboard.',
      labelNames: ['kind'],
      registers: [r],
      collect() {
        for (const kind of ['pending', 'client', 'dashboard'] as const) this.set({ kind }, gate.count(kind));
      },
    });

    let phase: { name: Phase; at: number } | undefined;
    engine.state.on('snapshot', (snap: RoundSnapshot) => {
      const p = snap.phase;
      if (phase?.name === p) return;
      const now = performance.now();
      if (phase) stageSeconds.observe({ stage: phase.name }, (now - phase.at) / 1000);
      phase = { name: p, at: now };
    });
    engine.on('roundEnded', (rec) => {
      rounds.inc({ status: rec.status });
      if (rec.status === 'completed') lastRound.set(rec.round);
      selected.inc(rec.selected);
      reported.inc(rec.reported);
      dropped.inc(rec.dropped);
      bytesIn.inc(rec.bytesIn);
      bytesOut.inc(rec.bytesOut);
      roundSeconds.observe({ status: rec.status }, Math.max(0, rec.seconds));
    });
    engine.on('updateAccepted', () => accepted.inc());
    engine.on('updateRejected', (u) => rejected.inc({ code: u.code }));
    gate.on('refused', (x) => refused.inc({ event: x.event, code: x.code }));
  }

  /** Sets the round gauge when a run resumes (the counters start again at 0). */
  resumedAt(round: number): void {
    (this.registry.getSingleMetric('fedlink_round') as Gauge | undefined)?.set(round);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
