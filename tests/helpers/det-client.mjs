// A real client in its own process with a deterministic "trainer": each round it pulls the global
// weights a tenth of the way towards a target of its own, on a 2^-16 grid so that the coordinator's
// float64 sums are exact whatever order updates arrive in (runs can then be compared bit for bit).
// Under SCAFFOLD (round:start carries c) it takes the correction as STEPS local SGD steps would:
// y = x + delta - lr * STEPS * (c - c_i), rounded to the same grid; the client runtime keeps c_i.
// Args: url token identityFile index [holdRound]. With holdRound, the first time it trains that
// round it prints "holding <round>" and waits for a line on stdin before answering.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { FedlinkClient } from '@fedlink/client';
import { identityFromJson } from '@fedlink/crypto';

const [url, token, identityFile, indexText, holdText = '0'] = process.argv.slice(2);
const index = Number(indexText);
const holdRound = Number(holdText);
const identity = identityFromJson(JSON.parse(readFileSync(identityFile, 'utf8')));
const lines = createInterface({ input: process.stdin });
const released = new Promise((resolve) => lines.once('line', resolve));
let round = 0;
let held = false;
const grid = 65536;
const STEPS = 2;
const trainer = {
  numExamples: 40 + 10 * index,
  async prepare() {},
  async fit(global, config, hooks = {}) {
    process.stdout.write(`training ${round}\n`);
    if (round === holdRound && !held) {
      held = true;
      process.stdout.write(`holding ${round}\n`);
      await released;
    }
    const delta = new Float32Array(global.length);
    for (let i = 0; i < delta.length; i++) {
      const target = (((i * 2654435761 + index * 40503) >>> 0) % 2001) / 10000 - 0.1;
      const corrected = hooks.correction ? config.learningRate * STEPS * hooks.correction[i] : 0;
      delta[i] = Math.round(((target - global[i]) * 0.1 - corrected) * grid) / grid;
    }
    return { delta, numExamples: this.numExamples, steps: STEPS, metrics: { loss: 1 / round } };
  },
  dispose() {},
};
const client = new FedlinkClient({ url, token, identity, trainer, platform: 'node', backend: 'test' });
client.on('roundStart', (r) => (round = r));
client.on('welcome', (w) => process.stdout.write(`joined ${w.runId} at ${w.round}\n`));
client.run().then(
  (end) => {
    process.stdout.write(`run ${end.status}\n`);
    process.exit(0);
  },
  (e) => {
    process.stderr.write(`client failed: ${e.message}\n`);
    process.exit(1);
  },
);
