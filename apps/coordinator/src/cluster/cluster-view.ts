import type { Redis } from 'ioredis';
import type { DashboardClient, DashboardOpenRound, RunEnd } from '@fedlink/protocol';
import type { RunSettings } from '../config.js';
import type { RoundRecord } from '../state/run-history.js';
import type { Publish, SharedRunState, SharedRunView } from '../state/shared-view.js';
import type { RunRecords } from '../storage/run-records.js';
import type { ClusterKeys, NodeInfo, PartialAnnouncement, RoundRequest } from './cluster-keys.js';
import { parseLease } from './leader-lease.js';

/**
 * A cluster node's view of the whole run, for its REST API and dashboard: the open attempt and
 * its cluster-wide progress from Redis (the leader's request, the nodes' counter), every live
 * node's clients from Redis, the round history and the last completed round from PostgreSQL,
 * the leader from the lease. Nothing here is this node's alone, so every node answers the same.
 */
export class ClusterView implements SharedRunView {
  private readonly sinks = new Set<Publish>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly records: Pick<RunRecords, 'run' | 'rounds'>,
    private readonly runId: string,
    private readonly nodeId: string,
    private readonly settings: RunSettings,
  ) {}

  async read(): Promise<SharedRunState> {
    const { redis, keys } = this;
    const [leaseValue, listed, roundRaw, endRaw, run] = await Promise.all([
      redis.get(keys.lease),
      redis.hkeys(keys.nodes),
      redis.get(keys.round),
      redis.get(keys.end),
      this.records.run(this.runId),
    ]);
    const nodes = await this.liveNodes(listed);
    const clients = await this.clientsOf(nodes);
    const leader = parseLease(leaseValue) ?? null;
    const end = endRaw === null ? null : (JSON.parse(endRaw) as RunEnd);
    let openRound: DashboardOpenRound | null = null;
    if (roundRaw !== null && end === null) {
      const req = JSON.parse(roundRaw) as RoundRequest;
      // Only the current leader's attempt is open: one of a lapsed leader is nobody's to close.
      if (req.runId === this.runId && leader?.token === req.fence && Date.now() <= req.deadline) openRound = await this.progress(req);
    }
    const status = end?.status ?? run?.status ?? 'running';
    return {
      status,
      phase: status !== 'running' ? status : openRound ? 'training' : 'waiting',
      settings: this.settings,
      round: run?.round ?? 0,
      openRound,
      clients,
      cluster: { node: this.nodeId, leader, nodes: nodes.map((n) => ({ nodeId: n.nodeId, clients: n.clients })) },
    };
  }

  async rounds(): Promise<RoundRecord[]> {
    return this.records.rounds(this.runId);
  }

  attach(publish: Publish): () => void {
    this.sinks.add(publish);
    return () => this.sinks.delete(publish);
  }

  /** Sends a dashboard event through every attached gateway (whose adapter carries it to every node's dashboards). */
  publish(event: string, payload: unknown): void {
    for (const s of this.sinks) s(event, payload);
  }

  /** Every live node's clients, each with its node: what the dashboard's client list shows. */
  async clients(): Promise<DashboardClient[]> {
    return this.clientsOf(await this.liveNodes(await this.redis.hkeys(this.keys.nodes)));
  }

  private async clientsOf(nodes: NodeInfo[]): Promise<DashboardClient[]> {
    const views = nodes.length > 0 ? await this.redis.mget(...nodes.map((n) => this.keys.nodeView(n.nodeId))) : [];
    return nodes.flatMap((n, i) => {
      const raw = views[i];
      return raw ? (JSON.parse(raw) as DashboardClient[]).map((c) => ({ ...c, node: n.nodeId })) : [];
    });
  }

  /** The open attempt: the leader's plan and the cluster-wide count of updates the nodes took so far. */
  async progress(req: RoundRequest): Promise<DashboardOpenRound> {
    const [count, answers] = await Promise.all([this.redis.get(this.keys.reported(req.fence, req.key)), this.redis.lrange(this.keys.partials(req.fence, req.key), 0, -1)]);
    const rejected = answers.map((s) => JSON.parse(s) as PartialAnnouncement).reduce((n, a) => n + a.record.rejected, 0);
    const selected = Object.keys(req.assigned).length;
    return { round: req.key.round, attempt: req.key.attempt, selected, target: req.target ?? selected, reported: Number(count ?? 0), rejected, deadline: req.deadline };
  }

  private async liveNodes(listed: string[]): Promise<NodeInfo[]> {
    const ids = [...listed].sort();
    if (ids.length === 0) return [];
    const vals = await this.redis.mget(...ids.map((id) => this.keys.node(id)));
    return vals.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as NodeInfo);
  }
}
