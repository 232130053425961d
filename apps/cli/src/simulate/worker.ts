import { FedlinkClient, type FedlinkClientOptions, TfjsTrainer } from '@fedlink/client';
import { parsePartitionSpec, partition } from '@fedlink/core';
import { identityFromSeed } from '@fedlink/crypto';
import nacl from 'tweetnacl';
import { subset } from '@fedlink/ml';
import { loadDataset } from '@fedlink/ml/node';
import { type BackendChoice, selectBackend } from '../backend.js';
import { dropoutPlan, faultyClient } from './faults.js';
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

async function run(start: WorkerStart): Promise<void> {
  const backend = await selectBackend(start.backend as BackendChoice);
  const data = await loadDataset(start.data);
  const parts = partition(data.train.labels, start.numClients, parsePartitionSpec(start.partition), start.seed);
  send({ type: 'ready', backend, clients: start.clients.length });
  await Promise.all(
    start.clients.map(async (i) => {
      const options: FedlinkClientOptions = {
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
      };
      // --dropout: the same client, on a device that vanishes now and then (see faults.ts).
      const client = start.dropout > 0 ? faultyClient(options, dropoutPlan(start.dropout, start.seed, i)) : new FedlinkClient(options);
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
