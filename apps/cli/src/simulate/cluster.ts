import { type CoordinatorConfig, type Log, PostgresRunRecords, type RoundRecord, type RunningClusterNode, randomToken, startClusterNode } from '@fedlink/coordinator';

/** `simulate --nodes N`: N cluster nodes in this process, sharing a Redis and a PostgreSQL (given by URL). */
export interface SimulatedCluster {
  nodes: RunningClusterNode[];
  /** Where the clients join: client i the node edgeOf(i, N) (as the tree's edges). */
  endpoints: { url: string; fingerprint: string }[];
  /** The cluster's round records (the leader's), in order. */
  rounds: RoundRecord[];
  /** The final global weights, from the newest checkpoint in PostgreSQL. */
  finalWeights(): Promise<Float32Array | undefined>;
  close(): Promise<void>;
}

export interface ClusterUrls {
  nodes: number;
  redis: string;
  database: string;
}

export async function startSimulatedCluster(config: CoordinatorConfig, urls: ClusterUrls, log: Log, onRound?: (r: RoundRecord) => void): Promise<SimulatedCluster> {
  // Its own cluster name: a Redis shared with other clusters or earlier simulations sees nothing of them.
  const cluster = `sim-${randomToken().slice(0, 12)}`;
  const nodes: RunningClusterNode[] = [];
  const rounds: RoundRecord[] = [];
  const start = async (k: number) => {
    const node = await startClusterNode({ coordinator: { ...config, database: urls.database }, redisUrl: urls.redis, database: urls.database, cluster, nodeId: `${cluster}-n${k}`, log });
    node.on('roundEnded', (r) => {
      rounds.push(r);
      onRound?.(r);
    });
    nodes.push(node);
  };
  const close = async () => {
    await Promise.all(nodes.map((n) => n.close()));
  };
  try {
    // The first node creates the state dir's identity; the others serve the same one.
    await start(0);
    for (let k = 1; k < urls.nodes; k++) await start(k);
  } catch (e) {
    await close();
    throw e;
  }
  return {
    nodes,
    endpoints: nodes.map((n) => ({ url: n.coordinator.url, fingerprint: n.coordinator.fingerprint })),
    rounds,
    async finalWeights() {
      const records = await PostgresRunRecords.open(urls.database);
      try {
        return (await records.loadLatestCheckpoint(nodes[0]!.runId))?.checkpoint.weights;
      } finally {
        await records.close();
      }
    },
    close,
  };
}
