import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FedlinkClient, TfjsTrainer } from '@fedlink/client';
import { DEFAULT_RUN, silentLog, startCoordinator } from '@fedlink/coordinator';
import { DatasetError, type ImageDataset, ModelError, modelHash } from '@fedlink/ml';
import { loadModelFile } from '@fedlink/ml/node';
import { FedlinkError } from '@fedlink/protocol';
import { TEST_TOKEN, runClientUntilEnd, startTestCoordinator } from '../helpers/coordinator.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/models/conv-bn-dropout/model.json', import.meta.url));

function images(count: number, [height, width, channels]: [number, number, number], numClasses = 10): ImageDataset {
  const size = height * width * channels;
  return {
    images: Float32Array.from({ length: count * size }, (_, i) => ((i * 7919) % 255) / 255),
    labels: Uint8Array.from({ length: count }, (_, i) => i % numClasses),
    count,
    height,
    width,
    channels,
    numClasses,
  };
}

const run = { model: FIXTURE, rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } };

/** Joins with `data`; resolves with the error the client's run ended with. */
const joinError = (url: string, data: ImageDataset, extra: Parameters<typeof runClientUntilEnd>[2] = {}): Promise<unknown> => runClientUntilEnd(url, new TfjsTrainer(data), extra);

describe('a model.json run refuses, with a typed error at join, clients whose data does not fit; the run goes on', () => {
  let coord: Awaited<ReturnType<typeof startTestCoordinator>>;
  beforeAll(async () => {
    coord = await startTestCoordinator(run);
  });
  afterAll(() => coord.cleanup());

  test('the welcome carries the hash of topology + manifest', async () => {
    const m = coord.context.model;
    expect(m.hash).toBe(await modelHash(m.topology, m.manifest));
    expect(m.numParams).toBe(3002);
  });

  test('model/data shape mismatch: unsupported, naming both shapes', async () => {
    const e = await joinError(coord.url, images(20, [32, 32, 3]));
    expect(e).toBeInstanceOf(FedlinkError);
    expect((e as FedlinkError).code).toBe('unsupported');
    expect((e as FedlinkError).message).toBe("the model takes inputs of shape [28, 28, 1], this client's data is [32, 32, 3]");
  });

  test("labels outside the model's classes: unsupported", async () => {
    const e = await joinError(coord.url, images(24, [28, 28, 1], 12));
    expect((e as FedlinkError).code).toBe('unsupported');
    expect((e as FedlinkError).message).toBe("this client's data has labels 0..11, outside the model's 10 classes");
  });

  test('a welcome whose stated hash the received model does not match: model_mismatch', async () => {
    const real = coord.context.model.hash;
    coord.context.model.hash = 'f'.repeat(64);
    try {
      const e = await joinError(coord.url, images(20, [28, 28, 1]));
      expect((e as FedlinkError).code).toBe('model_mismatch');
      expect((e as FedlinkError).message).toMatch(/the model received hashes to [0-9a-f]{16}…, the welcome says f{16}…/);
    } finally {
      coord.context.model.hash = real;
    }
  });

  test('an empty shard: a DatasetError before connecting', () => {
    expect(() => new TfjsTrainer(images(0, [28, 28, 1]))).toThrow(DatasetError);
  });

  test('after all of these, a fitting client trains the round and the run finishes', async () => {
    const client = new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer: new TfjsTrainer(images(40, [28, 28, 1])), platform: 'node', backend: 'test', modelHash: coord.context.model.hash! });
    const rounds: string[] = [];
    coord.engine.on('roundEnded', (r) => rounds.push(r.status));
    const end = await client.run();
    expect(end.status).toBe('finished');
    // A refusing client was admitted before it refused: an attempt it was selected for may have
    // been abandoned and retried; the round itself completes once.
    expect(rounds.filter((r) => r === 'completed')).toHaveLength(1);
    expect(rounds.at(-1)).toBe('completed');
    expect((await coord.done).rounds).toBe(1);
  }, 120_000);
});

describe('bad model files and test data are refused at start (ModelError), and the state dir stays usable', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fedlink-model-file-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const start = (model: string, testData?: ImageDataset) =>
    startCoordinator(
      { host: '127.0.0.1', port: 0, stateDir: join(dir, 'state'), run: { ...DEFAULT_RUN, ...run, model }, joinTokens: [TEST_TOKEN], open: false, maxConnections: 10, logLevel: 'silent', ...(testData ? { testData } : {}) },
      { log: silentLog },
    );

  test('a manifest that leaves weights out: tfjs names them', async () => {
    const json = JSON.parse(await readFile(FIXTURE, 'utf8')) as { weightsManifest: { weights: { name: string; shape: number[] }[] }[] };
    const weights = json.weightsManifest[0]!.weights;
    const dropped = weights.pop()!; // out/bias: 10 floats at the end of weights.bin
    const bin = await readFile(join(FIXTURE, '..', 'weights.bin'));
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await writeFile(join(dir, 'weights.bin'), bin.subarray(0, bin.length - 4 * dropped.shape[0]!));
    await expect(loadModelFile(join(dir, 'model.json'))).rejects.toThrow(ModelError);
    await expect(start(join(dir, 'model.json'))).rejects.toThrow(/tfjs could not build the model: .*/);
  });

  test('weight files shorter than the manifest says', async () => {
    await copyFile(FIXTURE, join(dir, 'model.json'));
    await writeFile(join(dir, 'weights.bin'), new Uint8Array(100));
    await expect(start(join(dir, 'model.json'))).rejects.toThrow(/weight files weights\.bin hold 100 bytes, the manifest describes 12008/);
  });

  test('not a model file at all', async () => {
    await writeFile(join(dir, 'model.json'), '{"format": "graph-model", "modelTopology": {}}');
    await expect(start(join(dir, 'model.json'))).rejects.toThrow(/format 'graph-model' is not a Layers model/);
    await expect(start(join(dir, 'nothing.json'))).rejects.toThrow(/cannot read the model file \(ENOENT\)/);
  });

  test("test data that doesn't fit the model", async () => {
    await expect(start(FIXTURE, images(10, [28, 28, 3]))).rejects.toThrow(new ModelError('the model takes inputs of shape [28, 28, 1], the test data is [28, 28, 3]'));
  });

  test('then a good one starts in the same state dir', async () => {
    const coord = await start(FIXTURE, images(10, [28, 28, 1]));
    expect(coord.context.model.numParams).toBe(3002);
    await coord.close();
  });
});
