/**
 * Secure-aggregation benchmark: `npm run bench:secagg -- [--json out.json] [--n 10,50,100]
 * [--lengths 100000,1663370] [--dropouts 0,0.1,0.3] [--trials 2000]`.
 *
 * Every client and the coordinator run for real, in this one process, one after another: each
 * client's four stage computations are timed separately (so client time excludes the coordinator
 * and the other clients), and the coordinator's time is the sum of its receive/close/unmask calls
 * (schema validation, signature checks, summing, reconstruction, mask removal). No network: bytes
 * are what socket.io would carry (JSON with binary placeholders + the binary attachments).
 * Dropped clients go silent after sharing keys and before sending masked input, the case where the
 * coordinator must reconstruct their mask keys and remove their pairwise masks (the expensive one).
 * Default-k rows drop a set chosen so every neighbourhood keeps t live holders (with the default k,
 * a uniformly random 30% often leaves some below t and the round aborts: the estimated probability
 * is printed); 'k(δ)' rows size k for the dropout (expectedDropout) and drop uniformly at random.
 */
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import { createRng } from '@fedlink/core';
import {
  clientIdOf,
  defaultDegree,
  defaultThreshold,
  generateIdentity,
  NeighbourGraph,
  randomBytes,
  SecAggClientRound,
  SecAggServerRound,
  weightedSumErrorBound,
  type Identity,
} from '@fedlink/crypto';
import { SECAGG_EVENTS } from '@fedlink/protocol';
import { checkFlags } from './lib/cli.js';

interface Args {
  json?: string;
  robust: boolean;
  n: number[];
  lengths: number[];
  dropouts: number[];
  trials: number;
}

const USAGE = 'usage: npm run bench:secagg -- [--json out.json] [--n 10,50,100] [--lengths 100000,1663370] [--dropouts 0,0.1,0.3] [--trials 2000] [--no-robust]';

function parseArgs(argv: string[]): Args {
  checkFlags(argv, USAGE, ['--json', '--n', '--lengths', '--dropouts', '--trials', '--no-robust']);
  const args: Args = { robust: true, n: [10, 50, 100], lengths: [100_000, 1_663_370], dropouts: [0, 0.1, 0.3], trials: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const list = () => value!.split(',').map(Number);
    if (flag === '--no-robust') {
      args.robust = false;
      continue;
    }
    if (flag === '--json') args.json = value;
    else if (flag === '--n') args.n = list();
    else if (flag === '--lengths') args.lengths = list();
    else if (flag === '--dropouts') args.dropouts = list();
    else if (flag === '--trials') args.trials = Number(value);
    else throw new Error(`unknown option ${flag}`);
    i++;
  }
  return args;
}

/** Bytes socket.io would send for `emit(event, msg)`: a JSON packet with placeholders, plus each binary. */
function wireBytes(event: string, msg: unknown): number {
  let binary = 0;
  let attachments = 0;
  const json = JSON.stringify([event, msg], (_k, v: unknown) => {
    if (v instanceof Uint8Array) {
      binary += v.byteLength;
      return { _placeholder: true, num: attachments++ };
    }
    return v;
  });
  return `5${attachments}-`.length + new TextEncoder().encode(json).length + binary;
}

const now = () => performance.now();

async function timed<T>(acc: Record<string, number>, key: string, f: () => Promise<T> | T): Promise<T> {
  const t = now();
  const r = await f();
  acc[key] = (acc[key] ?? 0) + now() - t;
  return r;
}

/** Deterministic pseudo-random delta of client i (benchmark data, not a secret). */
function deltaOf(i: number, length: number): Float32Array {
  const rng = createRng(1000 + i);
  const d = new Float32Array(length);
  for (let j = 0; j < length; j++) d[j] = (rng.next() - 0.5) * 0.02;
  return d;
}

/** Picks `count` clients to drop so that every client keeps t live share holders (see docs). */
function feasibleDrops(ids: string[], graph: NeighbourGraph, t: number, count: number, seed: number): Set<string> {
  const alive = new Set(ids);
  const ok = () => ids.every((id) => (alive.has(id) ? 1 : 0) + graph.neighbours(id).filter((x) => alive.has(x)).length >= t);
  const rng = createRng(seed);
  const order = [...ids].sort(() => rng.next() - 0.5);
  const dropped = new Set<string>();
  for (const id of order) {
    if (dropped.size === count) break;
    alive.delete(id);
    if (ok()) dropped.add(id);
    else alive.add(id);
  }
  if (dropped.size < count) throw new Error(`no feasible set of ${count} drops`);
  return dropped;
}

/** Probability that a uniformly random set of round(dropout * n) drops makes the round abort. */
function abortProbability(n: number, dropout: number, trials: number): number {
  const k = defaultDegree(n);
  const t = defaultThreshold(k);
  const ids = Array.from({ length: n }, (_, i) => `c${i}`);
  const count = Math.round(dropout * n);
  const rng = createRng(n * 31 + Math.round(dropout * 100));
  let aborts = 0;
  for (let trial = 0; trial < trials; trial++) {
    const graph = new NeighbourGraph(ids, k, randomBytes(32));
    const alive = new Set(ids);
    for (const id of [...ids].sort(() => rng.next() - 0.5).slice(0, count)) alive.delete(id);
    const bad = ids.some((id) => (alive.has(id) ? 1 : 0) + graph.neighbours(id).filter((x) => alive.has(x)).length < t);
    if (bad) aborts++;
  }
  return aborts / trials;
}

