import * as tf from '@tensorflow/tfjs';
import {
  DatasetError,
  baselineOf,
  computeTabularStats,
  createModel,
  encodeTable,
  evaluate,
  housingCsv,
  modelFromTopology,
  modelTopology,
  parseCsv,
  partitionByColumn,
  ratingsCsv,
  splitTable,
  trainLocal,
  weightManifest,
} from '@fedlink/ml';
import { loadTable } from '@fedlink/ml/node';
import { TabularStatsSchema } from '@fedlink/protocol';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('parseCsv: strict RFC 4180', () => {
  test('quoted fields hold commas, line breaks and doubled quotes; CRLF and LF; blank lines skipped', () => {
    const t = parseCsv('name,note,x\r\n"Smith, J","said ""hi""\nthen left",1\r\n\r\nplain,,2\n');
    expect(t.header).toEqual(['name', 'note', 'x']);
    expect(t.rows).toEqual([
      ['Smith, J', 'said "hi"\nthen left', '1'],
      ['plain', '', '2'],
    ]);
  });

  test('a ragged row, an unclosed quote, a stray quote, a duplicate or empty column name: DatasetErrors naming the line', () => {
    expect(() => parseCsv('a,b\n1,2\n3\n', 't.csv')).toThrow(new DatasetError('t.csv: line 3: 1 fields, the header has 2 (a ragged row)'));
    expect(() => parseCsv('a,b\n1,2,3\n', 't.csv')).toThrow('t.csv: line 2: 3 fields, the header has 2 (a ragged row)');
    expect(() => parseCsv('a,b\n"1,2\n', 't.csv')).toThrow('t.csv: line 2: a quoted field is never closed');
    expect(() => parseCsv('a,b\n1x"y,2\n', 't.csv')).toThrow('t.csv: line 2: a quote inside an unquoted field');
    expect(() => parseCsv('a,b\n"1"x,2\n', 't.csv')).toThrow('t.csv: line 2: text after a closing quote');
    expect(() => parseCsv('a,a\n1,2\n', 't.csv')).toThrow("t.csv: the header names column 'a' twice");
    expect(() => parseCsv('a,\n1,2\n', 't.csv')).toThrow('t.csv: the header has an empty column name');
    expect(() => parseCsv('', 't.csv')).toThrow('t.csv: empty: no header row');
  });
});

const TABLE = parseCsv(['size,colour,grade,price', '1,red,a,10', '2,blue,b,20', '3,red,a,30', '6,green,b,40'].join('\n'));

