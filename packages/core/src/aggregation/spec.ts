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

export const AggregatorSpecSchema = z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('mean') })]);

export const OptimizerSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sgd'), lr }),
  z.strictObject({ kind: z.literal('momentum'), lr, momentum: unit }),
  z.strictObject({ kind: z.literal('adam'), lr, beta1: unit, beta2: unit, tau: z.number().positive().max(10) }),
]);

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
});

export type StrategySpec = z.infer<typeof StrategySpecSchema>;
export type AggregatorSpec = z.infer<typeof AggregatorSpecSchema>;
export type OptimizerSpec = z.infer<typeof OptimizerSpecSchema>;
export type WrapperSpec = z.infer<typeof WrapperSpecSchema>;

export const STRATEGY_PRESETS = ['fedavg', 'fedprox', 'fedavgm', 'fedadam'] as const;
export type StrategyPreset = (typeof STRATEGY_PRESETS)[number];

export function isStrategyPreset(name: string): name is StrategyPreset {
  return (STRATEGY_PRESETS as readonly string[]).includes(name);
}

/**
 * The spec of a named strategy. fedavg and fedprox: mean + sgd (lr default 1; FedProx differs
 * only on the clients, by proximalMu); fedavgm: mean + momentum (lr 1, momentum 0.9); fedadam:
 * mean + adam (lr 0.01, beta1 0.9, beta2 0.99, tau 1e-3). Throws RangeError on a bad rate.
 */
export function presetSpec(name: StrategyPreset, options: { serverLearningRate?: number } = {}): StrategySpec {
  const rate = options.serverLearningRate;
  const mean = { kind: 'mean' } as const;
  switch (name) {
    case 'fedavg':
    case 'fedprox':
      return validate({ name, aggregator: mean, optimizer: { kind: 'sgd', lr: rate ?? 1 } });
    case 'fedavgm':
      return validate({ name, aggregator: mean, optimizer: { kind: 'momentum', lr: rate ?? 1, momentum: 0.9 } });
    case 'fedadam':
      return validate({ name, aggregator: mean, optimizer: { kind: 'adam', lr: rate ?? 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 } });
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
  if (parsed.success) return parsed.data;
  const at = (path: readonly PropertyKey[]): string => path.map(String).join('.') || '(spec)';
  const problems = parsed.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' ? issue.keys.map((key) => `${at([...issue.path, key])}: unrecognized key`) : [`${at(issue.path)}: ${issue.message}`],
  );
  throw new RangeError(`invalid strategy spec: ${problems.join('; ')}`);
}

function unknownPreset(name: string): RangeError {
  return new RangeError(`invalid strategy spec: unknown preset '${name}' (use ${STRATEGY_PRESETS.join(', ')} or a spec object)`);
}
