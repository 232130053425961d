import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Strategy } from '@fedlink/core';
import { type Log, type RunSettings, type RunningEdge, edgeRefusal, planRound, startEdge } from '@fedlink/coordinator';
import type { RoundKey } from '@fedlink/protocol';
import { loopbackLimits } from './loopback.js';

/** Which edge simulated client i joins: round-robin, so every edge gets floor or ceil of clients/edges. */
export function edgeOf(client: number, edges: number): number {
  return client % edges;
}

/**
 * One edge's report to the root in one round: its group, or why it sent none; `selected` is the
 * leaf clients its local round selected (absent when no local round ran).
 */
export type EdgeRoundReport = ({ round: number; contributors: number; examples: number } | { round: number; error: string }) & { selected?: number };

/**
 * The training seed the flat run of the same clients gives each leaf in a round: the flat run
 * plans every round over all `clientIds` (simulate waits for all of them), and a client's seed is
 * its place in that round's seeded shuffle, which does not depend on how many are selected.
 * Undefined for an id that is not one of the simulated clients.
 */
export function flatLeafSeeds(run: Pick<RunSettings, 'seed' | 'fit'>, clientIds: readonly string[]): (parent: RoundKey, clientId: string) => number | undefined {
  const known = new Set(clientIds);
  let cached: { key: string; configFor: (id: string) => { seed?: number } } | undefined;
  return (parent, clientId) => {
    if (!known.has(clientId)) return undefined;
    const key = `${parent.round}/${parent.attempt}`;
    if (cached?.key !== key) {
      const plan = planRound({ seed: run.seed, fit: run.fit, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } }, parent, clientIds);
      cached = { key, configFor: plan.configFor };
    }
    return cached.configFor(clientId).seed;
  };
}

/** The tree as the results JSON records it. */
export interface SimulatedTree {
  /** In-process edge aggregators (each its own coordinator, port and state dir) in the simulator's process. */
  mode: 'in-process';
  edges: { name: string; url: string; fingerprint: string; clients: number[]; reports: EdgeRoundReport[] }[];
}

/**
 * The root's settings in a tree: the run's selection, over the leaf clients (delegated selection:
 * the root splits each round's leaf target over the edges by the clients they reported, and each
 * edge selects its share), no SecAgg on its hop.
 */
export function rootSettings(run: RunSettings): RunSettings {
  const refusal = edgeRefusal({ secureAggregation: false }, Strategy.fromSpec(run.strategy));
  if (refusal !== undefined) throw new RangeError(`--edges: ${refusal}`);
  return { ...run, secureAggregation: false };
}

/**
 * An edge's settings for its `clients` simulated clients: everyone connected first, its deadlines
 * and SecAgg+. Its parent gives each round's share, so its own fraction and over-selection are not
 * used; its minFit is 1 (2 under SecAgg+), capped by the share it is asked for.
 */
export function edgeSettings(run: RunSettings, clients: number): Omit<RunSettings, 'model' | 'rounds'> {
  const { model: _model, rounds: _rounds, ...rest } = run;
  const minFit = Math.min(clients, run.secureAggregation ? 2 : 1);
  return { ...rest, selection: { fraction: 1, overSelect: 0, minFit, minAvailable: clients } };
}

export interface SimulatedEdges {
  tree: SimulatedTree;
  /** Where each edge's clients join. */
  endpoints: { url: string; fingerprint: string }[];
  close(): Promise<void>;
}

/** Starts `count` edges joined to the root, each serving the clients edgeOf() gives it; resolves once all listen. */
export async function startSimulatedEdges(
  root: { url: string; fingerprint: string },
  count: number,
  clients: number,
  run: RunSettings,
  token: string,
  log: Log,
  onReport?: (edge: string, report: EdgeRoundReport) => void,
  leafSeed?: (parent: RoundKey, clientId: string) => number | undefined,
): Promise<SimulatedEdges> {
  const tree: SimulatedTree = { mode: 'in-process', edges: [] };
  const running: { edge: RunningEdge; stateDir: string }[] = [];
  const close = async () => {
    await Promise.all(running.map(async ({ edge, stateDir }) => {
      await edge.close();
      await rm(stateDir, { recursive: true, force: true });
    }));
  };
  try {
    for (let e = 0; e < count; e++) {
      const mine = Array.from({ length: clients }, (_, i) => i).filter((i) => edgeOf(i, count) === e);
      const name = `edge-${e}`;
      const entry: SimulatedTree['edges'][number] = { name, url: '', fingerprint: '', clients: mine, reports: [] };
      tree.edges.push(entry);
      const stateDir = await mkdtemp(join(tmpdir(), 'fedlink-sim-edge-'));
      const edge = await startEdge(
        {
          upstream: { url: root.url, token, serverFingerprint: root.fingerprint, name },
          downstream: {
            host: '127.0.0.1',
            port: 0,
            stateDir,
            run: edgeSettings(run, mine.length),
            joinTokens: [token],
            open: false,
            ...loopbackLimits(mine.length),
            logLevel: 'silent',
            persist: false,
          },
          ...(leafSeed ? { leafSeed } : {}),
          onRound: (round, o, local) => {
            const report: EdgeRoundReport = {
              ...('error' in o ? { round, error: o.error } : { round, contributors: o.contributors ?? 1, examples: o.numExamples }),
              ...(local ? { selected: local.selected } : {}),
            };
            entry.reports.push(report);
            onReport?.(name, report);
          },
        },
        { log },
      );
      running.push({ edge, stateDir });
    }
    const ready = await Promise.all(running.map(({ edge }) => edge.ready));
    ready.forEach((c, e) => Object.assign(tree.edges[e]!, { url: c.url, fingerprint: c.fingerprint }));
    return { tree, endpoints: ready.map((c) => ({ url: c.url, fingerprint: c.fingerprint })), close };
  } catch (err) {
    await close();
    throw err;
  }
}
