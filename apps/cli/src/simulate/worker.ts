import { FedlinkClient, TfjsTrainer } from '@fedlink/client';
import { parsePartitionSpec, partition } from '@fedlink/core';
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
      });
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
