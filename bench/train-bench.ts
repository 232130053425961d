/**
 * Local training throughput per backend, model and batch size, against PyTorch on the
 * same machine, plus memory over a long run.
 *
 *   npm run bench:train -- [--json out.json] [--seconds 5] [--backends fedlink,wasm,cpu]
 *                          [--models cnn,mlp] [--batches 10,50] [--rss-steps 2000]
 *                          [--torch-samples 2000] [--threads N]
 *
 * Prints `backend=<name> model=<m> batch=<b> samples_per_s=<x>` lines; never fails on time.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend, isBackendChoice, type BackendInfo, type ModelName } from '@fedlink/ml';
import { machineInfo } from './lib/machine.js';
import { anchorUnavailable, runTorchAnchor } from './lib/torch-anchor.js';
import { makeTrainer, timeTraining } from './lib/train-step.js';

interface Row {
  backend: string;
  model: ModelName;
  batch: number;
  samples_per_s: number | null;
  steps?: number;
  seconds?: number;
  error?: string;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const anchorScript = resolve(repoRoot, '../shared/anchors/torch_cnn.py');
const seconds = Number(arg('seconds', '5'));
const backends = list(arg('backends', 'tensorflow,fedlink,wasm,cpu'));
const models = list(arg('models', 'cnn,mlp')) as ModelName[];
const batches = list(arg('batches', '10,50')).map(Number);
const rssSteps = Number(arg('rss-steps', '2000'));
const torchSamples = Number(arg('torch-samples', '2000'));
const threadsArg = arg('threads', '');
const jsonPath = arg('json', '');

const fmt = (x: number) => x.toFixed(1);
const rows: Row[] = [];
const infos: Record<string, BackendInfo> = {};
const machine = machineInfo();
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memGiB} GiB, node ${machine.node}, load ${machine.loadavg.join(' ')}`);

async function use(name: string): Promise<boolean> {
  if (!isBackendChoice(name)) throw new Error(`unknown backend ${name}`);
  try {
    infos[name] ??= await initBackend(name, threadsArg ? { threads: Number(threadsArg) } : {});
    if (tf.getBackend() !== name) await tf.setBackend(name);
    return true;
  } catch {
    return false;
  }
}

for (const backend of backends) {
  if (!(await use(backend))) {
    console.log(`backend=${backend}: not available here`);
    continue;
  }
  console.log(`backend=${backend}: ${infos[backend]!.detail}`);
  for (const model of models) {
    for (const batch of batches) {
      const row: Row = { backend, model, batch, samples_per_s: null };
      const trainer = makeTrainer(model, batch);
      try {
        const t = timeTraining(trainer, batch, seconds);
        Object.assign(row, { samples_per_s: Math.round(t.samplesPerS * 10) / 10, steps: t.steps, seconds: Math.round(t.seconds * 100) / 100 });
        console.log(`backend=${backend} model=${model} batch=${batch} samples_per_s=${fmt(t.samplesPerS)}`);
      } catch (e) {
        row.error = e instanceof Error ? e.message.split('\n')[0]! : String(e);
        console.log(`backend=${backend} model=${model} batch=${batch} samples_per_s=n/a error="${row.error}"`);
      } finally {
        trainer.dispose();
      }
      rows.push(row);
    }
  }
}

// Memory over a long run on the default Node backend (fedlink here), CNN at batch 10.
let rss: Record<string, number | string> | undefined;
if (rssSteps > 0 && (await use('fedlink'))) {
  const trainer = makeTrainer('cnn', 10);
  for (let i = 0; i < 20; i++) trainer.step();
  const rss0 = process.memoryUsage().rss;
  const tensors0 = tf.memory().numTensors;
  const t0 = performance.now();
  for (let i = 0; i < rssSteps; i++) trainer.step();
  const secs = (performance.now() - t0) / 1000;
  const rss1 = process.memoryUsage().rss;
  const tensors1 = tf.memory().numTensors;
  trainer.dispose();
  const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  rss = {
    backend: 'fedlink', model: 'cnn', batch: 10, steps: rssSteps, rss_start_mb: mb(rss0), rss_end_mb: mb(rss1),
    rss_growth_mb: mb(rss1 - rss0), tensors_start: tensors0, tensors_end: tensors1, samples_per_s: Math.round((rssSteps * 10) / secs),
  };
  console.log(
    `memory: backend=fedlink model=cnn batch=10 steps=${rssSteps} rss_start_mb=${rss.rss_start_mb} rss_end_mb=${rss.rss_end_mb} ` +
      `rss_growth_mb=${rss.rss_growth_mb} tensors_start=${tensors0} tensors_end=${tensors1} (samples_per_s=${rss.samples_per_s})`,
  );
}

// PyTorch after all tfjs work, so the two never compete for the cores.
const ratios: Record<string, number | string>[] = [];
const noTorch = models.includes('cnn') ? anchorUnavailable(anchorScript) : 'cnn not measured';
if (noTorch) {
  console.log(`backend=torch: not available (${noTorch})`);
} else {
  for (const batch of batches) {
    const r = runTorchAnchor(anchorScript, batch, machine.cores, torchSamples);
    if (!r.ok) {
      console.log(`backend=torch model=cnn batch=${batch} samples_per_s=n/a error="${r.reason}"`);
      rows.push({ backend: 'torch', model: 'cnn', batch, samples_per_s: null, error: r.reason });
      continue;
    }
    console.log(`backend=torch model=cnn batch=${batch} samples_per_s=${fmt(r.samplesPerS)}  (${r.line})`);
    rows.push({ backend: 'torch', model: 'cnn', batch, samples_per_s: r.samplesPerS });
    for (const row of rows) {
      if (row.model === 'cnn' && row.batch === batch && row.backend !== 'torch' && row.samples_per_s) {
        const ratio = Math.round((row.samples_per_s / r.samplesPerS) * 100) / 100;
        ratios.push({ model: 'cnn', batch, backend: row.backend, vs: 'torch', ratio });
        console.log(`ratio model=cnn batch=${batch} ${row.backend}/torch=${ratio.toFixed(2)}`);
      }
    }
  }
}

const end = machineInfo();
console.log(`load at end: ${end.loadavg.join(' ')}`);
if (jsonPath) {
  const doc = { date: new Date().toISOString(), machine, load_end: end.loadavg, backends: infos, rows, ratios, memory: rss };
  writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + '\n');
  console.log(`wrote ${jsonPath}`);
}
// Kernel worker threads are unref'd, but tfjs-node or the wasm backend may hold handles.
process.exit(0);
