import { AGGREGATOR_FORMS, OPTIMIZER_FORMS, STRATEGY_PRESETS, type StrategySpec, refineStrategy } from '@fedlink/core';
import { resolve } from 'node:path';
import { DEFAULT_RUN, isZooModel, type RunSettings, type LogLevel, strategyOf } from '@fedlink/coordinator';
import { MODEL_NAMES } from '@fedlink/ml';
import { TENSOR_ENCODINGS, type TensorEncoding } from '@fedlink/protocol';
import { type OptionSpec, type ParsedValue, UsageError } from './args.js';
import { privacyOptions, withPrivacy } from './privacy-options.js';

/** Options shared by `serve` and `simulate`: what the run trains and how rounds work. */
export function runOptions(defaults: Partial<{ model: string; rounds: number; roundTimeout: string; waitTimeout: string }> = {}): Record<string, OptionSpec> {
  return {
    model: {
      type: 'string',
      default: defaults.model ?? DEFAULT_RUN.model,
      placeholder: 'mlp|cnn|<model.json>',
      description: 'model: mlp (2NN, 199,210 params), cnn (1,663,370 params), cifar-cnn (RGB 32x32x3, 136,874 params), char-lstm (text, next-char: two 64-unit LSTMs, 59,012 params; char-lstm-leaf at the LEAF size, 256 units, 823,172), text-classifier (text classification: mean of 16-wide embeddings of up to 2,000 word ids, 10 logits, so at most 10 classes; 32,170 params), tabular-mlp (csv data: two hidden layers of 64, input width from the data), recommender (csv data: matrix factorisation over two id columns, user then item), or the path of any tfjs Layers model.json (its weight files beside it): a classifier of the data (logits or softmax out) or, for csv regression, one linear output',
    },
    rounds: { type: 'int', min: 1, default: defaults.rounds ?? DEFAULT_RUN.rounds, description: 'rounds to run' },
    strategy: {
      type: 'string',
      default: DEFAULT_RUN.strategy.name,
      placeholder: `${STRATEGY_PRESETS.join('|')}|<json spec>`,
      description:
        'aggregation strategy: a preset, or a JSON strategy spec ({"name","aggregator","optimizer","wrappers","control"}, see docs/ARCHITECTURE.md); scaffold: SCAFFOLD control variates (mean aggregator only, no --clip, DP or --secure-aggregation; --server-lr is its global step eta_g)',
    },
    'server-lr': { type: 'number', min: 0, description: "server optimizer's learning rate (fedavg and scaffold 1, fedadam 0.01 by default)" },
    aggregator: { type: 'string', placeholder: AGGREGATOR_FORMS.join('|'), description: "replaces the strategy's aggregator (all but mean need each update: not with --secure-aggregation)" },
    optimizer: { type: 'string', placeholder: OPTIMIZER_FORMS.join('|'), description: "replaces the strategy's server optimizer" },
    beta1: { type: 'number', min: 0, description: 'server optimizer beta1 (adam, yogi, adagrad)' },
    beta2: { type: 'number', min: 0, description: 'server optimizer beta2 (adam, yogi)' },
    tau: { type: 'number', min: 0, description: 'server optimizer adaptivity tau (adam, yogi, adagrad)' },
    'bias-correction': { type: 'boolean', description: "adam: Kingma & Ba's bias correction, as Flower's FedAdam (default off, as in Reddi et al.)" },
    clip: { type: 'number', min: 0, description: 'clip each update to this L2 norm before the aggregator' },
    fraction: { type: 'number', min: 0, max: 1, default: DEFAULT_RUN.selection.fraction, description: 'share of connected clients selected each round' },
    'min-fit': { type: 'int', min: 1, default: DEFAULT_RUN.selection.minFit, description: 'fewest updates a round may close with' },
    'min-available': { type: 'int', min: 1, description: 'clients needed before a round starts (default: min-fit)' },
    'over-select': { type: 'number', min: 0, max: 10, default: DEFAULT_RUN.selection.overSelect, description: 'extra share selected to absorb dropouts' },
    epochs: { type: 'int', min: 1, default: DEFAULT_RUN.fit.epochs, description: 'local epochs per round' },
    'batch-size': { type: 'int', min: 1, default: DEFAULT_RUN.fit.batchSize, description: 'local minibatch size' },
    lr: { type: 'number', min: 0, default: DEFAULT_RUN.fit.learningRate, description: 'local SGD learning rate' },
    mu: { type: 'number', min: 0, default: DEFAULT_RUN.fit.proximalMu, description: 'FedProx proximal term mu (0 = off)' },
    seed: { type: 'int', default: DEFAULT_RUN.seed, description: 'seed for model init, selection, partitions and batch order' },
    'round-timeout': { type: 'duration', default: defaults.roundTimeout ?? '10m', description: 'deadline for updates after a round starts' },
    'wait-timeout': { type: 'duration', default: defaults.waitTimeout ?? '10m', description: 'deadline for min-available clients to connect' },
    encoding: { type: 'string', choices: TENSOR_ENCODINGS, default: DEFAULT_RUN.encoding, description: 'wire encoding of client deltas: float32, float16, int8, sq8 (8-bit stochastic quantisation), topk (top-k sparsification with error feedback)' },
    'topk-fraction': { type: 'number', min: 0, max: 1, description: 'encoding topk: share of each tensor\'s entries a delta keeps (default 0.01)' },
    'max-update-norm': { type: 'number', min: 0, default: 0, description: 'reject deltas with a larger L2 norm (0 = no bound)' },
    'secure-aggregation': { type: 'boolean', default: false, description: 'SecAgg+: the coordinator learns only the sum of the updates' },
    'secagg-clip': { type: 'number', min: 0, default: DEFAULT_RUN.secaggClipRange, description: 'secure aggregation: clip delta entries to [-C, C]' },
    'secagg-stage-timeout': { type: 'duration', default: '60s', description: 'secure aggregation: deadline of each key/unmask stage' },
    'secagg-dropout': {
      type: 'number',
      min: 0,
      max: 0.9,
      description: 'secure aggregation: share of clients that may drop mid-round (raises the neighbour count k; default k tolerates ~10%)',
    },
    ...privacyOptions(),
  };
}

