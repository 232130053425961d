import type { CsvTable, ImageDataset } from '@fedlink/ml';

/** What the run's model takes: the shape every example is brought to, and its classes. */
export interface InputSpec {
  height: number;
  width: number;
  channels: number;
  numClasses: number;
}

/** Data the person picked, decoded in the tab. */
export interface LoadedData {
  dataset: ImageDataset;
  /** What it is, for the page ("300 demo digits", "folder digits/"). */
  source: string;
  /** Things done to the data the person should know about (e.g. inverted images). */
  notes: string[];
}

/** A CSV file the person picked: raw rows, encoded at join with the coordinator's statistics. */
export interface LoadedTable {
  table: CsvTable;
  /** The file's name, named in the errors of its rows. */
  name: string;
  source: string;
  notes: string[];
}

/** Why the picked data can't be used: one message per problem, in words a person can act on. */
export class DataProblem extends Error {
  override readonly name = 'DataProblem';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}

export type Progress = (done: number, total: number) => void;

export function describeSpec(spec: InputSpec): string {
  return `${spec.width}×${spec.height} ${spec.channels === 1 ? 'greyscale' : `${spec.channels}-channel`} images, ${spec.numClasses} classes`;
}
