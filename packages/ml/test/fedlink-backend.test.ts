/**
 * The fedlink backend's data handling: values in wasm memory never leak out as views that
 * a later free could change, and tensors move between backends as usual.
 */
import * as tf from '@tensorflow/tfjs';
import { BackendFedlink } from '@fedlink/ml/node';
import { disposeFedlink, initFedlink, randomValues } from './helpers/backends.js';

beforeAll(initFedlink);
afterAll(disposeFedlink);
beforeEach(() => tf.setBackend('fedlink'));

const resident = () => (tf.backend() as BackendFedlink).wasmResidentTensors;

test('dataSync returns a copy, not a view into wasm memory', () => {
  const a = tf.relu(tf.tensor1d([1, -2, 3])); // a wasm kernel output
  const v = a.dataSync();
  v[0] = 100;
  expect(Array.from(a.dataSync())).toEqual([1, 0, 3]);
  expect(v.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  a.dispose();
});

test('a slice outlives the tensor it was cut from', () => {
  const src = tf.relu(tf.tensor2d(randomValues(40, 1), [8, 5]));
  const expected = Array.from(src.dataSync().slice(10, 20));
  const part = tf.slice(src, [2, 0], [2, 5]); // cpu Slice hands out a subarray
  src.dispose();
  const reuse = tf.relu(tf.tensor2d(randomValues(40, 2), [8, 5])); // may reuse the freed block
  expect(Array.from(part.dataSync())).toEqual(expected);
  tf.dispose([part, reuse]);
});

test('a user array given to tf.tensor is neither aliased nor changed', () => {
  const user = new Float32Array([1, -1, 2, -2]);
  const t = tf.tensor1d(user);
  const r = tf.relu(t);
  user[0] = 50;
  expect(Array.from(r.dataSync())).toEqual([1, 0, 2, 0]);
  expect(Array.from(t.dataSync())).toEqual([1, -1, 2, -2]);
  expect(user[1]).toBe(-1);
  tf.dispose([t, r]);
});

test('disposing tensors frees their wasm regions', () => {
  const before = resident();
  const ts = tf.tidy(() => [tf.relu(tf.ones([100])), tf.add(tf.ones([7, 3]), tf.ones([3]))]);
  expect(resident()).toBeGreaterThanOrEqual(before + 2);
  tf.dispose(ts);
  expect(resident()).toBe(before);
});

test('tensors move between cpu and fedlink', async () => {
  await tf.setBackend('cpu');
  const onCpu = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  await tf.setBackend('fedlink');
  const product = tf.matMul(onCpu, onCpu); // moved in, multiplied by wasm
  expect(Array.from(product.dataSync())).toEqual([7, 10, 15, 22]);
  await tf.setBackend('cpu');
  expect(Array.from(tf.add(product, 1).dataSync())).toEqual([8, 11, 16, 23]); // moved out
  tf.dispose([onCpu, product]);
});

test('non-float32 ops fall back to the cpu kernels', () => {
  const a = tf.tensor1d([1, 2, 3], 'int32');
  const s = tf.add(a, tf.scalar(4, 'int32'));
  expect(s.dtype).toBe('int32');
  expect(Array.from(s.dataSync())).toEqual([5, 6, 7]);
  tf.dispose([a, s]);
});

test('memory growth keeps existing tensors intact', () => {
  const small = tf.relu(tf.tensor1d(randomValues(1000, 3)));
  const expected = Array.from(small.dataSync());
  const heapBefore = (tf.backend() as BackendFedlink).runtime.heap.stats().heapBytes;
  const big = tf.relu(tf.ones([64 * 1024 * 1024 / 4])); // 64 MB: forces the memory to grow
  expect((tf.backend() as BackendFedlink).runtime.heap.stats().heapBytes).toBeGreaterThan(heapBefore);
  expect(Array.from(small.dataSync())).toEqual(expected);
  expect(big.max().dataSync()[0]).toBe(1);
  tf.dispose([small, big]);
});
