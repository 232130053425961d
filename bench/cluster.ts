/**
 * Cluster ingest: `npm run bench:cluster -- [--clients 60] [--rounds 3]`.
 *
 * For 1, 2 and 3 node processes (`fedlink serve --cluster`, real redis-server and PostgreSQL on
 * loopback, started by tests/helpers/services.ts), `clients` real clients in this process (spread
 * round-robin over the nodes' ports) each send a sealed MLP update every round; the trainer
 * returns a fixed small delta at once, so the figure is the cluster's ingest (receive, open,
 * verify, add into the node's partial sum, hand over, add at the leader, checkpoint), not training.
 * Per node count it prints the median over rounds of updates/s and sealed MB/s, from the leader's
 * round records in PostgreSQL (reported, bytesIn, seconds: round:start to checkpoint).
 * On one machine the nodes share its cores with each other, the clients, Redis and PostgreSQL:
 * docs/OPERATIONS.md says how to run it across machines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FedlinkClient, type FitOutcome, type Trainer } from '@fedlink/client';
import { PostgresRunRecords } from '@fedlink/coordinator';
import { generateIdentity } from '@fedlink/crypto';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { checkFlags, positiveFlag } from './lib/cli.js';
import { type Proc, freePort, spawnNode } from '../tests/helpers/processes.js';
import { startPostgres, startRedis } from '../tests/helpers/services.js';

const argv = process.argv.slice(2);
checkFlags(argv, 'usage: npm run bench:cluster -- [--clients 60] [--rounds 3]', ['--clients', '--rounds']);
const CLIENTS = positiveFlag(argv, 'clients', 60);
const ROUNDS = positiveFlag(argv, 'rounds', 3);
const TOKEN = 'bench-cluster-token-0123456789';
// Compiled to bench/dist/bench/cluster.js.
const FEDLINK = fileURLToPath(new URL('../../../apps/cli/bin/fedlink.js', import.meta.url));

class ConstantTrainer implements Trainer {
  numExamples = 10;
  async prepare() {}
  async fit(global: Float32Array): Promise<FitOutcome> {
    return { delta: new Float32Array(global.length).fill(1e-4), numExamples: 10, metrics: { loss: 1 } };
  }
  dispose() {}
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-bench-cluster-'));
  const rows: string[] = [];
  try {
    for (const n of [1, 2, 3]) {
      const name = `bench${n}`;
      const admin = new pg.Client({ connectionString: postgres.url });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const database = postgres.url.replace(/\/fedlink$/, `/${name}`);
      const stateDir = join(dir, name);
      const ports: number[] = [];
      const nodes: Proc[] = [];
      for (let i = 0; i < n; i++) {
        const port = await freePort();
        ports.push(port);
        const p = spawnNode([
          FEDLINK, 'serve', '--cluster', redis.url, '--cluster-name', name, '--node-id', `n${i}`, '--database', database, '--port', String(port), '--state-dir', stateDir,
          '--model', 'mlp', '--rounds', String(ROUNDS), '--fraction', '1', '--over-select', '0', '--min-fit', String(CLIENTS), '--min-available', String(CLIENTS),
          '--token', TOKEN, '--exit-on-finish', '--log-level', 'warn', '--round-timeout', '5m', '--wait-timeout', '5m', '--max-connections', String(CLIENTS + 10),
        ]);
        nodes.push(p);
        await p.waitFor(/listening/, 120_000);
      }
      const clients = Array.from({ length: CLIENTS }, (_, i) => new FedlinkClient({ url: `http://127.0.0.1:${ports[i % n]}`, token: TOKEN, identity: generateIdentity(), trainer: new ConstantTrainer(), platform: 'node', backend: 'bench' }));
      await Promise.all(clients.map((c) => c.run()));
      for (const p of nodes) await p.exit(300_000);
      const records = await PostgresRunRecords.open(database);
      const run = (await records.runs())[0]!;
      const rounds = (await records.rounds(run.runId)).filter((r) => r.status === 'completed');
      await records.close();
      const ups = median(rounds.map((r) => r.reported / r.seconds));
      const mbps = median(rounds.map((r) => r.bytesIn / 1e6 / r.seconds));
      const secs = median(rounds.map((r) => r.seconds));
      rows.push(`${String(n).padStart(5)}  ${String(rounds.length).padStart(6)}  ${secs.toFixed(2).padStart(9)}  ${ups.toFixed(1).padStart(10)}  ${mbps.toFixed(1).padStart(8)}`);
      process.stderr.write(`${n} node(s): ${rows[rows.length - 1]}\n`);
    }
  } finally {
    await redis.stop();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(`cluster ingest: ${CLIENTS} clients, MLP (199,210 params), ${ROUNDS} rounds, medians over rounds\n`);
  process.stdout.write('nodes  rounds  round_s  updates/s  sealed_MB/s\n');
  for (const r of rows) process.stdout.write(r + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
