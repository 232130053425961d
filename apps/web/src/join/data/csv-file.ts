import { DatasetError, parseCsv } from '@fedlink/ml';
import { DataProblem, type LoadedTable } from './types.js';

/**
 * A CSV file picked on the page, read in the tab with the same strict RFC 4180 reader as the CLI.
 * Its rows stay raw: at join they are encoded with the coordinator's statistics (the welcome's
 * `data`), never statistics of their own, so a label or column the run doesn't know is refused then.
 */
export async function loadCsvFile(files: readonly File[]): Promise<LoadedTable> {
  const file = files[0];
  if (!file) throw new DataProblem(['no file picked: choose a .csv file with a header row']);
  if (files.length > 1) throw new DataProblem([`${files.length} files picked: choose one .csv file`]);
  let text: string;
  try {
    text = await file.text();
  } catch {
    throw new DataProblem([`${file.name}: can't be read`]);
  }
  try {
    const table = parseCsv(text, file.name);
    if (table.rows.length === 0) throw new DataProblem([`${file.name}: a header but no data rows`]);
    return { table, name: file.name, source: `${file.name} (columns ${table.header.join(', ')})`, notes: [] };
  } catch (e) {
    if (e instanceof DataProblem) throw e;
    throw new DataProblem([e instanceof DatasetError ? e.message : `${file.name}: not a CSV file`]);
  }
}
