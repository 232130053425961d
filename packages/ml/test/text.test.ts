import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  DatasetError,
  ModelError,
  type NextCharExamples,
  PAD_ID,
  UNK_ID,
  assertDataFits,
  assertVocabularyFits,
  buildVocabulary,
  createModel,
  encodeText,
  partitionByGroup,
  subsetText,
  textSpecFor,
  textSpecHash,
  validateDataset,
  verifyTextSpec,
} from '@fedlink/ml';
import { SHAKESPEARE_PATH, loadDataset, loadTextSource, loadTextSplit, readVocabularyFile, splitBySpeaker } from '@fedlink/ml/node';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fedlink-text-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const chars = (text: string, seqLength: number, starts: number[]): NextCharExamples => ({ task: 'next-char', seqLength, text, starts: Int32Array.from(starts) });

describe('vocabulary and encoding', () => {
  test('characters by count, ties in code-unit order, after <pad> and <unk>; capped', () => {
    const ex = chars('abracadabra', 3, [0]);
    expect(buildVocabulary(ex, 100)).toEqual({ unit: 'char', tokens: ['<pad>', '<unk>', 'a', 'b', 'r', 'c', 'd'] });
    expect(buildVocabulary(ex, 4).tokens).toEqual(['<pad>', '<unk>', 'a', 'b']);
    expect(() => buildVocabulary(chars('', 3, []), 10)).toThrow(new DatasetError('the text is empty: no characters to build a vocabulary from'));
  });

  test("next-char windows are encoded with the run's tokens: an unknown character is <unk>, labels the next id", async () => {
    const spec = await textSpecFor(chars('abab', 2, [0]), { maxVocab: 10 });
    expect(spec.tokens).toEqual(['<pad>', '<unk>', 'a', 'b']);
    // The client's text has a 'z' the coordinator never saw.
    const ds = encodeText(chars('abzab', 2, [0, 1, 2]), spec);
    validateDataset(ds);
    expect([ds.count, ds.height, ds.width, ds.channels, ds.numClasses]).toEqual([3, 2, 1, 1, 4]);
    expect(Array.from(ds.images)).toEqual([2, 3, 3, UNK_ID, UNK_ID, 2]);
    expect(Array.from(ds.labels)).toEqual([UNK_ID, 2, 3]);
  });

  test('classification: words lower-cased, padded with <pad>, cut at seqLength; labels by class name, not folder order', async () => {
    const train = { task: 'classify' as const, seqLength: 4, docs: ['Good film', 'bad, bad film'], labels: ['pos', 'neg'] };
    const spec = await textSpecFor(train, { maxVocab: 10 });
    expect(spec.classes).toEqual(['neg', 'pos']);
    expect(spec.tokens).toEqual(['<pad>', '<unk>', 'bad', 'film', 'good']);
    const ds = encodeText({ task: 'classify', seqLength: 4, docs: ['GOOD good great film again', 'bad'], labels: ['pos', 'neg'] }, spec);
    expect(Array.from(ds.images)).toEqual([4, 4, UNK_ID, 3, 2, PAD_ID, PAD_ID, PAD_ID]);
    expect(Array.from(ds.labels)).toEqual([1, 0]);
    expect(() => encodeText({ task: 'classify', seqLength: 4, docs: ['x'], labels: ['meh'] }, spec)).toThrow(new DatasetError("class 'meh' is not one of the run's classes (neg, pos)"));
  });

  test("a client's data of another task or window length is refused, naming the flag", async () => {
    const spec = await textSpecFor(chars('abab', 2, [0]), { maxVocab: 10 });
    expect(() => encodeText(chars('ababab', 3, [0]), spec)).toThrow(new DatasetError("the run's sequences are 2 chars long, this data was cut into 3 (use --seq-length 2)"));
    expect(() => encodeText({ task: 'classify', seqLength: 2, docs: ['a'], labels: ['x'] }, spec)).toThrow(new DatasetError('this data is for classify, the run trains next-char'));
  });

  test('the hash covers every field: a changed token, or another pinned hash, is refused', async () => {
    const spec = await textSpecFor(chars('hello', 2, [0]), { maxVocab: 10 });
    await expect(verifyTextSpec(spec)).resolves.toBeUndefined();
    await expect(verifyTextSpec(spec, spec.hash.toUpperCase())).resolves.toBeUndefined();
    const { hash, ...rest } = spec;
    expect(hash).toBe(await textSpecHash(rest));
    expect(await textSpecHash({ ...rest, seqLength: 3 })).not.toBe(hash);
    await expect(verifyTextSpec({ ...spec, tokens: [...spec.tokens.slice(0, -1), 'q'] })).rejects.toThrow(/^the vocabulary received hashes to [0-9a-f]{16}…, the welcome says [0-9a-f]{16}…$/);
    await expect(verifyTextSpec(spec, 'a'.repeat(64))).rejects.toThrow(`the run's vocabulary hashes to ${hash.slice(0, 16)}…, not the expected aaaaaaaaaaaaaaaa…`);
  });

  test('a vocabulary file: used as given, checked for <pad>/<unk>, duplicates and unit', async () => {
    const file = join(dir, 'vocab.json');
    await writeFile(file, JSON.stringify({ unit: 'char', tokens: ['<pad>', '<unk>', 'x', 'y'] }));
    const spec = await textSpecFor(chars('abab', 2, [0]), { maxVocab: 10, vocabulary: await readVocabularyFile(file) });
    expect(spec.tokens).toEqual(['<pad>', '<unk>', 'x', 'y']);
    await expect(textSpecFor(chars('ab', 1, [0]), { maxVocab: 10, vocabulary: { unit: 'word', tokens: ['<pad>', '<unk>', 'a'] } })).rejects.toThrow('a word vocabulary can\'t encode a next-char task (it needs chars)');
    await expect(textSpecFor(chars('ab', 1, [0]), { maxVocab: 10, vocabulary: { unit: 'char', tokens: ['a', 'b', 'c'] } })).rejects.toThrow('a vocabulary starts with <pad> and <unk> (ids 0 and 1)');
    await expect(textSpecFor(chars('ab', 1, [0]), { maxVocab: 10, vocabulary: { unit: 'char', tokens: ['<pad>', '<unk>', 'a', 'a'] } })).rejects.toThrow('the vocabulary lists a token twice');
    await writeFile(file, '{"unit": "byte"}');
    await expect(readVocabularyFile(file)).rejects.toThrow(DatasetError);
  });

  test('natural partition: one client per group, largest first; more clients than groups is refused', () => {
    const groups = Int32Array.from([0, 1, 1, 2, 2, 2, 0]);
    expect(partitionByGroup(groups, 2, ['a', 'b', 'c']).map((p) => Array.from(p))).toEqual([[3, 4, 5], [0, 6]]);
    expect(() => partitionByGroup(groups, 4, ['a', 'b', 'c'])).toThrow(new DatasetError('the natural partition has 3 group(s) with examples (3 speakers or files in all); 4 clients asked for'));
    expect(Array.from((subsetText(chars('abcdef', 2, [0, 1, 2, 3]), [3, 1]) as NextCharExamples).starts)).toEqual([3, 1]);
  });
});

