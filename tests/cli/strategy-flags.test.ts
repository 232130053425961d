// The strategy flags of `serve` / `simulate` (--aggregator, --optimizer, --beta1, --beta2, --tau,
// --bias-correction, --clip) build the same StrategySpec a JSON spec would, and the run settings
// refuse what cannot work, with the reason.
import { presetSpec } from '@fedlink/core';
import { DEFAULT_RUN, validateRunSettings } from '@fedlink/coordinator';
import { strategyFrom } from '@fedlink/cli';

test('flags refine the preset into the spec the JSON form gives', () => {
  expect(strategyFrom('fedavg', undefined, {})).toEqual(presetSpec('fedavg'));
  expect(strategyFrom('fedavg', 0.05, { aggregator: 'bulyan:2', optimizer: 'yogi', beta2: 0.999 })).toEqual({
    name: 'bulyan+yogi',
    aggregator: { kind: 'bulyan', f: 2 },
    optimizer: { kind: 'yogi', lr: 0.05, beta1: 0.9, beta2: 0.999, tau: 1e-3 },
    wrappers: [],
  });
  const json = JSON.stringify({ name: 'mine', aggregator: { kind: 'median' }, optimizer: { kind: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3 } });
  expect(strategyFrom(json, undefined, { 'bias-correction': true, clip: 3 })).toEqual({
    name: 'mine',
    aggregator: { kind: 'median' },
    optimizer: { kind: 'adam', lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3, biasCorrection: true },
    wrappers: [{ kind: 'clip', maxNorm: 3 }],
  });
  expect(strategyFrom('fedadam', 0.2, { tau: 0.01 }).optimizer).toEqual({ kind: 'adam', lr: 0.2, beta1: 0.9, beta2: 0.99, tau: 0.01 });
});

test('bad forms and flags that do not apply are usage errors naming the flag', () => {
  expect(() => strategyFrom('fedavg', undefined, { aggregator: 'krum' })).toThrow(/--aggregator\/--optimizer: 'krum': expected krum:<f>/);
  expect(() => strategyFrom('fedavg', undefined, { optimizer: 'rmsprop' })).toThrow(/unknown optimizer 'rmsprop'/);
  expect(() => strategyFrom('fedavg', undefined, { beta1: 0.9 })).toThrow(/beta1 applies to the adam, yogi, adagrad optimizers; this strategy's is sgd/);
});

test('a robust aggregator is refused with secure aggregation, and Bulyan below 4f + 3 updates a round, each with the reason', () => {
  const secure = { ...DEFAULT_RUN, secureAggregation: true, selection: { ...DEFAULT_RUN.selection, minFit: 8, minAvailable: 8 } };
  expect(() => validateRunSettings({ ...secure, strategy: strategyFrom('fedavg', undefined, { aggregator: 'median' }) })).toThrow(
    /strategy median\+sgd needs each client's update \(median reads every update on its own\); secure aggregation delivers only their sum/,
  );
  expect(() => validateRunSettings({ ...secure, strategy: presetSpec('krum') })).toThrow(/krum reads every update on its own/);
  validateRunSettings({ ...secure, strategy: presetSpec('fedyogi') });
  const bulyan = { ...DEFAULT_RUN, strategy: presetSpec('bulyan') };
  expect(() => validateRunSettings({ ...bulyan, selection: { ...DEFAULT_RUN.selection, minFit: 5, minAvailable: 5 } })).toThrow(/bulyan needs at least 7 updates a round; raise min-fit \(5\) to 7/);
  validateRunSettings({ ...bulyan, selection: { ...DEFAULT_RUN.selection, minFit: 7, minAvailable: 7 } });
});

test('--strategy scaffold: --server-lr is eta_g; robust aggregators, --clip, DP and secure aggregation are refused at start with the reason', () => {
  expect(strategyFrom('scaffold', 0.5, {})).toEqual({ name: 'scaffold', aggregator: { kind: 'mean' }, optimizer: { kind: 'sgd', lr: 0.5 }, wrappers: [], control: { kind: 'scaffold' } });
  expect(() => strategyFrom('scaffold', undefined, { aggregator: 'median' })).toThrow(/control\.scaffold: needs the mean aggregator, got median/);
  expect(() => strategyFrom('scaffold', undefined, { clip: 3 })).toThrow(/control\.scaffold: takes no wrappers, got clip/);
  const secure = { ...DEFAULT_RUN, secureAggregation: true, selection: { ...DEFAULT_RUN.selection, minFit: 2, minAvailable: 2 } };
  expect(() => validateRunSettings({ ...secure, strategy: presetSpec('scaffold') })).toThrow(
    /strategy scaffold keeps scaffold control variates: each client's delta c enters the server control variate unweighted.*secure aggregation delivers only one example-weighted sum/,
  );
  validateRunSettings({ ...DEFAULT_RUN, strategy: presetSpec('scaffold') });
});
