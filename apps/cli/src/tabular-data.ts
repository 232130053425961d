import { readFile } from 'node:fs/promises';
import { isZooModel } from '@fedlink/coordinator';
import { parsePartitionSpec, partition } from '@fedlink/core';
import {
  type CsvTable,
  DatasetError,
  type ImageDataset,
  TABULAR_MODELS,
  TASK_CHOICES,
  type TaskChoice,
  computeTabularStats,
  encodeTable,
  modelOutput,
  partitionByColumn,
  partitionColumnOf,
} from '@fedlink/ml';
import { type TableSplit, loadModelFile, loadTable } from '@fedlink/ml/node';
import { type TabularStats, TabularStatsSchema, parseMessage } from '@fedlink/protocol';
import { type OptionSpec, type ParsedValue, UsageError } from './args.js';

/** `--label`, `--features`, `--task`: how csv data becomes examples (serve, join, simulate). */
export function tabularOptions(): Record<string, OptionSpec> {
  return {
    label: { type: 'string', placeholder: '<column>', description: 'csv data: the label column (housing: price, ratings: rating)' },
    features: {
      type: 'string',
      placeholder: 'a,b:cat,c:id',
      description: 'csv data: the feature columns (default: all but the label); :num a number (standardised), :cat one-hot, :id a category index (embeddings); untyped: number if every value is one, else one-hot',
    },
    task: { type: 'string', choices: TASK_CHOICES as TaskChoice[], default: 'auto', description: "csv data: classification (softmax cross-entropy, accuracy) or regression (MSE loss, MAE/RMSE); auto: from the model's output (one linear unit: regression) and the labels" },
  };
}

/** The label, features and task of a table: the flags, else the source's defaults. */
function tableOptions(v: Record<string, ParsedValue>, split: TableSplit): { label: string; features?: string[]; task: TaskChoice } {
  const label = (v.label as string | undefined) ?? split.defaults.label;
  if (label === undefined) throw new UsageError(`--label <column> is needed with ${split.name} (its columns: ${split.train.header.join(', ')})`);
  const given = v.features as string | undefined;
  const features = given !== undefined ? given.split(',').map((s) => s.trim()).filter((s) => s !== '') : split.defaults.features;
  const task = v.task === 'auto' && split.defaults.task ? split.defaults.task : (v.task as TaskChoice);
  return { label, ...(features ? { features } : {}), task };
}

/** The output of the run's model (for --task auto): none for a tabular zoo model (built from the stats), else read from the model. */
async function outputOf(modelRef: string): Promise<{ units: number; activation?: string } | undefined> {
  if (isZooModel(modelRef)) return TABULAR_MODELS.includes(modelRef) ? undefined : { units: 10 };
  const model = await loadModelFile(modelRef);
  try {
    return modelOutput(model);
  } finally {
    model.dispose();
  }
}

/** A stats file (`--stats`): JSON, validated against the wire schema. */
export async function readStatsFile(file: string): Promise<TabularStats> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--stats: cannot read ${file} as JSON: ${(e as Error).message}`);
  }
  try {
    return parseMessage(TabularStatsSchema, raw, 'tabular statistics');
  } catch (e) {
    throw new UsageError(`--stats: ${file}: ${(e as Error).message}`);
  }
}

/**
 * The coordinator's side of a table: statistics from its train rows (or the stats file given),
 * and its test rows encoded with them. A bad label or feature column is a DatasetError here, at start.
 */
export async function coordinatorTable(v: Record<string, ParsedValue>, spec: string, modelRef: string, statsFile?: string): Promise<{ split: TableSplit; stats: TabularStats; test: ImageDataset }> {
  const split = await loadTable(spec);
  const stats = statsFile !== undefined ? await readStatsFile(statsFile) : computeTabularStats(split.train, { ...tableOptions(v, split), output: await outputOf(modelRef) }, spec);
  return { split, stats, test: encodeTable(split.test, stats, `${spec} (test rows)`) };
}

/** Stats without data (`serve --data none --stats <file>`). */
export async function statsOnly(file: string): Promise<TabularStats> {
  return readStatsFile(file);
}

/**
 * The rows of each client: `by:<column>` gives one part per distinct value (LEAF's natural
 * split, so `clients` must be that count); iid, shards and dirichlet cut by the raw label values.
 * A client left with no rows is a DatasetError.
 */
export function partitionTable(table: CsvTable, label: string | undefined, text: string, clients: number, seed: number, source: string): Int32Array[] {
  const column = partitionColumnOf(text);
  if (column !== undefined) {
    const { values, parts } = partitionByColumn(table, column, source);
    if (clients !== values.length) {
      throw new DatasetError(
        `--partition by:${column}: ${source} has ${values.length} distinct ${column} value(s), so ${values.length} client(s); ${clients} asked for${clients > values.length ? ` (client(s) ${values.length + 1}..${clients} would have an empty shard)` : ''}`,
      );
    }
    return parts;
  }
  let spec;
  try {
    spec = parsePartitionSpec(text);
  } catch (e) {
    throw new UsageError(`--partition: ${(e as Error).message}`);
  }
  const at = label !== undefined ? table.header.indexOf(label) : -1;
  const values = at >= 0 ? table.rows.map((r) => r[at]!) : table.rows.map(() => '');
  const index = new Map([...new Set(values)].sort().map((x, i) => [x, i]));
  const parts = partition(values.map((x) => index.get(x)!), clients, spec, seed);
  const empty = parts.findIndex((p) => p.length === 0);
  if (empty >= 0) throw new DatasetError(`--partition ${text}: client ${empty + 1} of ${clients} has an empty shard of ${source}`);
  return parts;
}

/** The label a client partitions by before it has the coordinator's statistics: the flag, else the source's default. */
export function clientLabel(v: Record<string, ParsedValue>, split: TableSplit): string | undefined {
  return (v.label as string | undefined) ?? split.defaults.label;
}
