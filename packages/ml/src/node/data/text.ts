import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createRng, shuffleInPlace } from '@fedlink/core';
import { DatasetError } from '../../dataset.js';
import { topicsCorpus } from '../../synthetic-text.js';
import { type ClassifyExamples, DEFAULT_SEQ_LENGTH, type NextCharExamples, type TextExamples, type TextTask, windowStarts } from '../../text.js';

/** How `text:<file-or-dir>` is read. */
export interface TextSourceOptions {
  /** auto: classify for a folder of class sub-folders, next-char otherwise. A label<TAB>text file needs classify. */
  task?: TextTask | 'auto';
  /** Characters per window (next-char) or words kept per document (classify); default 80. */
  seqLength?: number;
  /** next-char: a window starts every `stride` characters (default 1, every position, as LEAF). */
  stride?: number;
}

/** Examples read from a text source, and the natural group (speaker, file) of each. */
export interface TextSource {
  task: TextTask;
  examples: TextExamples;
  /** Group index of each example. */
  groups: Int32Array;
  /** Name of each group: a speaker (dialogue file), a file (folder), or one name per document (classify). */
  groupNames: string[];
}

interface Doc {
  name: string;
  text: string;
  label?: string;
}

const TEXT_FILE = /\.(txt|text|md)$/i;
const SPEAKER = /^([A-Z][A-Za-z' .,-]{0,40}):\s*$/;

async function readText(path: string, what: string): Promise<string> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new DatasetError(`${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (buf.includes(0)) throw new DatasetError(`${what}: ${path} is not a text file (it holds NUL bytes)`);
  return buf.toString('utf8').replace(/\r\n?/g, '\n');
}

/**
 * A play's dialogue (blocks "NAME:\n lines", blank-line separated, as the tinyshakespeare corpus
 * and LEAF's Shakespeare): one document per speaker, every line of theirs in order. Null when
 * most blocks don't start with a speaker line.
 */
export function splitBySpeaker(text: string): Doc[] | null {
  const blocks = text.split(/\n\s*\n/).filter((b) => b.trim().length > 0);
  const bySpeaker = new Map<string, string[]>();
  let spoken = 0;
  for (const block of blocks) {
    const lines = block.replace(/\s+$/, '').split('\n');
    const m = SPEAKER.exec(lines[0]!.trim());
    if (!m || lines.length < 2) continue;
    spoken++;
    const name = m[1]!;
    bySpeaker.set(name, [...(bySpeaker.get(name) ?? []), lines.slice(1).join('\n')]);
  }
  if (blocks.length < 4 || spoken < blocks.length * 0.8) return null;
  return [...bySpeaker.entries()].map(([name, parts]) => ({ name, text: parts.join('\n') + '\n' }));
}

async function readDocs(path: string, task: TextTask | 'auto'): Promise<{ task: TextTask; docs: Doc[] }> {
  const what = `text:${path}`;
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    throw new DatasetError(`${what}: no such file or folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (isDir) {
    const entries = await readdir(path, { withFileTypes: true });
    const folders = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
    const files = entries.filter((e) => e.isFile() && TEXT_FILE.test(e.name)).map((e) => e.name).sort();
    const chosen: TextTask = task === 'auto' ? (folders.length > 0 ? 'classify' : 'next-char') : task;
    if (chosen === 'classify') {
      if (folders.length < 2) throw new DatasetError(`${what}: classification needs one sub-folder of .txt files per class (at least 2), found ${folders.length}`);
      if (folders.length > 256) throw new DatasetError(`${what}: ${folders.length} classes; at most 256`);
      const docs: Doc[] = [];
      for (const cls of folders) {
        const inClass = (await readdir(join(path, cls))).filter((f) => TEXT_FILE.test(f)).sort();
        if (inClass.length === 0) throw new DatasetError(`${what}: class folder ${cls} holds no .txt files`);
        for (const f of inClass) docs.push({ name: `${cls}/${f}`, text: await readText(join(path, cls, f), what), label: cls });
      }
      return { task: chosen, docs };
    }
    if (files.length === 0) throw new DatasetError(`${what}: the folder holds no .txt files`);
    // A folder of files: one document (natural group) per file.
    return { task: chosen, docs: await Promise.all(files.map(async (f) => ({ name: f, text: await readText(join(path, f), what) }))) };
  }
  const text = await readText(path, what);
  if (text.trim().length === 0) throw new DatasetError(`${what}: the file is empty`);
  const chosen: TextTask = task === 'auto' ? 'next-char' : task;
  if (chosen === 'classify') {
    const docs: Doc[] = [];
    text.split('\n').forEach((line, i) => {
      if (line.trim().length === 0) return;
      const tab = line.indexOf('\t');
      if (tab <= 0) throw new DatasetError(`${what}: line ${i + 1} is not label<TAB>text`);
      docs.push({ name: `line ${i + 1}`, label: line.slice(0, tab).trim(), text: line.slice(tab + 1) });
    });
    const classes = new Set(docs.map((d) => d.label));
    if (classes.size < 2) throw new DatasetError(`${what}: classification needs at least 2 labels, found ${classes.size}`);
    if (classes.size > 256) throw new DatasetError(`${what}: ${classes.size} classes; at most 256`);
    return { task: chosen, docs };
  }
  return { task: chosen, docs: splitBySpeaker(text) ?? [{ name: basename(path), text }] };
}

function positiveInt(value: number, flag: string, max: number): number {
  if (!(Number.isInteger(value) && value >= 1 && value <= max)) throw new DatasetError(`${flag} ${value} must be an integer in 1..${max}`);
  return value;
}

/** Next-char windows of documents, within each (train: a document's first `keep` share, test: the rest). */
function nextChar(docs: Doc[], seqLength: number, stride: number, part?: { keep: number; test: boolean }): { examples: NextCharExamples; groups: Int32Array } {
  let text = '';
  const starts: number[] = [];
  const groups: number[] = [];
  docs.forEach((d, g) => {
    const cut = part ? Math.floor(d.text.length * part.keep) : d.text.length;
    const piece = part?.test ? d.text.slice(cut) : d.text.slice(0, cut);
    const mine = windowStarts(text.length, piece.length, seqLength, stride);
    for (const s of mine) starts.push(s), groups.push(g);
    text += piece;
  });
  return { examples: { task: 'next-char', seqLength, text, starts: Int32Array.from(starts) }, groups: Int32Array.from(groups) };
}

/** A client's text: every example of the source (it trains on all of it). */
export async function loadTextSource(path: string, options: TextSourceOptions = {}): Promise<TextSource> {
  const seqLength = positiveInt(options.seqLength ?? DEFAULT_SEQ_LENGTH, '--seq-length', 4096);
  const stride = positiveInt(options.stride ?? 1, '--text-stride', 1 << 20);
  const { task, docs } = await readDocs(path, options.task ?? 'auto');
  const what = `text:${path}`;
  if (task === 'classify') {
    const examples: ClassifyExamples = { task, seqLength, docs: docs.map((d) => d.text), labels: docs.map((d) => d.label!) };
    if (docs.every((d) => d.text.trim().length === 0)) throw new DatasetError(`${what}: every document is empty`);
    return { task, examples, groups: Int32Array.from(docs, (_, i) => i), groupNames: docs.map((d) => d.name) };
  }
  const total = docs.reduce((n, d) => n + d.text.length, 0);
  if (docs.every((d) => d.text.trim().length === 0)) throw new DatasetError(`${what}: the text is empty`);
  const { examples, groups } = nextChar(docs, seqLength, stride);
  if (examples.starts.length === 0) {
    throw new DatasetError(`${what}: ${total} character(s), fewer than one sequence of ${seqLength} and its next character (${seqLength + 1}) in any ${docs.length > 1 ? 'speaker or file' : 'document'}`);
  }
  return { task, examples, groups, groupNames: docs.map((d) => d.name) };
}

/** The share held out as the coordinator's test split (next-char: the end of each document). */
export const TEXT_TEST_SHARE = 0.1;

/**
 * A coordinator's or simulator's text: train and test parts. next-char: each document's first
 * 90% trains, its last 10% tests (windows never straddle); classify: a seeded 10% of documents.
 */
export async function loadTextSplit(path: string, options: TextSourceOptions = {}, seed = 20170217): Promise<{ train: TextSource; test: TextExamples }> {
  const all = await loadTextSource(path, options);
  const what = `text:${path}`;
  if (all.examples.task === 'classify') return splitClassify(all, seed, what);
  const { docs } = await readDocs(path, 'next-char');
  const seqLength = all.examples.seqLength;
  const stride = options.stride ?? 1;
  const train = nextChar(docs, seqLength, stride, { keep: 1 - TEXT_TEST_SHARE, test: false });
  const test = nextChar(docs, seqLength, stride, { keep: 1 - TEXT_TEST_SHARE, test: true });
  if (train.examples.starts.length === 0 || test.examples.starts.length === 0) {
    throw new DatasetError(`${what}: too little text for a train and a test split of ${seqLength}-character sequences (the last ${TEXT_TEST_SHARE * 100}% of each speaker or file tests)`);
  }
  return { train: { task: 'next-char', examples: train.examples, groups: train.groups, groupNames: all.groupNames }, test: test.examples };
}

/**
 * classify: a seeded TEXT_TEST_SHARE of the documents tests, the rest trains (each keeping its
 * group). At least one document on each side.
 */
export function splitClassify(all: TextSource, seed: number, what: string): { train: TextSource; test: ClassifyExamples } {
  const ex = all.examples;
  if (ex.task !== 'classify') throw new DatasetError(`${what}: not classification data`);
  const n = ex.docs.length;
  if (n < 2) throw new DatasetError(`${what}: ${n} document(s); a train and a test split need at least 2`);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(idx, createRng(seed));
  const testCount = Math.min(n - 1, Math.max(1, Math.round(n * TEXT_TEST_SHARE)));
  const pick = (ks: Int32Array): ClassifyExamples => ({ ...ex, docs: Array.from(ks, (k) => ex.docs[k]!), labels: Array.from(ks, (k) => ex.labels[k]!) });
  const trainIdx = idx.subarray(testCount);
  return {
    train: { ...all, examples: pick(trainIdx), groups: Int32Array.from(trainIdx, (k) => all.groups[k]!), groupNames: all.groupNames },
    test: pick(idx.subarray(0, testCount)),
  };
}

/**
 * `--data topics` (synthetic-text.ts): the generated corpus as a classify TextSource, one group
 * per author, cut to `seqLength` words like a text:<dir> of class folders. Classification only.
 */
export function topicsSource(options: TextSourceOptions = {}): TextSource {
  const seqLength = positiveInt(options.seqLength ?? DEFAULT_SEQ_LENGTH, '--seq-length', 4096);
  if (options.task === 'next-char') throw new DatasetError('topics: a text-classification dataset (--text-task classify or auto), not next-char');
  const c = topicsCorpus();
  return { task: 'classify', examples: { task: 'classify', seqLength, docs: c.docs, labels: c.labels }, groups: c.authors, groupNames: c.authorNames };
}

/** `--data topics` split as `text:<dir>` classification is: a seeded 10% of the documents tests. */
export function topicsSplit(options: TextSourceOptions = {}, seed = 20170217): { train: TextSource; test: ClassifyExamples } {
  return splitClassify(topicsSource(options), seed, 'topics');
}

/** A vocabulary file: JSON `{ "unit": "char" | "word", "tokens": [...] }`, tokens[0] <pad>, tokens[1] <unk>. */
export async function readVocabularyFile(path: string): Promise<{ unit: 'char' | 'word'; tokens: string[] }> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new DatasetError(`--vocab: cannot read ${path} as JSON (${(e as Error).message})`);
  }
  const v = raw as { unit?: unknown; tokens?: unknown };
  if ((v.unit !== 'char' && v.unit !== 'word') || !Array.isArray(v.tokens) || !v.tokens.every((t) => typeof t === 'string')) {
    throw new DatasetError(`--vocab: ${path} is not { "unit": "char" | "word", "tokens": [strings] }`);
  }
  return { unit: v.unit, tokens: v.tokens as string[] };
}
