import { DEFAULT_SEQ_LENGTH, TEXT_TASKS } from '@fedlink/ml';
import { type LoadOptions, MNIST_SPLIT_SEED, SHAKESPEARE_PATH, type TextSource, type TextSourceOptions, loadTextSource, topicsSplit } from '@fedlink/ml/node';
import type { OptionSpec, ParsedValue } from './args.js';

/** `--data` specs that are text: `text:<file-or-dir>`, the shipped `shakespeare` corpus and the generated `topics`. */
export function isTextSpec(spec: string): boolean {
  return spec === 'shakespeare' || spec === 'topics' || spec.startsWith('text:');
}

/**
 * A joining client's raw text: the whole file or folder (text:<file-or-dir>, shakespeare), or the
 * training documents of `topics` (the coordinator's test documents are in no client's share).
 */
export async function clientTextSource(spec: string, options: TextSourceOptions): Promise<TextSource> {
  if (spec === 'topics') return topicsSplit(options, MNIST_SPLIT_SEED).train;
  return loadTextSource(spec === 'shakespeare' ? SHAKESPEARE_PATH : spec.slice('text:'.length), options);
}

/** How text data is cut (serve, join, simulate): the same on the coordinator and every client. */
export const TEXT_READ_OPTIONS: Record<string, OptionSpec> = {
  'text-task': { type: 'string', choices: ['auto', ...TEXT_TASKS], default: 'auto', description: 'text:<file-or-dir>: next-char (predict the character after each window) or classify (a folder of one sub-folder of .txt files per class, or a label<TAB>text file); auto: classify for a folder of sub-folders (and for topics, which is classification only)' },
  'seq-length': { type: 'int', min: 1, max: 4096, default: DEFAULT_SEQ_LENGTH, description: "text: characters per window (next-char) or words kept per document (classify); a zoo text model is built for it (a model.json must take [seqLength, 1, 1])" },
  'text-stride': { type: 'int', min: 1, default: 1, description: 'text, next-char: a window starts every this many characters (1: every position, as LEAF)' },
};

/** What only the coordinator decides: the vocabulary. */
export const VOCAB_OPTIONS: Record<string, OptionSpec> = {
  vocab: { type: 'string', placeholder: '<file>', description: 'text: the vocabulary to ship instead of one built from --data: JSON {"unit":"char"|"word","tokens":["<pad>","<unk>",...]}' },
  'vocab-size': { type: 'int', min: 3, max: 65536, description: 'text: most tokens of the vocabulary built from --data, <pad> and <unk> included (default 100 characters for next-char, 2000 words for classify: what the zoo models embed)' },
};

export function textReadOptionsFrom(v: Record<string, ParsedValue>): TextSourceOptions {
  return { task: v['text-task'] as TextSourceOptions['task'] & string, seqLength: v['seq-length'] as number, stride: v['text-stride'] as number };
}

export function textLoadOptionsFrom(v: Record<string, ParsedValue>): NonNullable<LoadOptions['text']> {
  return {
    ...textReadOptionsFrom(v),
    ...(v.vocab !== undefined ? { vocabFile: v.vocab as string } : {}),
    ...(v['vocab-size'] !== undefined ? { vocabSize: v['vocab-size'] as number } : {}),
  };
}
