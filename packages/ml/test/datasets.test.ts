import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DatasetError, encodeIdx, parseIdx, subset, validateDataset } from '@fedlink/ml';
import { loadDataset, loadIdxDirectory, loadMnistPackage } from '@fedlink/ml/node';

test('the mnist package gives 8,000 train / 2,000 test real digits, the same split every time', async () => {
  const a = await loadMnistPackage();
  expect([a.train.count, a.test.count]).toEqual([8000, 2000]);
  validateDataset(a.train);
  validateDataset(a.test);
  const hist = new Array(10).fill(0);
  for (const y of a.test.labels) hist[y]++;
  expect(Math.min(...hist)).toBeGreaterThan(120); // every digit is in the test set
  const b = await loadMnistPackage();
  expect(Buffer.from(b.test.labels).equals(Buffer.from(a.test.labels))).toBe(true);
  expect(a.train.images.every((v) => v >= 0 && v <= 1)).toBe(true);
});

describe('IDX directories', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fedlink-idx-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const pixels = (n: number) => Uint8Array.from({ length: n * 28 * 28 }, (_, i) => (i * 31) % 256);
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);

  test('plain and gzipped files load, pixels scaled to [0, 1]', async () => {
    await writeFile(join(dir, 'train-images-idx3-ubyte'), encodeIdx([30, 28, 28], pixels(30)));
    await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([30], labels(30))));
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(encodeIdx([12, 28, 28], pixels(12))));
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([12], labels(12)));
    const d = await loadDataset(`idx:${dir}`);
    expect([d.train.count, d.test.count]).toEqual([30, 12]);
    expect(d.train.images[1]).toBeCloseTo(31 / 255, 6);
    expect(Array.from(d.test.labels.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(subset(d.train, [29, 0]).labels[0]).toBe(9);
  });

  test('corrupt or mismatched files get a DatasetError naming the file', async () => {
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([11], labels(11)));
    await expect(loadIdxDirectory(dir)).rejects.toThrow(/12 images but 11 labels/);
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), Uint8Array.from([1, 2, 3, 4, 5]));
    await expect(loadIdxDirectory(dir)).rejects.toThrow(/t10k-labels-idx1-ubyte: bad magic/);
    await writeFile(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([12], Uint8Array.from({ length: 12 }, () => 42)));
    await expect(loadIdxDirectory(dir)).rejects.toThrow(/label 42 .* outside 0..9/);
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
    await expect(loadIdxDirectory(dir)).rejects.toThrow(/not a valid gzip/);
    await expect(loadIdxDirectory(join(dir, 'missing'))).rejects.toThrow(DatasetError);
    await expect(loadDataset('cifar')).rejects.toThrow(/unknown dataset/);
  });

  test('IDX parser refuses truncation and unsupported types', () => {
    const ok = encodeIdx([2, 2], Uint8Array.from([1, 2, 3, 4]));
    expect(parseIdx(ok).dims).toEqual([2, 2]);
    expect(() => parseIdx(ok.subarray(0, ok.length - 1))).toThrow(/describes 4 bytes/);
    const f32 = ok.slice();
    f32[2] = 0x0d;
    expect(() => parseIdx(f32)).toThrow(/not supported/);
  });
});
