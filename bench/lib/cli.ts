/**
 * What every bench does with its command line before it starts: `--help` (or `-h`) prints the
 * usage and exits 0; a flag the bench does not take prints that, with the usage, and exits 2.
 * Values are the caller's to read (each bench has its own few flags).
 */
export function checkFlags(argv: readonly string[], usage: string, known: readonly string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  const unknown = argv.filter((a) => a.startsWith('--') && !known.includes(a));
  if (unknown.length) {
    console.error(`unknown option ${unknown.join(', ')}\n${usage}`);
    process.exit(2);
  }
}

/** The number after `--name`, or `fallback` when the flag is absent; a value that is not a positive number exits 2 with a message. */
export function positiveFlag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(argv[i + 1]);
  if (!(value > 0 && Number.isFinite(value))) {
    console.error(`--${name} needs a positive number, got ${JSON.stringify(argv[i + 1] ?? '')}`);
    process.exit(2);
  }
  return value;
}
