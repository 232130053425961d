import { Strategy, type StrategySpec, presetSpec } from '@fedlink/core';
import { edgeRefusal } from '@fedlink/coordinator';

// Which parents may take edge aggregators: only those whose reduction of pre-summed groups is the flat one.

const plain = { secureAggregation: false };
const refusal = (spec: StrategySpec, settings = plain) => edgeRefusal(settings, Strategy.fromSpec(spec));

test('mean-based strategies accept edges, whatever their server optimizer', () => {
  for (const name of ['fedavg', 'fedavgm', 'fedadam', 'fedyogi', 'fedadagrad'] as const) expect(refusal(presetSpec(name))).toBeUndefined();
});

test("strategies that read each client's update refuse edges, naming the strategy", () => {
  for (const name of ['fedmedian', 'fedtrimmedavg', 'krum', 'bulyan', 'centered-clip', 'qfedavg'] as const) {
    expect(refusal(presetSpec(name))).toMatch(new RegExp(`strategy ${name}.*needs each client's update on its own`));
  }
  const clipped: StrategySpec = { ...presetSpec('fedavg'), name: 'clipped', wrappers: [{ kind: 'clip', maxNorm: 1 }] };
  expect(refusal(clipped)).toMatch(/needs each client's update on its own/);
});

test('differential privacy at the parent refuses edges, in every mode', () => {
  for (const mode of ['central', 'local', 'distributed'] as const) {
    const spec: StrategySpec = { ...presetSpec('fedavg'), name: `dp-${mode}`, wrappers: [{ kind: 'dp', mode, clip: 1, noiseMultiplier: 1 }] };
    expect(refusal(spec)).toMatch(/differential privacy at this coordinator/);
  }
});

test('secure aggregation on the parent-edge hop is refused, pointing at SecAgg+ at the edge', () => {
  expect(refusal(presetSpec('fedavg'), { secureAggregation: true })).toMatch(/SecAgg\+ between a parent and its edges is not supported.*fedlink edge --secure-aggregation/);
});