/** `--model`: a zoo name as given, a model.json path made absolute (a resumed run finds it from any directory). */
export function modelRefFrom(text: string): string {
  if (isZooModel(text)) return text;
  if (!text.endsWith('.json')) throw new UsageError(`--model: '${text}' is not one of ${MODEL_NAMES.join(', ')} nor the path of a model.json`);
  return resolve(text);
}

/** `--fraction --min-fit --min-available --over-select` as a selection policy (min-available defaults to min-fit). */
export function selectionFrom(v: Record<string, ParsedValue>): RunSettings['selection'] {
  const minFit = v['min-fit'] as number;
  const minAvailable = (v['min-available'] as number | undefined) ?? minFit;
  if (minAvailable < minFit) throw new UsageError(`--min-available (${minAvailable}) must be at least --min-fit (${minFit})`);
  return { fraction: v.fraction as number, minFit, minAvailable, overSelect: v['over-select'] as number };
}

/** How a coordinator collects a round: deadlines, the wire encoding, the update bound and secure aggregation. */
export function collectionSettingsFrom(
  v: Record<string, ParsedValue>,
): Pick<RunSettings, 'roundTimeoutMs' | 'waitTimeoutMs' | 'encoding' | 'topkFraction' | 'maxUpdateNorm' | 'secureAggregation' | 'secaggClipRange' | 'secaggStageTimeoutMs' | 'secaggExpectedDropout'> {
  return {
    roundTimeoutMs: v['round-timeout'] as number,
    waitTimeoutMs: v['wait-timeout'] as number,
    encoding: v.encoding as TensorEncoding,
    ...(v['topk-fraction'] !== undefined ? { topkFraction: v['topk-fraction'] as number } : {}),
    maxUpdateNorm: v['max-update-norm'] as number,
    secureAggregation: v['secure-aggregation'] as boolean,
    secaggClipRange: v['secagg-clip'] as number,
    secaggStageTimeoutMs: v['secagg-stage-timeout'] as number,
    ...(v['secagg-dropout'] !== undefined ? { secaggExpectedDropout: v['secagg-dropout'] as number } : {}),
  };
}

