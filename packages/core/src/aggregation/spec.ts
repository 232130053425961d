import { z } from 'zod';
import { DpWrapperSpecSchema } from './dp.js';

/**
 * The declarative strategy spec: which aggregator reduces the updates, which server optimizer
 * steps the model, and which wrappers sit around them. It is plain JSON, so run settings, the
 * admin API and the CLI store and validate one shape with one schema (below). Strategy.fromSpec
 * builds it (registry.ts maps each kind to its factory).
 *
 * Adding a kind: add its strictObject to the union here, its class in a file of its own, and an
 * entry in registry.ts (the compiler insists on the entry).
 */

const lr = z.number().positive().max(1000);
const unit = z.number().min(0).lt(1);

const tau = z.number().positive().max(10);
/** Byzantine clients an aggregator is told to tolerate. */
const f = z.number().int().min(0).max(1000);

/**
 * Aggregators (robust.ts for all but the mean). Every one but `mean` needs each client's update
 * (needsIndividualUpdates), so none of them runs under secure aggregation.
 * - mean: example-weighted mean (FedAvg).
 * - median: coordinate-wise median (Yin et al. 2018; Flower FedMedian), unweighted.
 * - trimmed-mean: per coordinate, drop floor(beta n) lowest and highest, mean of the rest (Flower FedTrimmedAvg), unweighted.
 * - krum: Multi-Krum (Blanchard et al. 2017): score each update by the sum of squared distances to its n-f-2 nearest; the `m` best, example-weighted (m 1: Krum).
 * - bulyan: El Mhamdi et al. 2018 as Flower runs it: theta = n-2f best by Multi-Krum score, then per coordinate the mean of the beta = theta-2f values closest to their median. Needs n >= 4f+3.
 * - centered-clip: Karimireddy et al. 2021: v <- v + (1/n) sum_i (d_i - v) min(1, tau/||d_i - v||), `iterations` times from v = 0.
 * - qfedavg: q-FFL (Li et al. 2020; Flower QFedAvg): updates weighed by their loss^q; `lr` is the clients' learning rate (L = 1/lr). Streams, but needs each update's loss.
 */
export const AggregatorSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('mean') }),
  z.strictObject({ kind: z.literal('median') }),
  z.strictObject({ kind: z.literal('trimmed-mean'), beta: z.number().min(0).lt(0.5) }),
  z.strictObject({ kind: z.literal('krum'), f, m: z.number().int().min(1).max(10_000) }),
  z.strictObject({ kind: z.literal('bulyan'), f }),
  z.strictObject({ kind: z.literal('centered-clip'), tau: z.number().positive().max(1e6), iterations: z.number().int().min(1).max(100) }),
  z.strictObject({ kind: z.literal('qfedavg'), q: z.number().min(0).max(100), lr: z.number().positive().max(1000) }),
]);

/**
 * Server optimizers (Reddi et al. 2021 for adam, yogi, adagrad). `biasCorrection` (adam only,
 * default off as in the paper): Kingma & Ba's lr sqrt(1-b2^t)/(1-b1^t) at step t, as Flower's FedAdam applies it.
 */
export const OptimizerSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sgd'), lr }),
  z.strictObject({ kind: z.literal('momentum'), lr, momentum: unit }),
  z.strictObject({ kind: z.literal('adam'), lr, beta1: unit, beta2: unit, tau, biasCorrection: z.boolean().optional() }),
  z.strictObject({ kind: z.literal('yogi'), lr, beta1: unit, beta2: unit, tau }),
  z.strictObject({ kind: z.literal('adagrad'), lr, beta1: unit, tau }),
]);

/**
 * Control variates the clients and the server keep across rounds (scaffold.ts). `scaffold`:
 * SCAFFOLD (Karimireddy et al. 2020, option II): each update carries [Delta y, Delta c], the
 * aggregator (the mean only) reduces Delta y and the server control variate c takes
 * (|S| / N) mean(Delta c). It needs each update (not with secure aggregation), the plain mean
 * (a robust aggregator would drop or reshape the Delta y whose Delta c still enter c) and no
 * wrappers (clip and dp change Delta y after the client derived Delta c from it).
 */
