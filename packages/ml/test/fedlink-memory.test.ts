/**
 * Long training runs on fedlink do not leak: tensor count, wasm-resident tensors and the
 * wasm heap size are the same after 2,000 MLP steps as after the warm-up. (RSS over a
 * long run is reported by `npm run bench:train`, not asserted here.)
 */
import * as tf from '@tensorflow/tfjs';
import { createModel, type ModelName } from '@fedlink/ml';
import { BackendFedlink } from '@fedlink/ml/node';
import { disposeFedlink, initFedlink, randomValues } from './helpers/backends.js';

beforeAll(initFedlink);
afterAll(disposeFedlink);

function fedlink(): BackendFedlink {
  const b = tf.backend();
  if (!(b instanceof BackendFedlink)) throw new Error('fedlink is not the current backend');
  return b;
}

function trainer(model: ModelName, batch: number) {
  const net = createModel(model, { seed: 3 });
  const optimizer = tf.train.sgd(0.05);
  const x = tf.tensor4d(randomValues(batch * 784, 1), [batch, 28, 28, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10).toFloat());
  return {
    step: () =>
      tf.tidy(() => {
        optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, net.apply(x, { training: true }) as tf.Tensor), false);
      }),
    dispose: () => {
      net.dispose();
      optimizer.dispose();
      tf.dispose([x, y]);
    },
  };
}

test.each([
  ['mlp', 10, 2000],
  ['cnn', 4, 100],
] as const)('%s batch %d: %d steps leave tensors and the wasm heap unchanged', async (model, batch, steps) => {
  await tf.setBackend('fedlink');
  const baseTensors = tf.memory().numTensors;
  const baseResident = fedlink().wasmResidentTensors;
  const t = trainer(model, batch);
  for (let i = 0; i < 10; i++) t.step(); // warm-up: weights move into wasm, the heap reaches its size
  const tensors = tf.memory().numTensors;
  const resident = fedlink().wasmResidentTensors;
  const heap = fedlink().runtime.heap.stats();
  for (let i = 0; i < steps; i++) t.step();
  expect(tf.memory().numTensors).toBe(tensors);
  expect(fedlink().wasmResidentTensors).toBe(resident);
  expect(fedlink().runtime.heap.stats()).toEqual(heap);
  t.dispose();
  expect(tf.memory().numTensors).toBe(baseTensors);
  expect(fedlink().wasmResidentTensors).toBe(baseResident);
});
