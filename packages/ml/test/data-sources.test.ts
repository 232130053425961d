import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetError, validateDataset } from '@fedlink/ml';
import { SHAPE_CLASSES, loadDataset, loadImageFolder, parseCifarBatch, parseImageShape, writeShapeImages } from '@fedlink/ml/node';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedlink-sources-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('images:<dir> (sharp)', () => {
  test('photos of any size are resized to the asked shape, RGB or greyscale, one label per sub-folder', async () => {
    const photos = join(dir, 'photos');
    expect(await writeShapeImages(photos, 5, 7)).toBe(20);
    const rgb = await loadImageFolder(photos, [16, 12, 3]);
    validateDataset(rgb);
    expect(rgb.classes).toEqual([...SHAPE_CLASSES]);
    expect([rgb.count, rgb.height, rgb.width, rgb.channels, rgb.numClasses]).toEqual([20, 16, 12, 3, 4]);
    expect(Array.from(rgb.labels)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    expect(rgb.images.every((x) => x >= 0 && x <= 1)).toBe(true);
    const grey = await loadImageFolder(photos, [8, 8, 1]);
    expect(grey.images.length).toBe(20 * 64);
    // The generator is deterministic: the same seed writes the same files.
    const again = join(dir, 'photos-again');
    await writeShapeImages(again, 5, 7);
    expect((await readFile(join(again, 'vertical', '0004.png'))).equals(await readFile(join(photos, 'vertical', '0004.png')))).toBe(true);
    const split = await loadDataset(`images:${photos}`, { imageShape: [16, 16, 3] });
    expect([split.train.count, split.test.count]).toEqual([16, 4]);
  });

  test('a corrupt image is a DatasetError naming the file; so is a class folder without images', async () => {
    const photos = join(dir, 'corrupt');
    await writeShapeImages(photos, 2, 1);
    await writeFile(join(photos, 'diagonal', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nnot really a png'));
    await expect(loadImageFolder(photos, [8, 8, 3])).rejects.toThrow(new RegExp(`${join(photos, 'diagonal', 'broken.png').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not an image sharp can decode`));
    await mkdir(join(dir, 'empty-class', 'a'), { recursive: true });
    await mkdir(join(dir, 'empty-class', 'b'), { recursive: true });
    await expect(loadImageFolder(join(dir, 'empty-class'), [8, 8, 3])).rejects.toThrow(/class folder a holds no images/);
    await expect(loadDataset(`images:${join(dir, 'nowhere')}`)).rejects.toThrow(DatasetError);
  });

  test('--image-size parses <h>x<w>x<1|3> and nothing else', () => {
    expect(parseImageShape('28x28x1')).toEqual([28, 28, 1]);
    expect(() => parseImageShape('28x28x4')).toThrow(DatasetError);
    expect(() => parseImageShape('big')).toThrow(DatasetError);
  });
});

describe('cifar10:<dir> (binary batches)', () => {
  const record = (label: number, r: number, g: number, b: number) => {
    const rec = new Uint8Array(3073);
    rec[0] = label;
    rec.fill(r, 1, 1025);
    rec.fill(g, 1025, 2049);
    rec.fill(b, 2049, 3073);
    return rec;
  };
  const batch = (...recs: Uint8Array[]) => Buffer.concat(recs);

  test('channel planes become NHWC pixels, batches 1..5 the train split and test_batch the test split', async () => {
    const d = join(dir, 'cifar');
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'data_batch_1.bin'), batch(record(3, 255, 0, 51), record(9, 0, 0, 0)));
    await writeFile(join(d, 'data_batch_2.bin'), batch(record(1, 0, 255, 0)));
    await writeFile(join(d, 'test_batch.bin'), batch(record(0, 1, 2, 3)));
    const s = await loadDataset(`cifar10:${d}`);
    expect([s.train.count, s.test.count, s.train.height, s.train.channels]).toEqual([3, 1, 32, 3]);
    expect(Array.from(s.train.labels)).toEqual([3, 9, 1]);
    expect(Array.from(s.train.images.subarray(0, 6))).toEqual(Array.from(Float32Array.of(1, 0, 0.2, 1, 0, 0.2)));
    expect(Array.from(s.train.images.subarray(2 * 3072, 2 * 3072 + 3))).toEqual([0, 1, 0]);
  });

  test('a ragged batch, a label beyond 9 or a missing test batch: DatasetError', async () => {
    expect(() => parseCifarBatch(new Uint8Array(3074), 'x.bin')).toThrow(/3074 bytes is not a whole number of 3073-byte/);
    expect(() => parseCifarBatch(record(12, 0, 0, 0), 'x.bin')).toThrow(/label 12, outside 0..9/);
    const d = join(dir, 'cifar-partial');
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'data_batch_1.bin'), record(0, 0, 0, 0));
    await expect(loadDataset(`cifar10:${d}`)).rejects.toThrow(/needs data_batch_1.bin \(..5\) and test_batch.bin/);
    await expect(loadDataset('cifar10:')).rejects.toThrow(/unknown dataset 'cifar10:': use mnist\|shakespeare\|topics\|idx:<dir>\|cifar10:<dir>\|images:<dir>\|text:<file-or-dir>/);
  });
});