interface Row {
  /** 'default': k = 2 ceil(log2 n), drops chosen among feasible sets; 'expectedDropout': k sized for the dropout, uniform random drops. */
  kPolicy: 'default' | 'expectedDropout';
  n: number;
  vectorLength: number;
  dropout: number;
  dropped: number;
  k: number;
  t: number;
  clientMs: { mean: number; max: number; advertise: number; shares: number; masked: number; unmask: number };
  coordinatorMs: { total: number; advertise: number; shares: number; masked: number; unmaskReceive: number; unmask: number };
  bytesPerClient: { upload: number; download: number; plaintextFloat32: number };
  expansion: { upload: number; total: number };
  maxAbsError: number;
  errorBound: number;
  abortProbabilityUniformDropout: number | null;
}

async function runOne(identities: Identity[], n: number, L: number, dropout: number, trials: number, kPolicy: Row['kPolicy']): Promise<Row> {
  const ids = identities.slice(0, n);
  const participants = ids.map((id) => ({ clientId: clientIdOf(id.signPublicKey), signPublicKey: id.signPublicKey, maxExamples: 600 }));
  const robust = kPolicy === 'expectedDropout';
  const server = new SecAggServerRound({ runId: 'bench', round: 1, participants, vectorLength: L, ...(robust ? { expectedDropout: dropout } : {}) });
  const { graph, threshold } = server.params;
  const count = Math.round(dropout * n);
  const clientIds = participants.map((p) => p.clientId);
  const dropped = robust ? new Set(clientIds.slice(0, count)) : feasibleDrops(clientIds, graph, threshold, count, 7);
  const S: Record<string, number> = {};
  const C = ids.map(() => ({} as Record<string, number>));
  const up = ids.map(() => 0);
  const down = ids.map(() => 0);

  const clients: SecAggClientRound[] = [];
  for (const [i, id] of ids.entries()) {
    down[i]! += wireBytes(SECAGG_EVENTS.setup, server.setup);
    clients.push(await timed(C[i]!, 'advertise', () => new SecAggClientRound(id, server.setup, { runId: 'bench', round: 1 })));
  }
  for (const [i, c] of clients.entries()) {
    const m = await timed(C[i]!, 'advertise', () => c.advertise());
    up[i]! += wireBytes(SECAGG_EVENTS.advertise, m);
    await timed(S, 'advertise', () => server.receiveAdvertise(m));
  }
  const keys = await timed(S, 'advertise', () => server.closeAdvertise());
  for (const [i, c] of clients.entries()) {
    const k = keys.get(c.clientId)!;
    down[i]! += wireBytes(SECAGG_EVENTS.keys, k);
    const m = await timed(C[i]!, 'shares', () => c.shareKeys(k));
    up[i]! += wireBytes(SECAGG_EVENTS.shares, m);
    await timed(S, 'shares', () => server.receiveShares(m));
  }
  const routed = await timed(S, 'shares', () => server.closeShares());
  const plain = new Float64Array(L);
  let examples = 0;
  for (const [i, c] of clients.entries()) {
    const r = routed.get(c.clientId)!;
    down[i]! += wireBytes(SECAGG_EVENTS.routedShares, r);
    if (dropped.has(c.clientId)) continue;
    const delta = deltaOf(i, L);
    const numExamples = 100 + ((i * 37) % 500);
    const m = await timed(C[i]!, 'masked', () => c.maskInput(r, { delta, numExamples }));
    for (let j = 0; j < L; j++) plain[j]! += numExamples * delta[j]!;
    examples += numExamples;
    up[i]! += wireBytes(SECAGG_EVENTS.masked, m);
    await timed(S, 'masked', () => server.receiveMasked(m));
  }
  const requests = await timed(S, 'masked', () => server.closeMasked());
  for (const [i, c] of clients.entries()) {
    const req = requests.get(c.clientId);
    if (!req) continue;
    down[i]! += wireBytes(SECAGG_EVENTS.unmaskRequest, req);
    const m = await timed(C[i]!, 'unmask', () => c.unmask(req));
    up[i]! += wireBytes(SECAGG_EVENTS.unmask, m);
    await timed(S, 'unmaskReceive', () => server.receiveUnmask(m));
  }
  const result = await timed(S, 'unmask', () => server.unmask());
  if (result.totalExamples !== examples) throw new Error('example total mismatch');
  let maxAbsError = 0;
  for (let j = 0; j < L; j++) maxAbsError = Math.max(maxAbsError, Math.abs(result.weightedSum[j]! - plain[j]!));
  const errorBound = weightedSumErrorBound(server.params.scale, result.count);
  if (maxAbsError > errorBound) throw new Error(`error ${maxAbsError} above bound ${errorBound}`);

  // Client figures over the clients that completed all four stages.
  const full = clients.map((_, i) => i).filter((i) => !dropped.has(clients[i]!.clientId));
  const total = (i: number) => Object.values(C[i]!).reduce((a, b) => a + b, 0);
  const mean = (f: (i: number) => number) => full.reduce((a, i) => a + f(i), 0) / full.length;
  const plaintextFloat32 = 4 * L;
  const upload = mean((i) => up[i]!);
  const download = mean((i) => down[i]!);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    kPolicy,
    n,
    vectorLength: L,
    dropout,
    dropped: dropped.size,
    k: graph.degree,
    t: threshold,
    clientMs: {
      mean: r2(mean(total)),
      max: r2(Math.max(...full.map(total))),
      advertise: r2(mean((i) => C[i]!.advertise ?? 0)),
      shares: r2(mean((i) => C[i]!.shares ?? 0)),
      masked: r2(mean((i) => C[i]!.masked ?? 0)),
      unmask: r2(mean((i) => C[i]!.unmask ?? 0)),
    },
    coordinatorMs: {
      total: r2(Object.values(S).reduce((a, b) => a + b, 0)),
      advertise: r2(S.advertise ?? 0),
      shares: r2(S.shares ?? 0),
      masked: r2(S.masked ?? 0),
      unmaskReceive: r2(S.unmaskReceive ?? 0),
      unmask: r2(S.unmask ?? 0),
    },
    bytesPerClient: { upload: Math.round(upload), download: Math.round(download), plaintextFloat32 },
    expansion: { upload: Math.round((upload / plaintextFloat32) * 10_000) / 10_000, total: Math.round(((upload + download) / plaintextFloat32) * 10_000) / 10_000 },
    maxAbsError,
    errorBound,
    abortProbabilityUniformDropout: dropout > 0 && !robust ? abortProbability(n, dropout, trials) : null,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const loadavgStart = os.loadavg();
  const identities = Array.from({ length: Math.max(...args.n) }, () => generateIdentity());
  const rows: Row[] = [];
  const started = now();
  console.log('     n    entries   drop  k   t   client ms (mean/max)   coordinator ms   up B/client    expansion up/total  P(abort|uniform drop)');
  for (const L of args.lengths) {
    for (const n of args.n) {
      const configs: Array<[number, Row['kPolicy']]> = args.dropouts.map((d) => [d, 'default']);
      if (args.robust && n === Math.max(...args.n)) configs.push([Math.max(...args.dropouts), 'expectedDropout']);
      for (const [dropout, kPolicy] of configs) {
        const row = await runOne(identities, n, L, dropout, args.trials, kPolicy);
        rows.push(row);
        console.log(
          [
            kPolicy === 'default' ? '    ' : 'k(δ)',
            String(n).padEnd(4),
            String(L).padEnd(9),
            `${Math.round(dropout * 100)}%`.padEnd(5),
            String(row.k).padEnd(3),
            String(row.t).padEnd(3),
            `${row.clientMs.mean.toFixed(1)} / ${row.clientMs.max.toFixed(1)}`.padEnd(22),
            row.coordinatorMs.total.toFixed(1).padEnd(16),
            String(row.bytesPerClient.upload).padEnd(14),
            `${row.expansion.upload.toFixed(4)} / ${row.expansion.total.toFixed(4)}`.padEnd(19),
            row.abortProbabilityUniformDropout === null ? '-' : row.abortProbabilityUniformDropout.toFixed(3),
          ].join(' '),
        );
      }
    }
  }
  const ratio = (n: number, L: number) => {
    const base = rows.find((r) => r.n === n && r.vectorLength === L && r.dropout === 0 && r.kPolicy === 'default');
    const worst = rows.find((r) => r.n === n && r.vectorLength === L && r.dropout === 0.3 && r.kPolicy === 'default');
    return base && worst ? Math.round((worst.coordinatorMs.total / base.coordinatorMs.total) * 100) / 100 : null;
  };
  const find = (n: number, L: number, d: number) => rows.find((r) => r.n === n && r.vectorLength === L && r.dropout === d && r.kPolicy === 'default');
  const goals = {
    bytesPerClientOverFloat32_n100_1663370: find(100, 1_663_370, 0)?.expansion.total ?? null,
    clientMeanMs_n100_100000: find(100, 100_000, 0)?.clientMs.mean ?? null,
    coordinatorRatio30vs0_n100_100000: ratio(100, 100_000),
    coordinatorRatio30vs0_n100_1663370: ratio(100, 1_663_370),
  };
  console.log('goals:', JSON.stringify(goals));
  console.log(`total bench time ${((now() - started) / 1000).toFixed(1)} s`);
  if (args.json) {
    const out = {
      bench: 'secagg',
      date: new Date().toISOString(),
      machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavgStart, loadavgEnd: os.loadavg() },
      notes: 'All clients and the coordinator run for real in one process, sequentially; client ms = that client\'s own computation; coordinator ms = sum of its calls; bytes = socket.io payload estimate; dropped clients stop after sharing keys.',
      goals,
      results: rows,
    };
    writeFileSync(args.json, JSON.stringify(out, null, 2));
    console.log(`wrote ${args.json}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