describe('statistics fixed by the coordinator, applied by clients', () => {
  test('numeric mean/std, sorted category lists, classes or target mean/std; valid on the wire', () => {
    const reg = computeTabularStats(TABLE, { label: 'price', features: ['size', 'colour'], task: 'regression' });
    expect(reg).toEqual({
      label: 'price',
      task: 'regression',
      target: { mean: 25, std: Math.sqrt(125) },
      features: [
        { name: 'size', kind: 'numeric', mean: 3, std: Math.sqrt(3.5) },
        { name: 'colour', kind: 'categorical', categories: ['blue', 'green', 'red'] },
      ],
    });
    expect(TabularStatsSchema.parse(reg)).toEqual(reg);
    const cls = computeTabularStats(TABLE, { label: 'grade' });
    expect(cls.task).toBe('classification');
    expect(cls.classes).toEqual(['a', 'b']);
    expect(cls.features.map((f) => [f.name, f.kind])).toEqual([
      ['size', 'numeric'],
      ['colour', 'categorical'],
      ['price', 'numeric'],
    ]);
    // auto: one linear output unit is regression, more units classification.
    expect(computeTabularStats(TABLE, { label: 'price', output: { units: 1 } }).task).toBe('regression');
    expect(computeTabularStats(TABLE, { label: 'price', output: { units: 4 } }).task).toBe('classification');
  });

  test("a client's rows are encoded with the coordinator's statistics, not their own; an unseen category is all zeros", () => {
    const stats = computeTabularStats(TABLE, { label: 'price', features: ['size', 'colour:cat', 'grade:id'], task: 'regression' });
    const client = parseCsv('size,colour,grade,price\n3,purple,b,25\n6,red,a,36.18\n');
    const ds = encodeTable(client, stats);
    expect([ds.count, ds.height, ds.width, ds.channels, ds.numClasses]).toEqual([2, 1, 1, 5, 1]);
    const s = Math.sqrt(3.5);
    expect(Array.from(ds.images)).toEqual(Array.from(Float32Array.from([0, 0, 0, 0, 1, 3 / s, 0, 0, 1, 0])));
    expect(Array.from(ds.targets!)).toEqual(Array.from(Float32Array.from([0, 11.18 / Math.sqrt(125)])));
    expect(ds.targetScale).toBe(Math.sqrt(125));
  });

  test('bad rows at a client: a missing label column, a label outside the classes, a non-number in a numeric column, an unknown id', () => {
    const stats = computeTabularStats(TABLE, { label: 'grade', features: ['size', 'colour:id'] });
    expect(() => encodeTable(parseCsv('size,colour\n1,red\n'), stats, 'mine.csv')).toThrow("mine.csv: no label column 'grade'; the columns are size, colour");
    expect(() => encodeTable(parseCsv('size,colour,grade\n1,red,c\n'), stats, 'mine.csv')).toThrow("mine.csv: row 1: label 'c' is outside the model's 2 classes (a, b)");
    expect(() => encodeTable(parseCsv('size,colour,grade\n1,red,a\nbig,red,b\n'), stats, 'mine.csv')).toThrow("mine.csv: row 2: column 'size' is numeric but holds 'big'");
    expect(() => encodeTable(parseCsv('size,colour,grade\n1,mauve,a\n'), stats, 'mine.csv')).toThrow("mine.csv: row 1: 'mauve' in id column 'colour' is not one of the coordinator's 3 ids");
    expect(() => computeTabularStats(TABLE, { label: 'cost' }, 'c.csv')).toThrow("c.csv: no label column 'cost'; the columns are size, colour, grade, price");
    expect(() => computeTabularStats(TABLE, { label: 'price', features: ['colour:num'] }, 'c.csv')).toThrow("c.csv: row 1: column 'colour' is numeric but holds 'red'");
  });

  test('by:<column>: one part per distinct value, every row in exactly one', () => {
    const { values, parts } = partitionByColumn(TABLE, 'colour');
    expect(values).toEqual(['blue', 'green', 'red']);
    expect(parts.map((p) => Array.from(p))).toEqual([[1], [3], [0, 2]]);
    expect(() => partitionByColumn(TABLE, 'shop', 't.csv')).toThrow("t.csv: no partition column 'shop'");
  });

  test('the synthetic tables are deterministic; the 80/20 split too', async () => {
    expect(housingCsv(50)).toBe(housingCsv(50));
    expect(ratingsCsv(5, 6, 3)).toBe(ratingsCsv(5, 6, 3));
    const housing = parseCsv(housingCsv());
    expect(housing.header).toEqual(['area', 'rooms', 'age', 'distance_km', 'district', 'price']);
    expect(housing.rows).toHaveLength(2000);
    const a = splitTable(housing, 0.2, 5);
    expect([a.train.rows.length, a.test.rows.length]).toEqual([1600, 400]);
    expect(splitTable(housing, 0.2, 5).test.rows[0]).toEqual(a.test.rows[0]);
    const ratings = await loadTable('ratings');
    expect(ratings.train.rows.length + ratings.test.rows.length).toBe(3600);
    expect(ratings.defaults).toEqual({ label: 'rating', features: ['user:id', 'item:id'], task: 'regression' });
  });
});

