import { type Aggregator, WeightedMeanAggregator } from './aggregator.js';
import { QFedAvgAggregator } from './qfedavg.js';
import { BulyanAggregator, CenteredClipAggregator, KrumAggregator, MedianAggregator, TrimmedMeanAggregator } from './robust.js';
import { type ServerOptimizer, ServerAdagrad, ServerAdam, ServerMomentum, ServerSgd, ServerYogi } from './server-optimizer.js';
import { ScaffoldControl } from './scaffold.js';
import type { AggregatorSpec, ControlSpec, OptimizerSpec, WrapperSpec } from './spec.js';
import { ClippedAggregator } from './wrappers.js';
import { DpAggregator } from './dp.js';

/**
 * One table per part, from a spec's `kind` to the factory that builds it. Strategy.fromSpec looks
 * kinds up here and nowhere else; each table is typed over its spec union, so a kind added to
 * the schema in spec.ts without an entry here does not compile.
 */

/** Each kind of a spec union mapped to a factory taking that kind's spec. */
type FactoryTable<S extends { kind: string }, T> = { readonly [K in S['kind']]: (spec: Extract<S, { kind: K }>) => T };

export const AGGREGATORS: FactoryTable<AggregatorSpec, Aggregator> = {
  mean: () => new WeightedMeanAggregator(),
  median: () => new MedianAggregator(),
  'trimmed-mean': (s) => new TrimmedMeanAggregator(s.beta),
  krum: (s) => new KrumAggregator(s.f, s.m),
  bulyan: (s) => new BulyanAggregator(s.f),
  'centered-clip': (s) => new CenteredClipAggregator(s.tau, s.iterations),
  qfedavg: (s) => new QFedAvgAggregator(s.q, s.lr),
};

export const OPTIMIZERS: FactoryTable<OptimizerSpec, ServerOptimizer> = {
  sgd: (s) => new ServerSgd(s.lr),
  momentum: (s) => new ServerMomentum(s.lr, s.momentum),
  adam: (s) => new ServerAdam(s.lr, s.beta1, s.beta2, s.tau, s.biasCorrection ?? false),
  yogi: (s) => new ServerYogi(s.lr, s.beta1, s.beta2, s.tau),
  adagrad: (s) => new ServerAdagrad(s.lr, s.beta1, s.tau),
};

/** Control variates kept across rounds (SCAFFOLD's server c). */
export const CONTROLS: FactoryTable<ControlSpec, ScaffoldControl> = {
  scaffold: () => new ScaffoldControl(),
};

/** A wrapper wraps one half of the strategy: the aggregator (sees each update) or the optimizer (sees the mean delta). */
export type WrapperFactory<S> =
  | { readonly target: 'aggregator'; wrap(inner: Aggregator, spec: S): Aggregator }
  | { readonly target: 'optimizer'; wrap(inner: ServerOptimizer, spec: S): ServerOptimizer };

export const WRAPPERS: { readonly [K in WrapperSpec['kind']]: WrapperFactory<Extract<WrapperSpec, { kind: K }>> } = {
  clip: { target: 'aggregator', wrap: (inner, s) => new ClippedAggregator(inner, s.maxNorm) },
  dp: { target: 'aggregator', wrap: (inner, s) => new DpAggregator(inner, s) },
};

/** The table's entry for `spec.kind`; RangeError for a kind the table lacks (an unvalidated spec). */
function entry<F>(table: Readonly<Record<string, F>>, spec: { kind: string }, what: string): F {
  const found = Object.hasOwn(table, spec.kind) ? table[spec.kind] : undefined;
  if (found === undefined) throw new RangeError(`unknown ${what} kind '${spec.kind}' (known: ${Object.keys(table).join(', ')})`);
  return found;
}

// Each table entry takes its own kind's spec; `entry` picked it by that kind, hence the casts.

export function buildAggregator(spec: AggregatorSpec): Aggregator {
  return (entry(AGGREGATORS, spec, 'aggregator') as (s: AggregatorSpec) => Aggregator)(spec);
}

export function buildOptimizer(spec: OptimizerSpec): ServerOptimizer {
  return (entry(OPTIMIZERS, spec, 'optimizer') as (s: OptimizerSpec) => ServerOptimizer)(spec);
}

export function buildControl(spec: ControlSpec): ScaffoldControl {
  return (entry(CONTROLS, spec, 'control') as (s: ControlSpec) => ScaffoldControl)(spec);
}

/** Wraps whichever half `spec`'s wrapper kind targets; returns both halves. */
export function applyWrapper(spec: WrapperSpec, parts: { aggregator: Aggregator; optimizer: ServerOptimizer }): { aggregator: Aggregator; optimizer: ServerOptimizer } {
  const factory = entry(WRAPPERS, spec, 'wrapper') as WrapperFactory<WrapperSpec>;
  return factory.target === 'aggregator' ? { ...parts, aggregator: factory.wrap(parts.aggregator, spec) } : { ...parts, optimizer: factory.wrap(parts.optimizer, spec) };
}