export const ControlSpecSchema = z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('scaffold') })]);

export const WrapperSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('clip'), maxNorm: z.number().positive() }),
  DpWrapperSpecSchema, // differential privacy (dp.ts)
]);

/**
 * z.number() rejects NaN and +-Infinity, so every number here is finite. `wrappers` may be left
 * out of input (it defaults to []); parsed specs always carry it. Wrappers apply in array order,
 * the first innermost.
 */
export const StrategySpecSchema = z.strictObject({
  /** Display label; presets set it to their name. */
  name: z.string().min(1).max(64),
  aggregator: AggregatorSpecSchema,
  optimizer: OptimizerSpecSchema,
  wrappers: z.array(WrapperSpecSchema).max(8).default([]),
  /** Left out: no control variates (every strategy but SCAFFOLD). */
  control: ControlSpecSchema.optional(),
});

export type StrategySpec = z.infer<typeof StrategySpecSchema>;
export type AggregatorSpec = z.infer<typeof AggregatorSpecSchema>;
export type OptimizerSpec = z.infer<typeof OptimizerSpecSchema>;
export type WrapperSpec = z.infer<typeof WrapperSpecSchema>;
export type ControlSpec = z.infer<typeof ControlSpecSchema>;

export const STRATEGY_PRESETS = ['fedavg', 'fedprox', 'fedavgm', 'fedadam', 'fedyogi', 'fedadagrad', 'fedmedian', 'fedtrimmedavg', 'krum', 'multikrum', 'bulyan', 'centered-clip', 'qfedavg', 'scaffold'] as const;
export type StrategyPreset = (typeof STRATEGY_PRESETS)[number];

export function isStrategyPreset(name: string): name is StrategyPreset {
  return (STRATEGY_PRESETS as readonly string[]).includes(name);
}

/**
 * The spec of a named strategy. fedavg and fedprox: mean + sgd (lr default 1; FedProx differs
 * only on the clients, by proximalMu); fedavgm: mean + momentum (lr 1, momentum 0.9); fedadam:
 * mean + adam (lr 0.01, beta1 0.9, beta2 0.99, tau 1e-3, no bias correction); fedyogi: mean +
 * yogi (lr 0.01, 0.9, 0.99, tau 1e-3: Flower's defaults); fedadagrad: mean + adagrad (lr 0.1,
 * beta1 0, tau 1e-3: Flower's). The robust presets step with sgd lr 1: fedmedian (median),
 * fedtrimmedavg (beta 0.2, Flower's default), krum (f 1, m 1), multikrum (f 1, m 5), bulyan (f 1),
 * centered-clip (tau 1, 3 iterations), qfedavg (q 0.1, Flower's default; client lr 0.05, the default
 * local rate: the CLI sets it to the run's --lr); scaffold: mean + sgd (lr default 1: eta_g, the
 * paper's global step) with SCAFFOLD control variates. Throws RangeError on a bad rate.
 */
