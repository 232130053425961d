import { UsageError } from './args.js';

/** Leading words before the first `--option` (sub-command and its arguments). */
export function splitPositionals(argv: string[]): { words: string[]; rest: string[] } {
  const i = argv.findIndex((a) => a.startsWith('-'));
  return i < 0 ? { words: argv, rest: [] } : { words: argv.slice(0, i), rest: argv.slice(i) };
}

export function expectWords(words: string[], count: number, usage: string): void {
  if (words.length < count) throw new UsageError(`missing argument: ${usage}`);
  if (words.length > count) throw new UsageError(`unexpected argument '${words[count]}'`);
}
