import { DatasetError, type ImageDataset } from './dataset.js';

/**
 * Text as fedlink trains on it: token ids in fixed-length windows, held in an ImageDataset of
 * shape [seqLength, 1, 1] (ids as float values), so partitioning, batching and the wire stay the
 * image pipeline's. The vocabulary is the coordinator's: it builds it from its own data (or reads a
 * vocabulary file) and ships it in the welcome; clients encode with it, never with their own.
 * Platform-neutral (Node and browsers); reading files is @fedlink/ml/node's data/text.ts.
 */

/** next-char: predict the character after each window (LEAF Shakespeare); classify: one label per document. */
export const TEXT_TASKS = ['next-char', 'classify'] as const;
export type TextTask = (typeof TEXT_TASKS)[number];

/** Characters per window (next-char) or words per document (classify), LEAF's Shakespeare length. */
export const DEFAULT_SEQ_LENGTH = 80;
/** Id 0 pads a short document (classify); id 1 stands for every token the vocabulary lacks. */
export const PAD_TOKEN = '<pad>';
export const UNK_TOKEN = '<unk>';
export const PAD_ID = 0;
export const UNK_ID = 1;

/**
 * next-char examples: example k is `text[starts[k] .. starts[k] + seqLength)` and its label the
 * character at `starts[k] + seqLength`. Several documents are joined into one `text`; their
 * windows never cross from one into the next.
 */
export interface NextCharExamples {
  task: 'next-char';
  seqLength: number;
  text: string;
  starts: Int32Array;
}

/** classify examples: document k and its class name. */
export interface ClassifyExamples {
  task: 'classify';
  seqLength: number;
  docs: string[];
  labels: string[];
}

export type TextExamples = NextCharExamples | ClassifyExamples;

/**
 * What the coordinator ships in the welcome (the wire's WelcomeText, @fedlink/protocol):
 * the task, the tokens (index = id; 0 <pad>, 1 <unk>), the class names of a classification run
 * (index = label) and the window length, with `hash` = textSpecHash of the rest.
 */
export interface TextSpec {
  task: TextTask;
  unit: 'char' | 'word';
  tokens: string[];
  classes?: string[];
  seqLength: number;
  hash: string;
}

export function exampleCount(ex: TextExamples): number {
  return ex.task === 'next-char' ? ex.starts.length : ex.docs.length;
}

/** The examples at `indices`, in that order (a client's partition share). */
export function subsetText(ex: TextExamples, indices: ArrayLike<number>): TextExamples {
  const n = exampleCount(ex);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    if (!(i >= 0 && i < n)) throw new DatasetError(`text example ${i} out of range 0..${n - 1}`);
  }
  if (ex.task === 'next-char') return { ...ex, starts: Int32Array.from(indices, (i) => ex.starts[i]!) };
  return { ...ex, docs: Array.from(indices, (i) => ex.docs[i]!), labels: Array.from(indices, (i) => ex.labels[i]!) };
}

/** Words of a document: runs of letters, digits and apostrophes, lower-cased. */
export function words(doc: string): string[] {
  return doc.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

/** Tokens by count (most frequent first, ties in code-unit order), after <pad> and <unk>, at most `maxSize` in all. */
function rankTokens(counts: Map<string, number>, maxSize: number): string[] {
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([t]) => t);
  return [PAD_TOKEN, UNK_TOKEN, ...ranked.slice(0, Math.max(0, maxSize - 2))];
}

/**
 * The vocabulary of a run from the coordinator's training examples: next-char counts characters
 * (UTF-16 code units) of the text, classify counts words of the documents; the `maxSize - 2` most
 * frequent join <pad> and <unk>. Deterministic: the same examples give the same tokens.
 */
