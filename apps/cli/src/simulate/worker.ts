import { type FaultPlan, FedlinkClient, TfjsTrainer, type VanishPoint } from '@fedlink/client';
import { createRng, parsePartitionSpec, partition } from '@fedlink/core';
import { identityFromSeed } from '@fedlink/crypto';
import nacl from 'tweetnacl';
import { subset } from '@fedlink/ml';
import { loadDataset } from '@fedlink/ml/node';
import { type BackendChoice, selectBackend } from '../backend.js';
import type { WorkerReport, WorkerStart } from './protocol.js';

/**
 * A simulator worker process: hosts several real clients, each with its own identity, socket.io
 * connection and data shard. They share the process's single JS thread, so their training runs
 * one after another; the simulator runs one worker per core.
 */
const send = (m: WorkerReport) => process.send?.(m);

function simulatedIdentity(seed: number, client: number) {
  return identityFromSeed(nacl.hash(new TextEncoder().encode(`fedlink/simulated-client/${seed}/${client}`)).slice(0, 32));
}

const PLAIN_POINTS: VanishPoint[] = ['before-training', 'after-training'];
const SECURE_POINTS: VanishPoint[] = ['before-training', 'advertise', 'shares', 'after-training', 'unmask'];

/** Each round, with probability p, the client vanishes at a point drawn uniformly (seeded). */
function dropoutPlan(p: number, seed: number, client: number): FaultPlan {
  const rng = createRng(Math.imul(seed, 7919) + client * 104_729 + 17);
  return {
    vanishPoint(_round, secure) {
      if (rng.next() >= p) return undefined;
      const points = secure ? SECURE_POINTS : PLAIN_POINTS;
      return points[Math.floor(rng.next() * points.length)];
    },
  };
}

async function run(start: WorkerStart): Promise<void> {
  const backend = await selectBackend(start.backend as BackendChoice);
  const data = await loadDataset(start.data);
  const parts = partition(data.train.labels, start.numClients, parsePartitionSpec(start.partition), start.seed);
  send({ type: 'ready', backend, clients: start.clients.length });
  await Promise.all(
    start.clients.map(async (i) => {
      const client = new FedlinkClient({
        url: start.url,
        token: start.token,
        serverFingerprint: start.fingerprint,
        trainer: new TfjsTrainer(subset(data.train, parts[i]!)),
        platform: 'node',
        backend,
        name: `sim-${i}`,
        // Reproducible runs: client i has the same keys (so the same id, selection and batch
        // order) every time the same seed is used. Simulated keys never leave loopback.
        identity: simulatedIdentity(start.seed, i),
        ...(start.dropout > 0 ? { faults: dropoutPlan(start.dropout, start.seed, i) } : {}),
      });
      if (process.env.FEDLINK_SIM_DEBUG) {
        client.on('rejected', (r, e) => process.stderr.write(`[sim-${i}] round ${r}: ${e.code}: ${e.message}\n`));
        client.on('state', (st, d) => process.stderr.write(`[sim-${i}] ${st}${d ? ` (${d})` : ''}\n`));
      }
      try {
        await client.run();
      } catch (err) {
        send({ type: 'client-error', client: i, message: err instanceof Error ? err.message : String(err) });
      }
    }),
  );
  send({ type: 'done' });
}

process.once('message', (m: WorkerStart) => {
  run(m).then(
    () => process.exit(0),
    (err: unknown) => {
      send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(0));
