import { createRng, shuffleInPlace } from '@fedlink/core';
import type { TabularFeature, TabularStats, TabularTask } from '@fedlink/protocol';
import type { CsvTable } from './csv.js';
import { DatasetError, type ImageDataset } from './dataset.js';

/** `--task`: auto decides from the model's output and the labels. */
export type TaskChoice = TabularTask | 'auto';
export const TASK_CHOICES: readonly TaskChoice[] = ['classification', 'regression', 'auto'];

/** What the coordinator is told to build stats from: the label, the feature columns, the task. */
export interface TabularOptions {
  label: string;
  /** `name`, `name:num`, `name:cat` (one-hot) or `name:id` (a category index, for embeddings); default: every other column, auto-typed. */
  features?: string[];
  task?: TaskChoice;
  /** The model's output: width and last activation (auto: one linear unit is regression). */
  output?: { units: number; activation?: string };
}

/** A number in a CSV field: plain decimal or exponent notation, nothing else (no empty field, no 'Infinity'). */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
export function parseNumberField(text: string): number | undefined {
  const t = text.trim();
  return NUMBER.test(t) ? Number(t) : undefined;
}

function columnIndex(table: CsvTable, name: string, source: string, what: string): number {
  const i = table.header.indexOf(name);
  if (i < 0) throw new DatasetError(`${source}: no ${what} column '${name}'; the columns are ${table.header.join(', ')}`);
  return i;
}

function sortedDistinct(values: string[]): string[] {
  const distinct = [...new Set(values)];
  const numeric = distinct.every((v) => parseNumberField(v) !== undefined);
  return numeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort();
}

/**
 * The statistics every client encodes its rows with, computed from `table` (the coordinator's
 * data): per numeric feature its mean and standard deviation, per categorical or id feature its
 * category list, and the label's classes (classification) or mean and std (regression).
 */
export function computeTabularStats(table: CsvTable, options: TabularOptions, source = 'csv'): TabularStats {
  if (table.rows.length === 0) throw new DatasetError(`${source}: no data rows to compute statistics from`);
  const labelAt = columnIndex(table, options.label, source, 'label');
  const specs = (options.features ?? table.header.filter((h) => h !== options.label)).map((f) => {
    const m = /^(.*?)(?::(num|cat|id))?$/.exec(f)!;
    return { name: m[1]!, kind: m[2] as 'num' | 'cat' | 'id' | undefined };
  });
  if (specs.length === 0) throw new DatasetError(`${source}: no feature columns besides the label '${options.label}'`);
  const features: TabularFeature[] = specs.map(({ name, kind }) => {
    if (name === options.label) throw new DatasetError(`${source}: the label column '${name}' can't also be a feature`);
    const at = columnIndex(table, name, source, 'feature');
    const values = table.rows.map((r) => r[at]!);
    const numbers = values.map(parseNumberField);
    const numeric = kind === 'num' || (kind === undefined && numbers.every((x) => x !== undefined));
    if (!numeric) return { name, kind: kind === 'id' ? 'id' : 'categorical', categories: sortedDistinct(values) };
    const bad = numbers.findIndex((x) => x === undefined);
    if (bad >= 0) throw new DatasetError(`${source}: row ${bad + 1}: column '${name}' is numeric but holds '${values[bad]}'`);
    const xs = numbers as number[];
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    return { name, kind: 'numeric', mean, std: std > 0 ? std : 1 };
  });
  const labels = table.rows.map((r) => r[labelAt]!);
  const labelNumbers = labels.map(parseNumberField);
  const allNumeric = labelNumbers.every((x) => x !== undefined);
  const task = taskFor(options, allNumeric, labelNumbers as number[], source);
  if (task === 'regression') {
    if (!allNumeric) {
      const bad = labelNumbers.findIndex((x) => x === undefined);
      throw new DatasetError(`${source}: row ${bad + 1}: regression label '${options.label}' holds '${labels[bad]}', not a number`);
    }
    const ys = labelNumbers as number[];
    const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
    const std = Math.sqrt(ys.reduce((a, b) => a + (b - mean) ** 2, 0) / ys.length);
    return { label: options.label, task, target: { mean, std: std > 0 ? std : 1 }, features };
  }
  const classes = sortedDistinct(labels);
  if (classes.length > 256) throw new DatasetError(`${source}: label '${options.label}' has ${classes.length} distinct values; classification takes at most 256 classes (use --task regression for a number)`);
  return { label: options.label, task, classes, features };
}