describe('regression training and metrics', () => {
  test('evaluate: MAE and RMSE in the label units of a known linear model; the mean baseline', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ name: 'lin', units: 1, inputShape: [1, 1, 1] })] });
    // prediction = 2x (standardised), flattened into one unit
    model.setWeights([tf.tensor([[2]], [1, 1]), tf.tensor([0])]);
    const flat = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [1, 1, 1] }), tf.layers.dense({ units: 1, name: 'out' })] });
    flat.setWeights([tf.tensor([[2]], [1, 1]), tf.tensor([0])]);
    const data = { images: Float32Array.from([1, 0, -1, 0.5]), labels: new Uint8Array(4), count: 4, height: 1, width: 1, channels: 1, numClasses: 1, targets: Float32Array.from([2, 1, -2, 0]), targetScale: 10 };
    const before = tf.memory().numTensors;
    const ev = await evaluate(flat, data);
    expect(tf.memory().numTensors).toBe(before);
    // errors: 0, -1, 0, 1 (standardised) -> MAE 0.5, RMSE sqrt(0.5), times the scale 10
    expect(ev.accuracy).toBeUndefined();
    expect(ev.loss).toBeCloseTo(0.5, 6);
    expect(ev.mae).toBeCloseTo(5, 5);
    expect(ev.rmse).toBeCloseTo(10 * Math.sqrt(0.5), 5);
    expect(baselineOf(data, data)).toEqual({ kind: 'mean', rmse: 10 * Math.sqrt(9 / 4), mae: 10 * (5 / 4) });
    model.dispose();
    flat.dispose();
  });

  test('tabular-mlp regresses the housing table below the mean predictor; no tensor leaks', async () => {
    const { train, test } = await loadTable('housing');
    const stats = computeTabularStats(train, { label: 'price' });
    expect(stats.task).toBe('regression');
    const tr = encodeTable(train, stats);
    const te = encodeTable(test, stats);
    const model = createModel('tabular-mlp', { inputWidth: tr.channels, numClasses: 1, seed: 3 });
    const before = tf.memory().numTensors;
    const r = await trainLocal(model, tr, { epochs: 3, batchSize: 32, learningRate: 0.05, proximalMu: 0, seed: 1 });
    expect(r.accuracy).toBeUndefined();
    const ev = await evaluate(model, te);
    expect(tf.memory().numTensors).toBe(before);
    const base = baselineOf(tr, te);
    expect(base.kind).toBe('mean');
    expect(ev.rmse!).toBeLessThan((base as { rmse: number }).rmse / 2);
    model.dispose();
  });

  test('recommender: the matrix-factorisation layer survives the topology round trip and learns the ratings', async () => {
    const { train, test } = await loadTable('ratings');
    const stats = computeTabularStats(train, { label: 'rating', features: ['user:id', 'item:id'], task: 'regression' });
    const model = createModel('recommender', { users: 60, items: 80, seed: 2 });
    const rebuilt = await modelFromTopology(modelTopology(model));
    expect(weightManifest(rebuilt).map((w) => [w.name, w.shape])).toEqual([
      ['mf/user_embedding', [60, 4]],
      ['mf/item_embedding', [80, 4]],
      ['mf/user_bias', [60]],
      ['mf/item_bias', [80]],
      ['mf/bias', [1]],
    ]);
    const tr = encodeTable(train, stats);
    const te = encodeTable(test, stats);
    const before = tf.memory().numTensors;
    await trainLocal(rebuilt, tr, { epochs: 15, batchSize: 10, learningRate: 0.3, proximalMu: 0, seed: 1 });
    const ev = await evaluate(rebuilt, te);
    expect(tf.memory().numTensors).toBe(before);
    expect(ev.rmse!).toBeLessThan((baselineOf(tr, te) as { rmse: number }).rmse * 0.6);
    model.dispose();
    rebuilt.dispose();
  });
});

test('classification evaluate gives per-class totals and hits', async () => {
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [1, 1, 2] }), tf.layers.dense({ units: 2, name: 'o', useBias: false })] });
  model.setWeights([tf.tensor([[1, 0], [0, 1]], [2, 2])]);
  const data = { images: Float32Array.from([1, 0, 0, 1, 1, 0]), labels: Uint8Array.from([0, 1, 1]), count: 3, height: 1, width: 1, channels: 2, numClasses: 2 };
  const ev = await evaluate(model, data);
  expect(ev.classCounts).toEqual({ total: [1, 2], correct: [1, 1] });
  expect(ev.accuracy).toBeCloseTo(2 / 3, 6);
  model.dispose();
});
