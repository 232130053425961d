import { type AggregatorSpec, type OptimizerSpec, type StrategySpec, parseStrategySpec } from './spec.js';

/**
 * The short text forms of strategy parts (the CLI's `--aggregator`, `--optimizer` and the
 * hyper-parameter flags), parsed in this one place into the same StrategySpec the JSON form and
 * the presets give; the result is validated by the one schema (spec.ts). Errors are RangeErrors
 * a person can act on.
 */

export const AGGREGATOR_FORMS = ['mean', 'median', 'trimmed-mean:<beta>', 'krum:<f>', 'multi-krum:<f>,<m>', 'bulyan:<f>', 'centered-clip:<tau>[,<iterations>]', 'qfedavg:<q>[,<client lr>]'] as const;
export const OPTIMIZER_FORMS = ['sgd', 'avgm:<momentum>', 'adam', 'yogi', 'adagrad'] as const;

function numbers(text: string, form: string, count: { min: number; max: number }): number[] {
  const colon = text.indexOf(':');
  const args = colon < 0 ? [] : text.slice(colon + 1).split(',');
  if (args.length < count.min || args.length > count.max) throw new RangeError(`'${text}': expected ${form}`);
  return args.map((a) => {
    const x = Number(a.trim());
    if (a.trim() === '' || !Number.isFinite(x)) throw new RangeError(`'${text}': '${a}' is not a number (expected ${form})`);
    return x;
  });
}

function int(text: string, name: string, x: number): number {
  if (!Number.isInteger(x) || x < 0) throw new RangeError(`'${text}': ${name} must be a non-negative integer, got ${x}`);
  return x;
}

/**
 * `mean | median | trimmed-mean:<beta> | krum:<f> | multi-krum:<f>,<m> | bulyan:<f> |
 * centered-clip:<tau>[,<iterations>] | qfedavg:<q>[,<client lr>]` (iterations default 3; the
 * client lr defaults to `context.clientLr`, else 0.05).
 */
export function parseAggregatorText(text: string, context: { clientLr?: number } = {}): AggregatorSpec {
  const t = text.trim();
  const kind = t.split(':')[0]!;
  switch (kind) {
    case 'mean':
    case 'median':
      numbers(t, kind, { min: 0, max: 0 });
      return { kind };
    case 'trimmed-mean': {
      const [beta] = numbers(t, 'trimmed-mean:<beta>', { min: 1, max: 1 });
      return { kind, beta: beta! };
    }
    case 'krum': {
      const [f] = numbers(t, 'krum:<f>', { min: 1, max: 1 });
      return { kind: 'krum', f: int(t, 'f', f!), m: 1 };
    }
    case 'multi-krum': {
      const [f, m] = numbers(t, 'multi-krum:<f>,<m>', { min: 2, max: 2 });
      return { kind: 'krum', f: int(t, 'f', f!), m: int(t, 'm', m!) };
    }
    case 'bulyan': {
      const [f] = numbers(t, 'bulyan:<f>', { min: 1, max: 1 });
      return { kind, f: int(t, 'f', f!) };
    }
    case 'centered-clip': {
      const [tau, iterations] = numbers(t, 'centered-clip:<tau>[,<iterations>]', { min: 1, max: 2 });
      return { kind, tau: tau!, iterations: int(t, 'iterations', iterations ?? 3) };
    }
    case 'qfedavg': {
      const [q, lr] = numbers(t, 'qfedavg:<q>[,<client lr>]', { min: 1, max: 2 });
      return { kind, q: q!, lr: lr ?? context.clientLr ?? 0.05 };
    }
    default:
      throw new RangeError(`unknown aggregator '${t}' (use ${AGGREGATOR_FORMS.join(' | ')})`);
  }
}

