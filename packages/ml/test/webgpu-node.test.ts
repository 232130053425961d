/**
 * WebGPU in Node (Dawn via the `webgpu` package), run here on the SwiftShader software adapter
 * that Debian's chromium package ships (found without a path; CI installs chromium and
 * libvulkan1). The same training steps on webgpu and on cpu reach the same weights within float
 * tolerance, with every tensor disposed; `auto` never takes a software adapter.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type ImageDataset, createModel, initBackend, readFlatWeights, trainLocal } from '@fedlink/ml';
import { findSwiftShaderIcd, hasGpuDeviceNode, isDawnInstalled, loadMnistPackage } from '@fedlink/ml/node';

const ICD = findSwiftShaderIcd();
const dawn = isDawnInstalled();
if (!ICD || !dawn) console.warn(`SKIPPING webgpu tests: ${!dawn ? "the optional 'webgpu' package is not installed" : 'no SwiftShader Vulkan driver (apt-get install -y chromium libvulkan1)'}`);
const describeWebgpu: jest.Describe = ICD && dawn ? describe : describe.skip;

async function trainOn(backend: 'cpu' | 'webgpu', name: 'mlp' | 'cnn', data: ImageDataset, batchSize: number): Promise<{ weights: Float32Array; loss: number; leaked: number }> {
  await initBackend(backend);
  const before = tf.memory().numTensors;
  const model = createModel(name, { seed: 5 });
  const r = await trainLocal(model, data, { epochs: 1, batchSize, learningRate: 0.05, proximalMu: 0, seed: 2 });
  const weights = await readFlatWeights(model);
  model.dispose();
  return { weights, loss: r.loss, leaked: tf.memory().numTensors - before };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describeWebgpu('the webgpu backend in Node (software adapter)', () => {
  let mnist: Awaited<ReturnType<typeof loadMnistPackage>>;
  const first = (n: number): ImageDataset => ({ ...mnist.train, count: n, images: mnist.train.images.subarray(0, n * 784), labels: mnist.train.labels.subarray(0, n) });

  beforeAll(async () => {
    // tests/global-setup.js pointed Vulkan at SwiftShader for the whole test run.
    mnist = await loadMnistPackage();
  });
  afterAll(() => {
    if (tf.findBackend('fedlink') != null) tf.removeBackend('fedlink');
  });

  test("explicit 'webgpu' starts on the SwiftShader adapter and says it is software", async () => {
    const info = await initBackend('webgpu');
    expect(info.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.detail).toMatch(/swiftshader/i);
    expect(info.detail).toMatch(/software: shaders run on the CPU/);
  });

  test("'auto' declines the software adapter", async () => {
    const info = await initBackend('auto');
    expect(info.name).not.toBe('webgpu');
  });

  test('the 2NN: 4 SGD steps on webgpu reach the cpu weights (max |diff| <= 1e-5), no tensor leaks', async () => {
    const data = first(40);
    const cpu = await trainOn('cpu', 'mlp', data, 10);
    const gpu = await trainOn('webgpu', 'mlp', data, 10);
    expect(maxDiff(cpu.weights, gpu.weights)).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(cpu.loss - gpu.loss)).toBeLessThanOrEqual(1e-4);
    expect([cpu.leaked, gpu.leaked]).toEqual([0, 0]);
  });

  test('the paper CNN: 2 SGD steps on webgpu reach the cpu weights (max |diff| <= 1e-5), no tensor leaks', async () => {
    // Two steps of one example each: the stock cpu backend's conv gradients are slow.
    const data = first(2);
    const cpu = await trainOn('cpu', 'cnn', data, 1);
    const gpu = await trainOn('webgpu', 'cnn', data, 1);
    // The step moved the weights (so equality means something) ...
    const initial = createModel('cnn', { seed: 5 });
    await initBackend('cpu');
    const w0 = await readFlatWeights(initial);
    initial.dispose();
    expect(maxDiff(w0, cpu.weights)).toBeGreaterThan(1e-3);
    // ... and both backends moved them the same way.
    expect(maxDiff(cpu.weights, gpu.weights)).toBeLessThanOrEqual(1e-5);
    expect([cpu.leaked, gpu.leaked]).toEqual([0, 0]);
  }, 300_000);
});

test("explicit 'webgpu' without a GPU driver (and without the software switch) is refused with the reason", () => {
  const env = { ...process.env };
  delete env.FEDLINK_WEBGPU_SOFTWARE;
  delete env.VK_ICD_FILENAMES;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import('@fedlink/ml').then(m => m.initBackend('webgpu')).then(i => console.log('started', i.detail), e => { console.log('refused', e.message); })"], { encoding: 'utf8', env, timeout: 60_000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  // On a machine with a GPU driver it starts on a hardware adapter; here it must say why it can't.
  if (line.startsWith('started')) expect(line).not.toMatch(/software/);
  else expect(line).toMatch(/refused could not initialise tfjs backend 'webgpu' in Node: (no WebGPU adapter|the optional 'webgpu' package)/);
});

test("'auto' looks for a GPU device node before loading Dawn: a render node or nvidia0 on Linux, always elsewhere", () => {
  const dev = mkdtempSync(join(tmpdir(), 'fedlink-dev-'));
  try {
    expect(hasGpuDeviceNode('linux', dev)).toBe(false);
    mkdirSync(join(dev, 'dri'));
    writeFileSync(join(dev, 'dri', 'card0'), '');
    expect(hasGpuDeviceNode('linux', dev)).toBe(false); // a display card without a render node
    writeFileSync(join(dev, 'dri', 'renderD128'), '');
    expect(hasGpuDeviceNode('linux', dev)).toBe(true);
    rmSync(join(dev, 'dri'), { recursive: true });
    writeFileSync(join(dev, 'nvidia0'), '');
    expect(hasGpuDeviceNode('linux', dev)).toBe(true);
    expect(hasGpuDeviceNode('darwin', join(dev, 'missing'))).toBe(true);
  } finally {
    rmSync(dev, { recursive: true, force: true });
  }
});
