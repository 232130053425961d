import { DatasetError } from './dataset.js';

/** A CSV table: its header and its rows, every row as many fields as the header. */
export interface CsvTable {
  header: string[];
  rows: string[][];
}

/**
 * A strict RFC 4180 reader: comma-separated fields, CRLF or LF line ends, fields in double quotes
 * may hold commas, line breaks and doubled quotes (""). The first record is the header. A row
 * with more or fewer fields than the header (a ragged row), a quote inside an unquoted field, an
 * unclosed quote, an empty or duplicate column name is a DatasetError naming the line.
 * Blank lines are skipped; a trailing line end is allowed.
 */
export function parseCsv(text: string, source = 'csv'): CsvTable {
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // a byte-order mark
  let quoted = false;
  let started = false; // the current record holds something (so a blank line is no record)
  const endRecord = () => {
    fields.push(field);
    if (started || fields.length > 1) records.push({ fields, line: recordLine });
    fields = [];
    field = '';
    started = false;
  };
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        const next = text[i];
        if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') throw new DatasetError(`${source}: line ${line}: text after a closing quote`);
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field.length > 0) throw new DatasetError(`${source}: line ${line}: a quote inside an unquoted field`);
      quoted = true;
      started = true;
      i++;
    } else if (c === ',') {
      fields.push(field);
      field = '';
      started = true;
      i++;
    } else if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
    } else {
      field += c;
      started = true;
      i++;
    }
  }
  if (quoted) throw new DatasetError(`${source}: line ${recordLine}: a quoted field is never closed`);
  if (started || field.length > 0 || fields.length > 0) endRecord();
  const head = records.shift();
  if (!head) throw new DatasetError(`${source}: empty: no header row`);
  const header = head.fields.map((h) => h.trim());
  const seen = new Set<string>();
  for (const h of header) {
    if (h === '') throw new DatasetError(`${source}: the header has an empty column name`);
    if (seen.has(h)) throw new DatasetError(`${source}: the header names column '${h}' twice`);
    seen.add(h);
  }
  for (const r of records) {
    if (r.fields.length !== header.length) throw new DatasetError(`${source}: line ${r.line}: ${r.fields.length} fields, the header has ${header.length} (a ragged row)`);
  }
  return { header, rows: records.map((r) => r.fields) };
}
