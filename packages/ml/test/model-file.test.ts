import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { ModelError, assertDataFits, createModel, getFlatWeights, modelHash, modelSignature, modelTopology, weightManifest } from '@fedlink/ml';
import { loadModelFile } from '@fedlink/ml/node';

const FIXTURE = fileURLToPath(new URL('../../../tests/fixtures/models/conv-bn-dropout/model.json', import.meta.url));

test('loadModelFile reads topology and weights with file IO: the weights are the bytes of weights.bin, in manifest order (trainable, then batch-norm statistics)', async () => {
  const model = await loadModelFile(FIXTURE);
  try {
    const bin = await readFile(new URL('../../../tests/fixtures/models/conv-bn-dropout/weights.bin', import.meta.url));
    const flat = getFlatWeights(model);
    expect(Buffer.from(flat.buffer).equals(bin)).toBe(true);
    expect(model.layers.map((l) => l.getClassName())).toEqual(['Conv2D', 'BatchNormalization', 'Activation', 'MaxPooling2D', 'Dropout', 'Flatten', 'Dense']);
    expect(modelSignature(model)).toEqual({ inputShape: [28, 28, 1], outputUnits: 10 });
    expect(weightManifest(model).map((w) => w.name)).toEqual(['conv/kernel', 'conv/bias', 'bn/gamma', 'bn/beta', 'out/kernel', 'out/bias', 'bn/moving_mean', 'bn/moving_variance']);
  } finally {
    model.dispose();
  }
});

test('modelHash: the same architecture hashes the same whatever the key order; another one differs', async () => {
  const a = createModel('mlp', { seed: 1 });
  const b = createModel('mlp', { seed: 1 });
  const c = createModel('cnn', { seed: 1 });
  try {
    const topo = modelTopology(a);
    const reverseKeys = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reverseKeys) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)])) : v;
    const reordered = reverseKeys(topo) as Record<string, unknown>;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(topo));
    const h = await modelHash(topo, weightManifest(a));
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(await modelHash(reordered, weightManifest(a))).toBe(h);
    // A rebuild of the same model (weights are not hashed; the initializers' seeds are topology).
    expect(await modelHash(modelTopology(b), weightManifest(b))).toBe(h);
    expect(await modelHash(modelTopology(c), weightManifest(c))).not.toBe(h);
  } finally {
    tf.dispose([a, b, c].flatMap((m) => m.weights.map((w) => w.read())));
  }
});

test('assertDataFits names the shapes, and accepts data with fewer classes than the model', async () => {
  const model = createModel('cifar-cnn', { seed: 1 });
  try {
    expect(() => assertDataFits(model, { height: 32, width: 32, channels: 3, numClasses: 4 })).not.toThrow();
    expect(() => assertDataFits(model, { height: 28, width: 28, channels: 1, numClasses: 10 })).toThrow(new ModelError('the model takes inputs of shape [32, 32, 3], the data is [28, 28, 1]'));
    expect(() => assertDataFits(model, { height: 32, width: 32, channels: 3, numClasses: 11 })).toThrow(/labels 0..10, outside the model's 10 classes/);
  } finally {
    model.dispose();
  }
});
