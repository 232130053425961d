import { FedlinkClient, type FedlinkClientOptions, ModelPool, TabularTrainer, TextTrainer, TfjsTrainer, type Trainer } from '@fedlink/client';
import { type CsvTable, splitHoldout, subset, subsetText, tableSubset } from '@fedlink/ml';
import { type DatasetSplit, isTableSpec, loadDataset, loadTable } from '@fedlink/ml/node';
import { partitionTable } from '../tabular-data.js';
import { type BackendChoice, selectBackend } from '../backend.js';
import { type Collude, attackingTrainer, flipLabels } from './attacks.js';
import { dropoutPlan, faultyClient } from './faults.js';
import type { CollusionReply, WorkerReport, WorkerStart } from './protocol.js';
import { simulatedIdentity } from './identity.js';
import { edgeOf } from './tree.js';
import { partsOf } from './parts.js';

/**
 * A simulator worker process: hosts several real clients, each with its own identity, socket.io
 * connection and data shard. They share the process's single JS thread, so their training runs
 * one after another; the simulator runs one worker per core.
 */
const send = (m: WorkerReport) => process.send?.(m);

/** ALIE collusion through the simulator: post this attacker's honest delta, await every attacker's. */
const waiting = new Map<string, ((deltas: Float32Array[]) => void)[]>();
const collude: Collude = (key, honest) =>
  new Promise((resolve) => {
    waiting.set(key, [...(waiting.get(key) ?? []), resolve]);
    send({ type: 'collude', key, delta: honest });
  });
process.on('message', (m: CollusionReply | WorkerStart) => {
  if (m.type !== 'collusion') return;
  const resolvers = waiting.get(m.key) ?? [];
  waiting.delete(m.key);
  for (const r of resolvers) r(m.deltas);
});

async function run(start: WorkerStart): Promise<void> {
  const backend = await selectBackend(start.backend as BackendChoice);
  // csv data: each client holds its rows raw and encodes them with the welcome's statistics.
  const table = isTableSpec(start.data) ? await loadTable(start.data) : undefined;
  const data = table ? undefined : await loadDataset(start.data, { ...(start.imageShape ? { imageShape: start.imageShape } : {}), ...(start.text ? { text: start.text } : {}) });
  const parts = table ? partitionTable(table.train, start.label, start.partition, start.numClients, start.seed, start.data) : partsOf(data!, start.partition, start.numClients, start.seed);
  send({ type: 'ready', backend, clients: start.clients.length });
  // Peak memory for the simulator's summary, every 2 s (unref'd: it never keeps the worker alive).
  const reportRss = () => send({ type: 'rss', maxRssKiB: process.resourceUsage().maxRSS });
  reportRss();
  setInterval(reportRss, 2_000).unref();
  await Promise.all(
    start.clients.map(async (i) => {
      const at = start.edges ? start.edges[edgeOf(i, start.edges.length)]! : start;
      const options: FedlinkClientOptions = {
        url: at.url,
        token: start.token,
        serverFingerprint: at.fingerprint,
        trainer: table ? tabularTrainerFor(start, i, tableSubset(table.train, parts[i]!)) : data!.text ? textTrainerFor(start, i, data!.text, parts[i]!) : trainerFor(start, i, subset(data!.train, parts[i]!)),
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
      let welcomed = false;
      client.on('welcome', () => {
        if (!welcomed) send({ type: 'joined', client: i });
        welcomed = true;
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

/** Client i's trainer: honest, or (an attacker) wrapped by its attack; label-flip flips its data instead. */
function trainerFor(start: WorkerStart, i: number, data: ReturnType<typeof subset>): Trainer {
  const attack = start.attack;
  if (!attack || !start.attackers.includes(i)) {
    if (!start.holdout) return new TfjsTrainer(data, { pool: models });
    const { train, holdout } = splitHoldout(data, start.holdout, Math.imul(start.seed, 7919) + i);
    return new TfjsTrainer(train, { pool: models, holdout });
  }
  if (attack.kind === 'label-flip') return new TfjsTrainer(flipLabels(data), { pool: models });
  return attackingTrainer(new TfjsTrainer(data, { pool: models }), attack, { seed: Math.imul(start.seed, 31) + i, z: start.alieZ, collude });
}

/**
 * Client i's text trainer: its share of the raw examples, encoded with the vocabulary its welcome
 * brings (the worker's own encoding of the data only served to partition it). Attacks don't apply.
 */
function textTrainerFor(start: WorkerStart, i: number, text: NonNullable<DatasetSplit['text']>, part: Int32Array): Trainer {
  if (start.attack) throw new Error('simulated attacks are not available for text data');
  const mine = subsetText(text.train, part);
  return new TextTrainer(mine, { pool: models, ...(start.holdout ? { holdout: start.holdout, holdoutSeed: Math.imul(start.seed, 7919) + i } : {}) });
}

/** Client i's trainer on csv rows: honest, or wrapped by its attack (label-flip needs image labels). */
function tabularTrainerFor(start: WorkerStart, i: number, rows: CsvTable): Trainer {
  const holdout = start.holdout ? { holdout: start.holdout, holdoutSeed: Math.imul(start.seed, 7919) + i } : {};
  const honest = new TabularTrainer(rows, { pool: models, ...holdout, source: start.data });
  const attack = start.attack;
  if (!attack || !start.attackers.includes(i)) return honest;
  if (attack.kind === 'label-flip') throw new Error('the label-flip attack needs image data; csv runs take scale, gaussian or alie');
  return attackingTrainer(honest, attack, { seed: Math.imul(start.seed, 31) + i, z: start.alieZ, collude });
}

/** The worker's tfjs models, lent to its clients one fit at a time: an idle client holds none. */
const models = new ModelPool();

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