export function runSettingsFrom(v: Record<string, ParsedValue>, dataset: string): RunSettings {
  return withPrivacy({
    ...DEFAULT_RUN,
    model: modelRefFrom(v.model as string),
    dataset,
    rounds: v.rounds as number,
    strategy: strategyFrom(v.strategy as string, v['server-lr'] as number | undefined, v),
    selection: selectionFrom(v),
    fit: { epochs: v.epochs as number, batchSize: v['batch-size'] as number, learningRate: v.lr as number, proximalMu: v.mu as number },
    seed: v.seed as number,
    ...collectionSettingsFrom(v),
  }, v);
}

/**
 * `--strategy` (a preset name or a JSON spec) and `--server-lr` as one strategy spec, refined by
 * `--aggregator`, `--optimizer`, `--beta1`, `--beta2`, `--tau`, `--bias-correction` and `--clip`
 * (core's refineStrategy: the one parser of those forms).
 */
export function strategyFrom(text: string, serverLearningRate: number | undefined, v: Record<string, ParsedValue> = {}): StrategySpec {
  let base: StrategySpec;
  try {
    base = strategyOf(text.trim().startsWith('{') ? (JSON.parse(text) as StrategySpec) : text, serverLearningRate);
  } catch (e) {
    throw new UsageError(`--strategy: ${(e as Error).message}`);
  }
  const given = <T>(name: string): T | undefined => v[name] as T | undefined;
  const options = {
    aggregator: given<string>('aggregator'),
    optimizer: given<string>('optimizer'),
    // --server-lr applies to a replaced optimizer too
    lr: given<string>('optimizer') !== undefined ? serverLearningRate : undefined,
    beta1: given<number>('beta1'),
    beta2: given<number>('beta2'),
    tau: given<number>('tau'),
    biasCorrection: given<boolean>('bias-correction'),
    clip: given<number>('clip'),
  };
  const clientLr = given<number>('lr');
  // q-FedAvg's Lipschitz estimate is 1 / the clients' learning rate: the preset takes the run's --lr.
  if (base.aggregator.kind === 'qfedavg' && !text.trim().startsWith('{') && clientLr !== undefined) base = { ...base, aggregator: { ...base.aggregator, lr: clientLr } };
  const set = Object.fromEntries(Object.entries(options).filter(([, x]) => x !== undefined));
  if (Object.keys(set).length === 0) return base;
  if (clientLr !== undefined) set.clientLr = clientLr;
  try {
    return refineStrategy(base, set);
  } catch (e) {
    throw new UsageError(`--aggregator/--optimizer: ${(e as Error).message}`);
  }
}

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export function formatRoundLine(r: {
  round: number;
  attempt: number;
  status: string;
  reason?: string;
  reported: number;
  selected: number;
  trainLoss?: number;
  testAccuracy?: number;
  testLoss?: number;
  testMae?: number;
  testRmse?: number;
  seconds: number;
  privacy?: { epsilon: number; delta: number };
  federatedEval?: { loss: number; accuracy: number; examples: number; clients: number; mae?: number; rmse?: number };
}, rounds: number): string {
  const head = `round ${String(r.round).padStart(String(rounds).length)}/${rounds}`;
  if (r.status !== 'completed') return `${head}  ABANDONED (attempt ${r.attempt}): ${r.reason ?? 'no reason'}  ${r.seconds.toFixed(1)}s`;
  const f = (x: number | undefined, d = 4) => (x === undefined ? '-' : x.toFixed(d));
  const fe = r.federatedEval;
  const fed = fe
    ? fe.rmse !== undefined
      ? `  client_eval_rmse ${f(fe.rmse)} client_eval_mae ${f(fe.mae)} (${fe.examples} held-out ex)`
      : `  client_eval_acc ${f(fe.accuracy)} client_eval_loss ${f(fe.loss)} (${fe.examples} held-out ex)`
    : '';
  const eps = r.privacy ? `  epsilon ${f(r.privacy.epsilon, 3)} (delta ${r.privacy.delta})` : '';
  // Regression runs (the test evaluation gives errors, not accuracy): RMSE and MAE in the label's units.
  const test = r.testRmse !== undefined ? `test_rmse ${f(r.testRmse)}  test_mae ${f(r.testMae)}` : `test_acc ${f(r.testAccuracy)}  test_loss ${f(r.testLoss)}`;
  return `${head}  clients ${r.reported}/${r.selected}  train_loss ${f(r.trainLoss)}  ${test}${fed}${eps}  ${r.seconds.toFixed(1)}s`;
}
