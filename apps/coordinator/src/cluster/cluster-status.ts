import { Redis } from 'ioredis';
import type { RunEnd } from '@fedlink/protocol';
import { type NodeInfo, type RoundRequest, clusterKeys } from './cluster-keys.js';
import { type Lease, parseLease } from './leader-lease.js';

/** What `fedlink cluster status` shows: read from the cluster's Redis only. */
export interface ClusterStatus {
  cluster: string;
  runId: string | null;
  leader: Lease | null;
  /** Nodes whose liveness key is current, with their joined clients. */
  nodes: NodeInfo[];
  /** Nodes still listed whose liveness lapsed (killed, partitioned). */
  lapsed: string[];
  /** `reported`: updates the nodes took so far (the cluster-wide counter); `target`: the count that closes it. */
  openRound: { round: number; attempt: number; fence: number; deadline: number; answered: string[]; reported: number; target: number } | null;
  end: RunEnd | null;
}

export async function readClusterStatus(redisUrl: string, cluster = 'default'): Promise<ClusterStatus> {
  const keys = clusterKeys(cluster);
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const [runId, leaseValue, listed, roundRaw, endRaw] = await Promise.all([
      redis.get(keys.run),
      redis.get(keys.lease),
      redis.hgetall(keys.nodes),
      redis.get(keys.round),
      redis.get(keys.end),
    ]);
    const ids = Object.keys(listed).sort();
    const live = ids.length > 0 ? await redis.mget(...ids.map((id) => keys.node(id))) : [];
    const nodes = live.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as NodeInfo);
    const lapsed = ids.filter((_, i) => live[i] === null);
    let openRound: ClusterStatus['openRound'] = null;
    if (roundRaw !== null && endRaw === null) {
      const req = JSON.parse(roundRaw) as RoundRequest;
      const [list, count] = await Promise.all([redis.lrange(keys.partials(req.fence, req.key), 0, -1), redis.get(keys.reported(req.fence, req.key))]);
      const answered = list.map((s) => (JSON.parse(s) as { nodeId: string }).nodeId);
      openRound = { round: req.key.round, attempt: req.key.attempt, fence: req.fence, deadline: req.deadline, answered, reported: Number(count ?? 0), target: req.target ?? Object.keys(req.assigned).length };
    }
    return { cluster, runId, leader: parseLease(leaseValue) ?? null, nodes, lapsed, openRound, end: endRaw === null ? null : (JSON.parse(endRaw) as RunEnd) };
  } finally {
    redis.disconnect();
  }
}
