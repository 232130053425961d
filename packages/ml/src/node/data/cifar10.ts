import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, type ImageDataset } from '../../dataset.js';

const RECORD = 1 + 3 * 32 * 32;
const PLANE = 32 * 32;

/**
 * One CIFAR-10 binary batch: records of a label byte and 3,072 pixel bytes (1,024 red, then
 * green, then blue, row-major), turned into NHWC float images in [0, 1].
 */
export function parseCifarBatch(bytes: Uint8Array, name: string): ImageDataset {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) throw new DatasetError(`${name}: ${bytes.length} bytes is not a whole number of ${RECORD}-byte CIFAR-10 records`);
  const count = bytes.length / RECORD;
  const images = new Float32Array(count * PLANE * 3);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const at = i * RECORD;
    const label = bytes[at]!;
    if (label > 9) throw new DatasetError(`${name}: record ${i} has label ${label}, outside 0..9`);
    labels[i] = label;
    for (let p = 0; p < PLANE; p++) for (let c = 0; c < 3; c++) images[(i * PLANE + p) * 3 + c] = bytes[at + 1 + c * PLANE + p]! / 255;
  }
  return { images, labels, count, height: 32, width: 32, channels: 3, numClasses: 10 };
}

function concat(parts: ImageDataset[]): ImageDataset {
  const count = parts.reduce((n, p) => n + p.count, 0);
  const images = new Float32Array(count * PLANE * 3);
  const labels = new Uint8Array(count);
  let k = 0;
  for (const p of parts) {
    images.set(p.images, k * PLANE * 3);
    labels.set(p.labels, k);
    k += p.count;
  }
  return { ...parts[0]!, images, labels, count };
}

/** The standard CIFAR-10 binary version: data_batch_1..5.bin (those present) train, test_batch.bin test. */
export async function loadCifar10(dir: string): Promise<{ train: ImageDataset; test: ImageDataset }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new DatasetError(`cifar10:${dir}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const trainFiles = names.filter((n) => /^data_batch_[1-5]\.bin$/.test(n)).sort();
  if (trainFiles.length === 0 || !names.includes('test_batch.bin')) {
    throw new DatasetError(`cifar10:${dir}: needs data_batch_1.bin (..5) and test_batch.bin (the binary version); it holds ${names.slice(0, 8).join(', ') || 'nothing'}`);
  }
  const read = async (n: string) => parseCifarBatch(new Uint8Array(await readFile(join(dir, n))), n);
  return { train: concat(await Promise.all(trainFiles.map(read))), test: await read('test_batch.bin') };
}