/** `sgd | avgm:<momentum> | adam | yogi | adagrad`, with the presets' defaults (sgd and avgm lr 1; adam, yogi lr 0.01; adagrad lr 0.1). */
export function parseOptimizerText(text: string): OptimizerSpec {
  const t = text.trim();
  const kind = t.split(':')[0]!;
  switch (kind) {
    case 'sgd':
      numbers(t, kind, { min: 0, max: 0 });
      return { kind, lr: 1 };
    case 'avgm':
    case 'momentum': {
      const [momentum] = numbers(t, `${kind}:<momentum>`, { min: 0, max: 1 });
      return { kind: 'momentum', lr: 1, momentum: momentum ?? 0.9 };
    }
    case 'adam':
    case 'yogi':
      numbers(t, kind, { min: 0, max: 0 });
      return { kind, lr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 };
    case 'adagrad':
      numbers(t, kind, { min: 0, max: 0 });
      return { kind, lr: 0.1, beta1: 0, tau: 1e-3 };
    default:
      throw new RangeError(`unknown optimizer '${t}' (use ${OPTIMIZER_FORMS.join(' | ')})`);
  }
}

/** The flags that refine a strategy; each is left out when not given. */
export interface StrategyOptions {
  aggregator?: string;
  optimizer?: string;
  /** The server optimizer's learning rate. */
  lr?: number;
  beta1?: number;
  beta2?: number;
  tau?: number;
  /** Adam only. */
  biasCorrection?: boolean;
  /** Norm clipping of each update before the aggregator (a `clip` wrapper, innermost). */
  clip?: number;
  /** The clients' learning rate, for `qfedavg:<q>` without one. */
  clientLr?: number;
}

/** Which optimizer kinds take each hyper-parameter. */
const TAKES: Record<'beta1' | 'beta2' | 'tau' | 'biasCorrection', readonly OptimizerSpec['kind'][]> = {
  beta1: ['adam', 'yogi', 'adagrad'],
  beta2: ['adam', 'yogi'],
  tau: ['adam', 'yogi', 'adagrad'],
  biasCorrection: ['adam'],
};

/**
 * `base` refined by the options: `aggregator` / `optimizer` replace those parts (the name becomes
 * '<aggregator>+<optimizer>' then), the hyper-parameters set the optimizer's fields, `clip` adds a
 * clip wrapper. A hyper-parameter the optimizer has no use for is an error, not ignored.
 * Throws RangeError (validated by StrategySpecSchema).
 */
export function refineStrategy(base: StrategySpec, options: StrategyOptions): StrategySpec {
  const aggregator = options.aggregator !== undefined ? parseAggregatorText(options.aggregator, options.clientLr !== undefined ? { clientLr: options.clientLr } : {}) : base.aggregator;
  let optimizer: OptimizerSpec = options.optimizer !== undefined ? parseOptimizerText(options.optimizer) : base.optimizer;
  if (options.lr !== undefined) optimizer = { ...optimizer, lr: options.lr };
  for (const key of ['beta1', 'beta2', 'tau', 'biasCorrection'] as const) {
    const value = options[key];
    if (value === undefined) continue;
    if (!TAKES[key].includes(optimizer.kind)) throw new RangeError(`${key} applies to the ${TAKES[key].join(', ')} optimizers; this strategy's is ${optimizer.kind}`);
    optimizer = { ...optimizer, [key]: value } as OptimizerSpec;
  }
  const renamed = options.aggregator !== undefined || options.optimizer !== undefined;
  const name = renamed ? [aggregator.kind, optimizer.kind, ...(base.control ? [base.control.kind] : [])].join('+') : base.name;
  const wrappers = options.clip !== undefined ? [{ kind: 'clip' as const, maxNorm: options.clip }, ...base.wrappers] : base.wrappers;
  // The base's control variates (SCAFFOLD) stay: a part they can't work with is refused, not dropped.
  return parseStrategySpec({ name, aggregator, optimizer, wrappers, ...(base.control ? { control: base.control } : {}) });
}