export function presetSpec(name: StrategyPreset, options: { serverLearningRate?: number } = {}): StrategySpec {
  const rate = options.serverLearningRate;
  const mean = { kind: 'mean' } as const;
  const sgd = { kind: 'sgd', lr: rate ?? 1 } as const;
  switch (name) {
    case 'fedavg':
    case 'fedprox':
      return validate({ name, aggregator: mean, optimizer: { kind: 'sgd', lr: rate ?? 1 } });
    case 'fedavgm':
      return validate({ name, aggregator: mean, optimizer: { kind: 'momentum', lr: rate ?? 1, momentum: 0.9 } });
    case 'fedadam':
      return validate({ name, aggregator: mean, optimizer: { kind: 'adam', lr: rate ?? 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 } });
    case 'fedyogi':
      return validate({ name, aggregator: mean, optimizer: { kind: 'yogi', lr: rate ?? 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 } });
    case 'fedadagrad':
      return validate({ name, aggregator: mean, optimizer: { kind: 'adagrad', lr: rate ?? 0.1, beta1: 0, tau: 1e-3 } });
    case 'fedmedian':
      return validate({ name, aggregator: { kind: 'median' }, optimizer: sgd });
    case 'fedtrimmedavg':
      return validate({ name, aggregator: { kind: 'trimmed-mean', beta: 0.2 }, optimizer: sgd });
    case 'krum':
      return validate({ name, aggregator: { kind: 'krum', f: 1, m: 1 }, optimizer: sgd });
    case 'multikrum':
      return validate({ name, aggregator: { kind: 'krum', f: 1, m: 5 }, optimizer: sgd });
    case 'bulyan':
      return validate({ name, aggregator: { kind: 'bulyan', f: 1 }, optimizer: sgd });
    case 'centered-clip':
      return validate({ name, aggregator: { kind: 'centered-clip', tau: 1, iterations: 3 }, optimizer: sgd });
    case 'qfedavg':
      return validate({ name, aggregator: { kind: 'qfedavg', q: 0.1, lr: 0.05 }, optimizer: sgd });
    case 'scaffold':
      return validate({ name, aggregator: mean, optimizer: sgd, control: { kind: 'scaffold' } });
    default:
      throw unknownPreset(String(name satisfies never));
  }
}

/**
 * Validates a spec from outside (settings, API bodies, checkpoints' run records). Also accepts a
 * preset name: run settings stored before specs existed hold 'fedavg' etc. with the server
 * learning rate beside it, passed as `legacy.serverLearningRate` (used only for a preset name).
 * As the strategy classes these presets replace did, legacy 'fedprox' ignores that rate.
 * Throws RangeError naming the offending field: "invalid strategy spec: optimizer.lr: ...".
 */
export function parseStrategySpec(raw: unknown, legacy: { serverLearningRate?: number } = {}): StrategySpec {
  if (typeof raw === 'string') {
    if (!isStrategyPreset(raw)) throw unknownPreset(raw);
    return presetSpec(raw, raw === 'fedprox' ? {} : legacy);
  }
  return validate(raw);
}

function validate(raw: unknown): StrategySpec {
  const parsed = StrategySpecSchema.safeParse(raw);
  if (parsed.success) {
    const refused = controlProblem(parsed.data);
    if (refused !== undefined) throw new RangeError(`invalid strategy spec: ${refused}`);
    return parsed.data;
  }
  const at = (path: readonly PropertyKey[]): string => path.map(String).join('.') || '(spec)';
  const problems = parsed.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' ? issue.keys.map((key) => `${at([...issue.path, key])}: unrecognized key`) : [`${at(issue.path)}: ${issue.message}`],
  );
  throw new RangeError(`invalid strategy spec: ${problems.join('; ')}`);
}

/** Why a spec's control variates can't work with the rest of it, or undefined. */
function controlProblem(spec: StrategySpec): string | undefined {
  if (spec.control?.kind !== 'scaffold') return undefined;
  if (spec.aggregator.kind !== 'mean') {
    return `control.scaffold: needs the mean aggregator, got ${spec.aggregator.kind} (it would drop or reweigh the clients' Delta y while their Delta c still enter the server control variate, which then no longer tracks the clients' c_i)`;
  }
  if (spec.wrappers.length > 0) {
    return `control.scaffold: takes no wrappers, got ${spec.wrappers.map((w) => w.kind).join(', ')} (clipping or noising Delta y on the server would no longer match the Delta c each client derived from its unclipped, noise-free Delta y)`;
  }
  return undefined;
}

function unknownPreset(name: string): RangeError {
  return new RangeError(`invalid strategy spec: unknown preset '${name}' (use ${STRATEGY_PRESETS.join(', ')} or a spec object)`);
}
