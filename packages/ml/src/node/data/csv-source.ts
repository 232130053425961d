import { readFile } from 'node:fs/promises';
import { type CsvTable, parseCsv } from '../../csv.js';
import { DatasetError } from '../../dataset.js';
import { housingCsv, ratingsCsv } from '../../synthetic-tabular.js';
import { type TaskChoice, splitTable } from '../../tabular.js';

/** The share of a CSV table held out as its test split (deterministic, like images:<dir>). */
export const TABLE_TEST_SHARE = 0.2;
export const TABLE_SPLIT_SEED = 20170217;

/** A table source's rows split into train and test, and the label, features and task it defaults to. */
export interface TableSplit {
  name: string;
  train: CsvTable;
  test: CsvTable;
  defaults: { label?: string; features?: string[]; task?: TaskChoice };
}

/** The tabular specs `--data` accepts: a CSV file, or a synthetic table the package generates. */
export const TABLE_SPECS = ['csv:<file>', 'housing', 'ratings'] as const;

/** Whether `--data` names a table (csv:<file>, housing, ratings) rather than images. */
export function isTableSpec(spec: string): boolean {
  return spec.startsWith('csv:') || spec === 'housing' || spec === 'ratings';
}

/**
 * `csv:<file>` (RFC 4180, a header row), `housing` (2,000 synthetic rows, label price) or
 * `ratings` (3,600 synthetic (user, item, rating) rows of 60 users and 80 items), split 80/20.
 */
export async function loadTable(spec: string): Promise<TableSplit> {
  let text: string;
  let defaults: TableSplit['defaults'] = {};
  if (spec === 'housing') {
    text = housingCsv();
    defaults = { label: 'price' };
  } else if (spec === 'ratings') {
    text = ratingsCsv();
    defaults = { label: 'rating', features: ['user:id', 'item:id'], task: 'regression' };
  } else if (spec.startsWith('csv:') && spec.length > 4) {
    const file = spec.slice(4);
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new DatasetError(`${spec}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  } else throw new DatasetError(`unknown table '${spec}': use ${TABLE_SPECS.join('|')}`);
  const table = parseCsv(text, spec);
  return { name: spec, ...splitTable(table, TABLE_TEST_SHARE, TABLE_SPLIT_SEED, spec), defaults };
}
