/**
 * The fused SGD step against tfjs's `optimizer.minimize`, in one process, alternated:
 * `node bench/dist/fused-step-ab.js [--models cnn,mlp] [--batches 10,50] [--rounds 3] [--threads 2]`
 * (after `tsc -p bench/tsconfig.train.json`). Both train the same zoo model from the same seed
 * with plain SGD (lr 0.05) on softmax cross-entropy over 4 random MNIST-shaped batches, on the
 * native backend; each round times a run of steps of each after 3 warm-up steps. Prints
 * `model=<m> batch=<b> round=<r> minimize_ms=<x> fused_ms=<y> speedup=<x/y>`. Needs the addon.
 */
import * as tf from '@tensorflow/tfjs';
import { createModel, fusedSgdStep, fusedStackOf, hasFusedSgdStep, initBackend, sgdOptimizer, type ModelName } from '@fedlink/ml';
import { checkFlags, positiveFlag } from './lib/cli.js';

const USAGE = 'usage: node bench/dist/fused-step-ab.js [--models cnn,mlp] [--batches 10,50] [--rounds 3] [--threads 2]';
const argv = process.argv.slice(2);
checkFlags(argv, USAGE, ['--models', '--batches', '--rounds', '--threads']);
const list = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return (i < 0 ? fallback : argv[i + 1] ?? '').split(',').filter(Boolean);
};
const models = list('models', 'cnn,mlp');
for (const m of models) {
  if (m !== 'cnn' && m !== 'mlp') {
    console.error(`--models takes cnn and mlp, not ${m}\n${USAGE}`);
    process.exit(2);
  }
}
const batches = list('batches', '10,50').map(Number);
if (!batches.every((b) => Number.isInteger(b) && b > 0)) {
  console.error(`--batches takes positive whole numbers\n${USAGE}`);
  process.exit(2);
}
const rounds = positiveFlag(argv, 'rounds', 3);
const threads = positiveFlag(argv, 'threads', 2);

const info = await initBackend('native', { threads });
if (info.name !== 'native' || !hasFusedSgdStep()) {
  console.error(`the native backend is not available here (${info.name}): nothing to compare`);
  process.exit(1);
}

for (const model of models as ModelName[]) {
  for (const batch of batches) {
    const net = createModel(model, { seed: 1 });
    const stack = fusedStackOf(net)!;
    const optimizer = sgdOptimizer(0.05);
    const xs = [0, 1, 2, 3].map((i) => tf.randomNormal([batch, 28, 28, 1], 0, 1, 'float32', i));
    const ys = [0, 1, 2, 3].map((i) => tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', i) as tf.Tensor1D, 10).toFloat() as tf.Tensor2D));
    let k = 0;
    const fused = () => tf.dispose(Object.values(fusedSgdStep(stack, xs[k % 4]!, ys[k++ % 4]!, 0.05)));
    const minimize = () =>
      tf.tidy(() => {
        const x = xs[k % 4]!;
        const y = ys[k++ % 4]!;
        optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, net.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, false);
      });
    const steps = Math.max(5, Math.round((model === 'cnn' ? 6000 : 200000) / batch / 10));
    const time = (step: () => void): number => {
      for (let i = 0; i < 3; i++) step();
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) step();
      return (performance.now() - t0) / steps;
    };
    for (let r = 1; r <= rounds; r++) {
      const a = time(minimize);
      const b = time(fused);
      console.log(`model=${model} batch=${batch} round=${r} minimize_ms=${a.toFixed(3)} fused_ms=${b.toFixed(3)} speedup=${(a / b).toFixed(2)}`);
    }
    net.dispose();
    optimizer.dispose();
    tf.dispose([...xs, ...ys]);
  }
}
