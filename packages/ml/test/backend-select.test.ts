/** initBackend in Node: the automatic choice and explicit choices. */
import * as tf from '@tensorflow/tfjs';
import { initBackend, isBackendChoice } from '@fedlink/ml';
import { loadNative } from '@fedlink/native';

async function tfjsNodeInstalled(): Promise<boolean> {
  try {
    const name = '@tensorflow/tfjs-node';
    await import(name);
    return true;
  } catch {
    return false;
  }
}

afterAll(() => {
  if (tf.findBackend('fedlink') != null) tf.removeBackend('fedlink');
  delete process.env.FEDLINK_NATIVE;
});

test("'auto' in Node picks native if the addon loads, else tfjs-node if installed, else fedlink", async () => {
  const info = await initBackend('auto');
  const expected = loadNative() ? 'native' : (await tfjsNodeInstalled()) ? 'tensorflow' : 'fedlink';
  expect(info.name).toBe(expected);
  if (info.name === 'native') {
    expect(info.detail).toMatch(/^native C\+\+ kernels \((avx512|avx2\+fma|portable), \d+ threads?/);
    expect(info.detail).toContain(`(${loadNative()!.isa()}, `);
  }
  expect(tf.getBackend()).toBe(info.name);
  expect(info.detail.length).toBeGreaterThan(0);
  if (info.name === 'fedlink') expect(info.detail).toMatch(/wasm simd128, \d+ threads?/);
});

test('explicit choices override the automatic one', async () => {
  expect(await initBackend('cpu')).toEqual({ name: 'cpu', detail: 'tfjs cpu (plain JavaScript)' });
  expect(tf.getBackend()).toBe('cpu');
  const fed = await initBackend('fedlink', { threads: 1 });
  expect(fed.name).toBe('fedlink');
  expect(tf.getBackend()).toBe('fedlink');
});

test('with the addon treated as absent (FEDLINK_NATIVE=0), auto falls back and native is refused with the reason', async () => {
  process.env.FEDLINK_NATIVE = '0';
  try {
    const info = await initBackend('auto');
    expect(info.name).toBe((await tfjsNodeInstalled()) ? 'tensorflow' : 'fedlink');
    await expect(initBackend('native')).rejects.toThrow("could not initialise tfjs backend 'native' in Node: disabled by FEDLINK_NATIVE=0");
    const fallback = await initBackend('native', { fallback: true });
    expect(fallback.name).not.toBe('native');
  } finally {
    delete process.env.FEDLINK_NATIVE;
  }
});

test('browser-only backends are refused in Node', async () => {
  await expect(initBackend('webgl')).rejects.toThrow(/could not initialise tfjs backend 'webgl'/);
});

test('isBackendChoice', () => {
  expect(isBackendChoice('fedlink')).toBe(true);
  expect(isBackendChoice('native')).toBe(true);
  expect(isBackendChoice('auto')).toBe(true);
  expect(isBackendChoice('gpu')).toBe(false);
});