function taskFor(options: TabularOptions, numericLabels: boolean, ys: number[], source: string): TabularTask {
  const task = options.task ?? 'auto';
  if (task !== 'auto') return task;
  const out = options.output;
  if (out) {
    if (out.units > 1) return 'classification';
    if (out.activation === 'sigmoid' || out.activation === 'softmax') throw new DatasetError(`${source}: a model with one ${out.activation} output is not supported; use --task regression with a linear output, or one unit per class`);
    if (!numericLabels) throw new DatasetError(`${source}: the model has one linear output (regression) but label '${options.label}' is not numeric`);
    return 'regression';
  }
  return numericLabels && ys.some((y) => !Number.isInteger(y)) ? 'regression' : 'classification';
}

/** Encoded input width: one per numeric or id feature, one per category of a categorical one. */
export function encodedWidth(stats: TabularStats): number {
  return stats.features.reduce((w, f) => w + (f.kind === 'categorical' ? f.categories.length : 1), 0);
}

/**
 * Rows encoded with the coordinator's `stats` (never the table's own): numeric features as
 * (x - mean) / std, categorical ones one-hot (a category the coordinator never saw: all zeros),
 * id features as their category index. Examples are [1, 1, width] "images", so batching,
 * partitioning and the codec work unchanged. Classification labels are class indices; regression
 * targets are (y - mean) / std with `targetScale` std, so errors can be read in the label's units.
 * A missing column, a non-number in a numeric column, an unknown id or a label outside the
 * classes is a DatasetError naming the row.
 */
export function encodeTable(table: CsvTable, stats: TabularStats, source = 'csv'): ImageDataset {
  const width = encodedWidth(stats);
  const count = table.rows.length;
  const images = new Float32Array(count * width);
  const labels = new Uint8Array(count);
  const targets = stats.task === 'regression' ? new Float32Array(count) : undefined;
  const labelAt = columnIndex(table, stats.label, source, 'label');
  const classIndex = new Map((stats.classes ?? []).map((c, i) => [c, i]));
  const columns = stats.features.map((f) => ({ f, at: columnIndex(table, f.name, source, 'feature'), index: f.kind === 'numeric' ? undefined : new Map(f.categories.map((c, i) => [c, i])) }));
  for (let r = 0; r < count; r++) {
    const row = table.rows[r]!;
    let o = r * width;
    for (const { f, at, index } of columns) {
      const text = row[at]!;
      if (f.kind === 'numeric') {
        const x = parseNumberField(text);
        if (x === undefined) throw new DatasetError(`${source}: row ${r + 1}: column '${f.name}' is numeric but holds '${text}'`);
        images[o++] = (x - f.mean) / f.std;
      } else if (f.kind === 'categorical') {
        const k = index!.get(text);
        if (k !== undefined) images[o + k] = 1;
        o += f.categories.length;
      } else {
        const k = index!.get(text);
        if (k === undefined) throw new DatasetError(`${source}: row ${r + 1}: '${text}' in id column '${f.name}' is not one of the coordinator's ${f.categories.length} ids`);
        images[o++] = k;
      }
    }
    const y = row[labelAt]!;
    if (targets) {
      const v = parseNumberField(y);
      if (v === undefined) throw new DatasetError(`${source}: row ${r + 1}: regression label '${stats.label}' holds '${y}', not a number`);
      targets[r] = (v - stats.target!.mean) / stats.target!.std;
    } else {
      const k = classIndex.get(y);
      if (k === undefined) throw new DatasetError(`${source}: row ${r + 1}: label '${y}' is outside the model's ${classIndex.size} classes (${(stats.classes ?? []).slice(0, 10).join(', ')})`);
      labels[r] = k;
    }
  }
  return {
    images,
    labels,
    count,
    height: 1,
    width: 1,
    channels: width,
    numClasses: targets ? 1 : classIndex.size,
    ...(targets ? { targets, targetScale: stats.target!.std } : {}),
  };
}

