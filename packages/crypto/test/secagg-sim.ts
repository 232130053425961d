// Test harness: runs a whole SecAgg+ round in one process, clients and coordinator alike, with
// chosen clients going silent at chosen stages. Not a test file itself (no .test.ts suffix).
import { createRng } from '@fedlink/core';
import {
  clientIdOf,
  generateIdentity,
  SecAggClientRound,
  SecAggServerRound,
  type Identity,
  type SecAggInput,
  type SecAggResult,
  type SecAggServerConfig,
} from '@fedlink/crypto';

export type DropStage = 'advertise' | 'shares' | 'masked' | 'unmask';

export interface SimOptions extends Partial<Omit<SecAggServerConfig, 'participants' | 'runId' | 'round'>> {
  n: number;
  vectorLength: number;
  runId?: string;
  round?: number;
  maxExamples?: number;
  identities?: Identity[];
  /** Input of client i; default: pseudo-random deltas in [-0.5, 0.5] with a few outliers, 1..maxExamples examples. */
  input?: (i: number) => SecAggInput;
}

export interface Sim {
  identities: Identity[];
  ids: string[];
  server: SecAggServerRound;
  clients: SecAggClientRound[];
  inputs: SecAggInput[];
}

const pool: Identity[] = [];

/** Long-term identities are reused across the rounds of a test file, as they are across a run's rounds. */
export function identities(n: number): Identity[] {
  while (pool.length < n) pool.push(generateIdentity());
  return pool.slice(0, n);
}

export function makeSim(opts: SimOptions): Sim {
  const identities_ = opts.identities ?? identities(opts.n);
  const ids = identities_.map((id) => clientIdOf(id.signPublicKey));
  const maxExamples = opts.maxExamples ?? 100;
  const { n: _n, identities: _i, input, maxExamples: _m, runId, round, ...config } = opts;
  const server = new SecAggServerRound({
    ...config,
    runId: runId ?? 'run-1',
    round: round ?? 1,
    participants: identities_.map((id, i) => ({ clientId: ids[i]!, signPublicKey: id.signPublicKey, maxExamples })),
  });
  const clients = identities_.map((id) => new SecAggClientRound(id, server.setup, { runId: server.params.runId, round: server.params.round }));
  const rng = createRng(opts.n * 7919 + opts.vectorLength);
  const inputs = identities_.map((_, i) => {
    if (input) return input(i);
    const delta = new Float32Array(opts.vectorLength);
    for (let j = 0; j < delta.length; j++) delta[j] = rng.next() < 0.01 ? (rng.next() - 0.5) * 6 : rng.next() - 0.5;
    return { delta, numExamples: 1 + Math.floor(rng.next() * maxExamples) };
  });
  return { identities: identities_, ids, server, clients, inputs };
}

/** Clients (by index) that go silent just before sending the given stage's message. */
export type Drops = Partial<Record<DropStage, Iterable<number>>>;

/** Drives every stage to completion; throws what the server throws (e.g. SecAggAbortError). */
export async function runSim(sim: Sim, drops: Drops = {}): Promise<SecAggResult> {
  const { server, clients } = sim;
  const gone = new Set<number>();
  const live = (stage: DropStage) => {
    for (const i of drops[stage] ?? []) gone.add(i);
    return clients.map((c, i) => [c, i] as const).filter(([, i]) => !gone.has(i));
  };
  for (const [c] of live('advertise')) await server.receiveAdvertise(await c.advertise());
  const keys = server.closeAdvertise();
  for (const [c] of live('shares')) {
    const m = keys.get(c.clientId);
    if (m) await server.receiveShares(await c.shareKeys(m));
  }
  const routed = server.closeShares();
  for (const [c, i] of live('masked')) {
    const m = routed.get(c.clientId);
    if (m) await server.receiveMasked(await c.maskInput(m, sim.inputs[i]!));
  }
  const requests = server.closeMasked();
  for (const [c] of live('unmask')) {
    const m = requests.get(c.clientId);
    if (m) await server.receiveUnmask(await c.unmask(m));
  }
  return server.unmask();
}

/** sum over `contributors` of n_i * clip(delta_i), and sum of n_i: what the round should output. */
export function plainWeightedSum(sim: Sim, contributors: readonly string[]): { sum: Float64Array; totalExamples: number } {
  const C = sim.server.params.clipRange;
  const sum = new Float64Array(sim.server.params.vectorLength);
  let totalExamples = 0;
  for (const id of contributors) {
    const { delta, numExamples } = sim.inputs[sim.ids.indexOf(id)]!;
    totalExamples += numExamples;
    for (let j = 0; j < sum.length; j++) sum[j]! += numExamples * Math.min(C, Math.max(-C, delta[j]!));
  }
  return { sum, totalExamples };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Picks `count` clients to drop (deterministically from `seed`) such that every client keeps at
 * least t live share holders, which the protocol needs to finish; the round's cost does not
 * depend on which feasible set is chosen.
 */
export function feasibleDrops(sim: Sim, count: number, seed = 1): number[] {
  const { graph, threshold } = sim.server.params;
  const alive = new Set(sim.ids);
  const ok = () => sim.ids.every((id) => (alive.has(id) ? 1 : 0) + graph.neighbours(id).filter((n) => alive.has(n)).length >= threshold);
  const order = sim.ids.map((_, i) => i);
  const rng = createRng(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const dropped: number[] = [];
  for (const i of order) {
    if (dropped.length === count) break;
    alive.delete(sim.ids[i]!);
    if (ok()) dropped.push(i);
    else alive.add(sim.ids[i]!);
  }
  if (dropped.length < count) throw new Error(`could only find ${dropped.length} feasible drops`);
  return dropped;
}
