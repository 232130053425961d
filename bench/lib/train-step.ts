/**
 * The bench's own minimal training loop: SGD (lr 0.05, @fedlink/ml's sgdOptimizer as trainLocal) on softmax cross-entropy, one
 * `optimizer.minimize` inside `tf.tidy` per step, on random data of MNIST shape; a sequential
 * conv/pool/dense model (the 2NN, the CNN) on a backend with the fused step takes that one kernel
 * instead, as trainLocal does. It measures speed only, so the data is noise.
 */
import * as tf from '@tensorflow/tfjs';
import { createModel, fusedSgdStep, fusedStackOf, hasFusedSgdStep, sgdOptimizer, type ModelName } from '@fedlink/ml';

export interface Trainer {
  step(): void;
  dispose(): void;
}

/** Distinct batches cycled through, so no single input stays hot in cache. */
const BATCHES = 8;

export function makeTrainer(model: ModelName, batch: number, seed = 1): Trainer {
  const net = createModel(model, { seed });
  const optimizer = sgdOptimizer(0.05); // what trainLocal uses: one fused update kernel per weight on native
  const xs: tf.Tensor4D[] = [];
  const ys: tf.Tensor[] = [];
  for (let i = 0; i < BATCHES; i++) {
    xs.push(tf.randomNormal([batch, 28, 28, 1], 0, 1, 'float32', seed + i));
    ys.push(tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', seed + i) as tf.Tensor1D, 10).toFloat()));
  }
  let i = 0;
  const stack = hasFusedSgdStep() ? fusedStackOf(net) : undefined;
  return {
    step() {
      const x = xs[i % BATCHES]!;
      const y = ys[i % BATCHES]!;
      i++;
      if (stack) {
        const { loss, hits } = fusedSgdStep(stack, x, y as tf.Tensor2D, 0.05);
        tf.dispose([loss, hits]);
        return;
      }
      tf.tidy(() => {
        optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, net.apply(x, { training: true }) as tf.Tensor), false);
      });
    },
    dispose() {
      net.dispose();
      optimizer.dispose();
      tf.dispose([...xs, ...ys]);
    },
  };
}

export interface Timing {
  samplesPerS: number;
  steps: number;
  seconds: number;
}

/**
 * One warm-up step, then steps until `minSeconds` have passed (at least `minSteps`). A
 * backend so slow that its warm-up step alone exceeds the budget is timed on that step.
 */
export function timeTraining(trainer: Trainer, batch: number, minSeconds: number, minSteps = 3): Timing {
  const w0 = performance.now();
  trainer.step();
  const warm = (performance.now() - w0) / 1000;
  if (warm > minSeconds) return { samplesPerS: batch / warm, steps: 1, seconds: warm };
  for (let k = 0; k < 2; k++) trainer.step();
  let steps = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (steps < minSteps || elapsed < minSeconds) {
    trainer.step();
    steps++;
    elapsed = (performance.now() - t0) / 1000;
  }
  return { samplesPerS: (steps * batch) / elapsed, steps, seconds: elapsed };
}