describe('text:<file-or-dir>', () => {
  test('a dialogue file is split by speaker (LEAF); windows never cross speakers', async () => {
    const file = join(dir, 'play.txt');
    await writeFile(file, 'ANNE:\nabcdef\n\nBEN:\nxy\n\nANNE:\nghij\n\nBEN:\nzz\n');
    expect(splitBySpeaker('plain prose without speakers\n\nand more')).toBeNull();
    const src = await loadTextSource(file, { seqLength: 3, stride: 2 });
    expect(src.task).toBe('next-char');
    expect(src.groupNames).toEqual(['ANNE', 'BEN']);
    const ex = src.examples as NextCharExamples;
    expect(ex.text).toBe('abcdef\nghij\nxy\nzz\n');
    // ANNE: 12 characters -> windows at 0, 2, 4, 6, 8 (a window needs its next character); BEN: 6 -> 12, 14.
    expect(Array.from(ex.starts)).toEqual([0, 2, 4, 6, 8, 12, 14]);
    expect(Array.from(src.groups)).toEqual([0, 0, 0, 0, 0, 1, 1]);
  });

  test('a folder of files: one group per file; the split keeps the end of each file for testing', async () => {
    const folder = join(dir, 'letters');
    await mkdir(folder);
    await writeFile(join(folder, 'a.txt'), 'a'.repeat(50));
    await writeFile(join(folder, 'b.txt'), 'b'.repeat(30));
    await writeFile(join(folder, 'notes.bin'), 'ignored');
    const src = await loadTextSource(folder, { seqLength: 4, stride: 5 });
    expect(src.groupNames).toEqual(['a.txt', 'b.txt']);
    const { train, test } = await loadTextSplit(folder, { seqLength: 4, stride: 1 });
    // a: 45 train characters -> 41 windows, 5 test -> 1; b: 27 -> 23, 3 -> none.
    expect(Array.from(train.groups).filter((g) => g === 0)).toHaveLength(41);
    expect(Array.from(train.groups).filter((g) => g === 1)).toHaveLength(23);
    expect((test as NextCharExamples).starts.length).toBe(1);
  });

  test('classification from class folders and from a label<TAB>text file', async () => {
    const folder = join(dir, 'reviews');
    for (const [cls, docs] of [['neg', ['awful film', 'bad acting', 'dull']], ['pos', ['great film', 'loved it', 'superb']]] as const) {
      await mkdir(join(folder, cls), { recursive: true });
      for (const [i, d] of docs.entries()) await writeFile(join(folder, cls, `${i}.txt`), d);
    }
    const src = await loadTextSource(folder);
    expect(src.task).toBe('classify');
    const split = await loadDataset(`text:${folder}`);
    expect(split.text!.spec.classes).toEqual(['neg', 'pos']);
    expect(split.train.count + split.test.count).toBe(6);
    expect(split.train.height).toBe(80);
    const tsv = join(dir, 'labels.tsv');
    await writeFile(tsv, 'spam\tWIN money now\nham\tlunch at noon?\n\nspam\tfree money\n');
    const lines = await loadTextSource(tsv, { task: 'classify', seqLength: 5 });
    expect(lines.examples).toEqual({ task: 'classify', seqLength: 5, docs: ['WIN money now', 'lunch at noon?', 'free money'], labels: ['spam', 'ham', 'spam'] });
  });

  test('bad input: a typed DatasetError saying what is wrong', async () => {
    const empty = join(dir, 'empty.txt');
    await writeFile(empty, '  \n');
    await expect(loadTextSource(empty)).rejects.toThrow(new DatasetError(`text:${empty}: the file is empty`));
    const short = join(dir, 'short.txt');
    await writeFile(short, 'to be or not');
    await expect(loadTextSource(short)).rejects.toThrow(new DatasetError(`text:${short}: 12 character(s), fewer than one sequence of 80 and its next character (81) in any document`));
    const classes = join(dir, 'classes');
    await mkdir(join(classes, 'cats'), { recursive: true });
    await mkdir(join(classes, 'dogs'), { recursive: true });
    await writeFile(join(classes, 'cats', 'a.txt'), 'meow');
    await expect(loadTextSource(classes)).rejects.toThrow(new DatasetError(`text:${classes}: class folder dogs holds no .txt files`));
    const tsv = join(dir, 'bad.tsv');
    await writeFile(tsv, 'a\tfine\nno tab here\n');
    await expect(loadTextSource(tsv, { task: 'classify' })).rejects.toThrow(new DatasetError(`text:${tsv}: line 2 is not label<TAB>text`));
    await expect(loadTextSource(join(dir, 'missing.txt'))).rejects.toThrow(/no such file or folder \(ENOENT\)/);
    await expect(loadTextSource(short, { seqLength: 0 })).rejects.toThrow(new DatasetError('--seq-length 0 must be an integer in 1..4096'));
  });

  test('the shipped Shakespeare: 298 speakers, a 66-token vocabulary that the char-lstm takes', async () => {
    const data = await loadDataset('shakespeare', { text: { stride: 400 } });
    expect(data.name).toBe('shakespeare');
    expect(data.text!.groupNames).toHaveLength(298);
    expect(data.text!.spec.tokens.slice(0, 5)).toEqual(['<pad>', '<unk>', ' ', 'e', 't']);
    expect(data.text!.spec.tokens).toHaveLength(66);
    expect(SHAKESPEARE_PATH).toMatch(/corpora\/tinyshakespeare\/input\.txt$/);
    const model = createModel('char-lstm');
    try {
      assertDataFits(model, data.train);
      assertVocabularyFits(model, data.text!.spec);
    } finally {
      model.dispose();
    }
  });
});

describe('zoo text models', () => {
  test('char-lstm (LEAF shape, smaller), char-lstm-leaf and text-classifier: sizes, and vocabularies they refuse', () => {
    const sizes = (['char-lstm', 'char-lstm-leaf', 'text-classifier'] as const).map((name) => {
      const m = createModel(name);
      const n = [m.countParams(), ...m.outputs[0]!.shape.slice(1)];
      m.dispose();
      return n;
    });
    expect(sizes).toEqual([[59_012, 100], [823_172, 100], [32_170, 10]]);
    const m = createModel('char-lstm', { inputShape: [20, 1, 1] });
    try {
      expect(m.inputs[0]!.shape).toEqual([null, 20, 1, 1]);
      const tokens = Array.from({ length: 101 }, (_, i) => `t${i}`);
      expect(() => assertVocabularyFits(m, { task: 'next-char', tokens })).toThrow(new ModelError("the vocabulary has 101 tokens, the model's embedding takes ids below 100 (use --vocab-size 100 or a wider model)"));
    } finally {
      m.dispose();
    }
    expect(tf.memory().numTensors).toBe(0);
  });
});
