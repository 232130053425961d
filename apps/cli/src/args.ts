/**
 * Declarative command-line options: each option has a type, a default and a description; the
 * parser turns argv into typed values, `--help` is generated from the same table, and a bad
 * flag gets one line naming it.
 */
export type OptionType = 'string' | 'int' | 'number' | 'boolean' | 'duration' | 'list';

export interface OptionSpec {
  type: OptionType;
  description: string;
  default?: string | number | boolean | string[];
  /** Allowed values (string options). */
  choices?: readonly string[];
  /** Shown in help instead of the type, e.g. "<i>/<n>". */
  placeholder?: string;
  /** Minimum for numeric options. */
  min?: number;
  max?: number;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  examples?: string[];
}

export type ParsedValue = string | number | boolean | string[] | undefined;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `90`, `90s`, `15m`, `24h`, `2d`, `500ms` -> milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not a duration (e.g. 90s, 15m, 24h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
  return Math.round(n * factor);
}

function convert(name: string, spec: OptionSpec, raw: string): ParsedValue {
  const fail = (why: string): never => {
    throw new UsageError(`--${name}: ${why}`);
  };
  switch (spec.type) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) fail(`'${raw}' is not one of ${spec.choices.join(', ')}`);
      return raw;
    case 'int':
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) fail(`'${raw}' is not a number`);
      if (spec.type === 'int' && !Number.isInteger(n)) fail(`'${raw}' is not a whole number`);
      if (spec.min !== undefined && n < spec.min) fail(`must be at least ${spec.min}, got ${raw}`);
      if (spec.max !== undefined && n > spec.max) fail(`must be at most ${spec.max}, got ${raw}`);
      return n;
    }
    case 'duration':
      try {
        const ms = parseDuration(raw);
        if (ms <= 0) fail('must be longer than 0');
        return ms;
      } catch (e) {
        if (e instanceof UsageError) throw e;
        return fail((e as Error).message);
      }
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      return fail(`'${raw}' is not true or false`);
    case 'list':
      return [raw];
  }
}

/** Parses argv for a command. Returns null when --help was asked (help already printed). */
export function parseArgs(spec: CommandSpec, argv: string[], print: (s: string) => void = (s) => process.stdout.write(s)): Record<string, ParsedValue> | null {
  const values: Record<string, ParsedValue> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.default !== undefined) values[name] = o.type === 'duration' && typeof o.default === 'string' ? parseDuration(o.default) : o.default;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      print(helpText(spec));
      return null;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const negated = name.startsWith('no-') && spec.options[name.slice(3)]?.type === 'boolean';
    const key = negated ? name.slice(3) : name;
    const o = spec.options[key];
    if (!o) throw new UsageError(`unknown option --${name}`);
    if (o.type === 'boolean') {
      values[key] = eq < 0 ? !negated : convert(key, o, arg.slice(eq + 1));
      continue;
    }
    let raw: string | undefined;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      raw = argv[i + 1];
      if (raw === undefined || (raw.startsWith('--') && raw.length > 2)) throw new UsageError(`--${key} needs a value`);
      i++;
    }
    if (o.type === 'list') {
      // A repeated list option accumulates; the first use replaces the default.
      const prev = values[key] === o.default ? [] : ((values[key] as string[] | undefined) ?? []);
      values[key] = [...prev, raw];
    } else {
      values[key] = convert(key, o, raw);
    }
  }
  return values;
}

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const ph = o.type === 'boolean' ? '' : ` ${o.placeholder ?? (o.choices ? o.choices.join('|') : `<${o.type}>`)}`;
    const def = o.default !== undefined && o.default !== false && !(Array.isArray(o.default) && o.default.length === 0) ? ` (default: ${Array.isArray(o.default) ? o.default.join(',') : o.default})` : '';
    return [`  --${name}${ph}`, `${o.description}${def}`] as const;
  });
  rows.push(['  --help', 'show this help']);
  const width = Math.min(36, Math.max(...rows.map(([l]) => l.length)) + 2);
  const lines = rows.map(([l, r]) => (l.length >= width ? `${l}\n${' '.repeat(width)}${r}` : l.padEnd(width) + r));
  const ex = spec.examples?.length ? `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}\n` : '';
  return `${spec.summary}\n\nUsage: ${spec.usage}\n\nOptions:\n${lines.join('\n')}\n${ex}`;
}
