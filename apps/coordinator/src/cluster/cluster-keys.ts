import type { RoundKey, TrainConfig } from '@fedlink/protocol';
import type { RoundRecord } from '../state/run-history.js';

/** Every Redis key of one cluster, under `fedlink:<cluster>:`; defined once here. */
export function clusterKeys(cluster: string) {
  const p = `fedlink:${cluster}:`;
  const att = (fence: number, k: RoundKey) => `${fence}:${k.round}:${k.attempt}`;
  return {
    /** The run all nodes serve (SET NX by the first node). */
    run: `${p}run`,
    lease: `${p}leader`,
    /** Hash nodeId -> NodeInfo JSON (status; liveness is the node key's TTL). */
    nodes: `${p}nodes`,
    node: (id: string) => `${p}node:${id}`,
    /** JSON array of the client ids joined to a node (the leader plans over their union). */
    nodeClients: (id: string) => `${p}node:${id}:clients`,
    /** JSON array of the node's clients as the dashboard shows them (every node's /api/status reads all of these). */
    nodeView: (id: string) => `${p}node:${id}:view`,
    /** The open round request (JSON RoundRequest). */
    round: `${p}round`,
    weights: (fence: number, k: RoundKey) => `${p}weights:${att(fence, k)}`,
    partial: (fence: number, k: RoundKey, node: string) => `${p}partial:${att(fence, k)}:${node}`,
    /** List of PartialAnnouncement JSON, one per node that answered the attempt. */
    partials: (fence: number, k: RoundKey) => `${p}partials:${att(fence, k)}`,
    /** Set of client ids whose updates the leader counted in the attempt (exactly once cluster-wide). */
    ledger: (fence: number, k: RoundKey) => `${p}ledger:${att(fence, k)}`,
    /** Counter: updates the nodes took in the attempt so far (INCRBY as each node accepts one): the cluster-wide progress. */
    reported: (fence: number, k: RoundKey) => `${p}reported:${att(fence, k)}`,
    /** Set (NX) by the node whose count reached the attempt's target: every node closes its part ("close <attempt>" announces it). */
    closed: (fence: number, k: RoundKey) => `${p}closed:${att(fence, k)}`,
    /** The run's end (JSON RunEnd), once the leader finished it. */
    end: `${p}end`,
    /** Socket.io's Redis adapter's channel prefix (dashboard events between nodes). */
    io: `${p}io`,
    /** Pub/sub: small notices only ("round", "partial <node>", "reported <node>", "clients <node>", "close <attempt>", "end"); values live under the keys above. */
    events: `${p}events`,
  };
}
export type ClusterKeys = ReturnType<typeof clusterKeys>;

/** An attempt's id in keys and notices: `<fence>:<round>:<attempt>`. */
export const attemptId = (fence: number, k: RoundKey) => `${fence}:${k.round}:${k.attempt}`;

/** A node as `cluster status` shows it. */
export interface NodeInfo {
  nodeId: string;
  url: string;
  clients: number;
  at: number;
}

/** What the leader asks of every node for one attempt; the weights are a blob under `weights`. */
export interface RoundRequest {
  runId: string;
  fence: number;
  key: RoundKey;
  config: TrainConfig;
  /** Epoch ms the leader stops waiting for partial sums. */
  deadline: number;
  weightsKey: string;
  startedAt: number;
  /** The leader's plan over every node's clients: who trains and with which config (as one coordinator would plan it). */
  assigned: Record<string, TrainConfig>;
  /** The plan's target (before over-selection): the cluster-wide count of updates that closes the attempt. */
  target: number;
}

/** A node's answer to an attempt: its partial sum (float64 blob under `sumKey`) or why it has none. */
export type PartialAnnouncement =
  | { nodeId: string; ok: true; sumKey: string; totalExamples: number; count: number; reporters: string[]; record: RoundRecord }
  | { nodeId: string; ok: false; reason: string; record: RoundRecord };

/** Add the clients to the attempt's ledger only if none of them is in it yet (1), else nothing (0). */
export const LEDGER_ADD_ALL_OR_NONE = `
for i = 1, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then return 0 end
end
if #ARGV > 0 then redis.call('SADD', KEYS[1], unpack(ARGV)) end
redis.call('PEXPIRE', KEYS[1], 86400000)
return 1`;
