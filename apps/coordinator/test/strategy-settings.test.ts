import { presetSpec } from '@fedlink/core';
import { CheckpointError, DEFAULT_RUN, decodeCheckpoint, encodeCheckpoint, normalizeRunSettings, strategyOf, validateRunSettings } from '@fedlink/coordinator';

// One strategy spec for every way a run's strategy is given: presets, specs, stored settings, checkpoints.

test('a preset name and a server learning rate become one spec; FedProx keeps its fixed step', () => {
  expect(strategyOf('fedadam', 0.05)).toEqual({ ...presetSpec('fedadam'), optimizer: { kind: 'adam', lr: 0.05, beta1: 0.9, beta2: 0.99, tau: 1e-3 } });
  expect(strategyOf('fedavgm').optimizer).toEqual({ kind: 'momentum', lr: 1, momentum: 0.9 });
  expect(strategyOf('fedprox', 0.5).optimizer).toEqual({ kind: 'sgd', lr: 1 });
  expect(strategyOf({ ...presetSpec('fedavg'), name: 'mine' }, 2)).toMatchObject({ name: 'mine', optimizer: { kind: 'sgd', lr: 2 } });
  expect(() => strategyOf('fedsgd')).toThrow(RangeError);
  expect(() => strategyOf({ ...presetSpec('fedavg'), optimizer: { kind: 'sgd', lr: -1 } })).toThrow(/optimizer\.lr/);
});

test('settings stored before strategies were specs load as specs', () => {
  const old = { ...DEFAULT_RUN, strategy: 'fedadam', serverLearningRate: 0.02 } as unknown;
  const s = normalizeRunSettings(old);
  expect(s.strategy).toEqual(strategyOf('fedadam', 0.02));
  expect('serverLearningRate' in s).toBe(false);
  expect(normalizeRunSettings(s)).toEqual(s);
});

test('run settings are checked where they enter: FedProx needs mu, secure aggregation needs a strategy that takes sums', () => {
  expect(() => validateRunSettings({ ...DEFAULT_RUN, strategy: presetSpec('fedprox') })).toThrow(/FedProx needs proximalMu > 0/);
  validateRunSettings({ ...DEFAULT_RUN, strategy: presetSpec('fedprox'), fit: { ...DEFAULT_RUN.fit, proximalMu: 0.1 } });
  const clipped = { ...presetSpec('fedavg'), wrappers: [{ kind: 'clip' as const, maxNorm: 1 }] };
  expect(() => validateRunSettings({ ...DEFAULT_RUN, strategy: clipped, secureAggregation: true, selection: { ...DEFAULT_RUN.selection, minFit: 2, minAvailable: 2 } })).toThrow(/needs each client's update/);
  expect(() => validateRunSettings({ ...DEFAULT_RUN, fit: { ...DEFAULT_RUN.fit, batchSize: 0 } })).toThrow(/batchSize/);
  expect(() => validateRunSettings({ ...DEFAULT_RUN, selection: { ...DEFAULT_RUN.selection, fraction: 2 } })).toThrow(RangeError);
});

test('a checkpoint carries the spec that wrote its state; a corrupt spec is a CheckpointError', () => {
  const spec = presetSpec('fedavgm');
  const { bytes, sha256 } = encodeCheckpoint({ runId: 'run_a', round: 3, weights: new Float32Array([1, 2]), serverState: { 'optimizer/velocity': new Float32Array([3, 4]) }, strategy: spec });
  const back = decodeCheckpoint(bytes, sha256);
  expect(back.strategy).toEqual(spec);
  expect(Array.from(back.serverState['optimizer/velocity']!)).toEqual([3, 4]);
  // The same checkpoint with a header whose spec is invalid (the body and its digest untouched).
  const text = bytes.toString('latin1').replace('"momentum":0.9', '"momentum":9.0');
  expect(() => decodeCheckpoint(Buffer.from(text, 'latin1'), sha256)).toThrow(CheckpointError);
  expect(() => decodeCheckpoint(Buffer.from(text, 'latin1'), sha256)).toThrow(/bad strategy in header: invalid strategy spec: optimizer\.momentum/);
});