export function buildVocabulary(ex: TextExamples, maxSize: number): { unit: 'char' | 'word'; tokens: string[] } {
  if (!(Number.isInteger(maxSize) && maxSize >= 3)) throw new DatasetError(`vocabulary size ${maxSize} must be an integer >= 3`);
  const counts = new Map<string, number>();
  if (ex.task === 'next-char') {
    for (let i = 0; i < ex.text.length; i++) {
      const c = ex.text[i]!;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    if (counts.size === 0) throw new DatasetError('the text is empty: no characters to build a vocabulary from');
    return { unit: 'char', tokens: rankTokens(counts, maxSize) };
  }
  for (const doc of ex.docs) for (const w of words(doc)) counts.set(w, (counts.get(w) ?? 0) + 1);
  if (counts.size === 0) throw new DatasetError('the documents hold no words to build a vocabulary from');
  return { unit: 'word', tokens: rankTokens(counts, maxSize) };
}

/** Class names of classify examples, sorted (index = label), as the coordinator ships them. */
export function classNames(ex: ClassifyExamples): string[] {
  return [...new Set(ex.labels)].sort();
}

/** JSON with sorted keys, undefined fields left out. */
function canonical(spec: Omit<TextSpec, 'hash'>): string {
  return JSON.stringify({ classes: spec.classes ?? null, seqLength: spec.seqLength, task: spec.task, tokens: spec.tokens, unit: spec.unit });
}

/** SHA-256 (hex) of the spec without its hash: what a client recomputes to check the vocabulary it received. WebCrypto. */
export async function textSpecHash(spec: Omit<TextSpec, 'hash'>): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('WebCrypto (crypto.subtle) is not available');
  const digest = new Uint8Array(await subtle.digest('SHA-256', new TextEncoder().encode(canonical(spec))));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The spec the coordinator ships, vocabulary built from its training examples unless one is given (a vocabulary file). */
export async function textSpecFor(train: TextExamples, options: { maxVocab: number; vocabulary?: { unit: 'char' | 'word'; tokens: string[] } }): Promise<TextSpec> {
  const vocab = options.vocabulary ?? buildVocabulary(train, options.maxVocab);
  const unit: TextSpec['unit'] = train.task === 'next-char' ? 'char' : 'word';
  if (vocab.unit !== unit) throw new DatasetError(`a ${vocab.unit} vocabulary can't encode a ${train.task} task (it needs ${unit}s)`);
  if (vocab.tokens[PAD_ID] !== PAD_TOKEN || vocab.tokens[UNK_ID] !== UNK_TOKEN) throw new DatasetError(`a vocabulary starts with ${PAD_TOKEN} and ${UNK_TOKEN} (ids 0 and 1)`);
  if (new Set(vocab.tokens).size !== vocab.tokens.length) throw new DatasetError('the vocabulary lists a token twice');
  const base = { task: train.task, unit, tokens: vocab.tokens, seqLength: train.seqLength, ...(train.task === 'classify' ? { classes: classNames(train) } : {}) };
  return { ...base, hash: await textSpecHash(base) };
}

/**
 * Checks a spec received in a welcome: its hash is the hash of its content, and (when this client
 * was told one) the hash it expects. Throws a DatasetError saying which differs.
 */
export async function verifyTextSpec(spec: TextSpec, expectedHash?: string): Promise<void> {
  const { hash, ...rest } = spec;
  const actual = await textSpecHash(rest);
  if (actual !== hash) throw new DatasetError(`the vocabulary received hashes to ${actual.slice(0, 16)}…, the welcome says ${hash.slice(0, 16)}…`);
  if (expectedHash !== undefined && expectedHash.toLowerCase() !== hash) {
    throw new DatasetError(`the run's vocabulary hashes to ${hash.slice(0, 16)}…, not the expected ${expectedHash.toLowerCase().slice(0, 16)}…`);
  }
}

/**
 * Encodes examples with the run's spec (never a vocabulary of the client's own): ids of the
 * spec's tokens, <unk> for any other; labels the next character's id (next-char) or the index of
 * the document's class in the spec's classes (classify; a class the run doesn't know is a
 * DatasetError). Shape [seqLength, 1, 1].
 */
export function encodeText(ex: TextExamples, spec: TextSpec): ImageDataset {
  if (ex.task !== spec.task) throw new DatasetError(`this data is for ${ex.task}, the run trains ${spec.task}`);
  if (ex.seqLength !== spec.seqLength) {
    throw new DatasetError(`the run's sequences are ${spec.seqLength} ${spec.unit}s long, this data was cut into ${ex.seqLength} (use --seq-length ${spec.seqLength})`);
  }
  const ids = new Map(spec.tokens.map((t, i) => [t, i]));
  const L = spec.seqLength;
  const count = exampleCount(ex);
  const images = new Float32Array(count * L);
  const labels = new Uint8Array(count);
  if (ex.task === 'next-char') {
    if (spec.tokens.length > 256) throw new DatasetError(`${spec.tokens.length} characters in the vocabulary; next-char labels take at most 256`);
    const codes = new Uint8Array(ex.text.length);
    for (let i = 0; i < ex.text.length; i++) codes[i] = ids.get(ex.text[i]!) ?? UNK_ID;
    for (let k = 0; k < count; k++) {
      const s = ex.starts[k]!;
      for (let j = 0; j < L; j++) images[k * L + j] = codes[s + j]!;
      labels[k] = codes[s + L]!;
    }
    return { images, labels, count, height: L, width: 1, channels: 1, numClasses: spec.tokens.length };
  }
  const classes = spec.classes ?? [];
  const classId = new Map(classes.map((c, i) => [c, i]));
  for (let k = 0; k < count; k++) {
    const label = classId.get(ex.labels[k]!);
    if (label === undefined) throw new DatasetError(`class '${ex.labels[k]}' is not one of the run's classes (${classes.join(', ')})`);
    labels[k] = label;
    const ws = words(ex.docs[k]!);
    for (let j = 0; j < Math.min(L, ws.length); j++) images[k * L + j] = ids.get(ws[j]!) ?? UNK_ID;
  }
  return { images, labels, count, height: L, width: 1, channels: 1, numClasses: classes.length };
}

/** Window starts of one document of `length` characters beginning at `offset` of the joined text: every `stride`-th. */
export function windowStarts(offset: number, length: number, seqLength: number, stride: number): number[] {
  const out: number[] = [];
  for (let s = 0; s + seqLength < length; s += stride) out.push(offset + s);
  return out;
}

/**
 * A natural partition (LEAF): client i gets every example of group `order[i]`, the groups (a
 * speaker, a file) ordered by size, largest first, so `clients` below the number of groups takes
 * the largest ones. More clients than groups is a DatasetError.
 */
export function partitionByGroup(groups: Int32Array, clients: number, groupNames: readonly string[]): Int32Array[] {
  const sizes = new Map<number, number>();
  for (const g of groups) sizes.set(g, (sizes.get(g) ?? 0) + 1);
  const order = [...sizes.keys()].sort((a, b) => sizes.get(b)! - sizes.get(a)! || a - b);
  if (clients > order.length) {
    throw new DatasetError(`the natural partition has ${order.length} group(s) with examples (${groupNames.length} speakers or files in all); ${clients} clients asked for`);
  }
  const slot = new Map(order.slice(0, clients).map((g, i) => [g, i]));
  const members: number[][] = Array.from({ length: clients }, () => []);
  groups.forEach((g, k) => {
    const i = slot.get(g);
    if (i !== undefined) members[i]!.push(k);
  });
  return members.map((m) => Int32Array.from(m));
}