function pick(table: CsvTable, indices: ArrayLike<number>): CsvTable {
  return { header: table.header, rows: Array.from(indices, (i) => table.rows[i]!) };
}

/** A deterministic shuffled split of the rows: `testShare` of them (at least one) as the test part. */
export function splitTable(table: CsvTable, testShare: number, seed: number, source = 'csv'): { train: CsvTable; test: CsvTable } {
  if (table.rows.length < 2) throw new DatasetError(`${source}: ${table.rows.length} data row(s); a train and a test split need at least 2`);
  const testCount = Math.min(table.rows.length - 1, Math.max(1, Math.round(table.rows.length * testShare)));
  const idx = Int32Array.from({ length: table.rows.length }, (_, i) => i);
  shuffleInPlace(idx, createRng(seed));
  return { test: pick(table, idx.subarray(0, testCount)), train: pick(table, idx.subarray(testCount)) };
}

/** The rows at `indices` (a client's shard). */
export function tableSubset(table: CsvTable, indices: ArrayLike<number>): CsvTable {
  return pick(table, indices);
}

/**
 * `--partition by:<column>`, LEAF's natural partition: one part per distinct value of the column
 * (sorted as sortedDistinct sorts), each the indices of its rows.
 */
export function partitionByColumn(table: CsvTable, column: string, source = 'csv'): { values: string[]; parts: Int32Array[] } {
  const at = columnIndex(table, column, source, 'partition');
  const values = sortedDistinct(table.rows.map((r) => r[at]!));
  const slot = new Map(values.map((v, i) => [v, i]));
  const lists: number[][] = values.map(() => []);
  table.rows.forEach((r, i) => lists[slot.get(r[at]!)!]!.push(i));
  return { values, parts: lists.map((l) => Int32Array.from(l)) };
}

/** `by:<column>` as typed after --partition, or undefined for the other forms. */
export function partitionColumnOf(spec: string): string | undefined {
  if (!spec.startsWith('by:')) return undefined;
  const column = spec.slice(3);
  if (column === '') throw new DatasetError("--partition by:<column> names no column");
  return column;
}

/** Class labels of rows for the label-based partitions (shards, dirichlet); regression rows are all class 0. */
export function tableLabels(table: CsvTable, stats: TabularStats, source = 'csv'): Uint8Array {
  if (stats.task === 'regression') return new Uint8Array(table.rows.length);
  return encodeTable({ header: table.header, rows: table.rows }, stats, source).labels;
}


/** What a tabular zoo model (tabular-mlp, recommender) is built with, from the coordinator's statistics. */
export function tabularModelOptions(stats: TabularStats): { inputWidth: number; numClasses: number; users?: number; items?: number } {
  const ids = stats.features.filter((f) => f.kind === 'id');
  return {
    inputWidth: encodedWidth(stats),
    numClasses: stats.task === 'regression' ? 1 : stats.classes!.length,
    ...(ids.length === 2 && stats.features.length === 2 ? { users: ids[0]!.categories.length, items: ids[1]!.categories.length } : {}),
  };
}

/**
 * The trivial predictor a model must beat on `test`: for regression the training mean (the
 * standardised target 0: RMSE and MAE in the label's units), for classification the majority class
 * of `train` (its accuracy on `test`).
 */
export function baselineOf(train: ImageDataset, test: ImageDataset): { kind: 'mean'; rmse: number; mae: number } | { kind: 'majority'; accuracy: number; label: number } {
  if (test.targets) {
    const scale = test.targetScale ?? 1;
    let sq = 0;
    let abs = 0;
    for (const t of test.targets) {
      sq += t * t;
      abs += Math.abs(t);
    }
    return { kind: 'mean', rmse: Math.sqrt(sq / test.count) * scale, mae: (abs / test.count) * scale };
  }
  const counts = new Array<number>(train.numClasses).fill(0);
  for (const l of train.labels) counts[l]!++;
  const label = counts.indexOf(Math.max(...counts));
  let right = 0;
  for (const l of test.labels) if (l === label) right++;
  return { kind: 'majority', accuracy: right / test.count, label };
}
