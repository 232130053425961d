import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeIdx, type ImageDataset } from '@fedlink/ml';

/** A small IDX directory (the four standard files) cut from the mnist package. */
export async function writeIdx(dir: string, train: ImageDataset, test: ImageDataset): Promise<void> {
  const files: [string, ImageDataset][] = [
    ['train', train],
    ['t10k', test],
  ];
  for (const [prefix, ds] of files) {
    await writeFile(join(dir, `${prefix}-images-idx3-ubyte`), encodeIdx([ds.count, 28, 28], Uint8Array.from(ds.images, (x) => Math.round(x * 255))));
    await writeFile(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx([ds.count], ds.labels));
  }
}
