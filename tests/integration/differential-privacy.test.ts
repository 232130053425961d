import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FedlinkClient } from '@fedlink/client';
import { DpAggregator, WeightedMeanAggregator, epsilonOf, presetSpec } from '@fedlink/core';
import { DEFAULT_RUN, PrivacyBudget, type RunSettings, validateRunSettings } from '@fedlink/coordinator';
import type { RoundPrivacy } from '@fedlink/protocol';
import { FixedDeltaTrainer } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';

// Real coordinators and clients over loopback, every client sending an all-zero delta: whatever
// the global model moves by is the DP noise, so its std must be the configured one; and the
// round records must carry the accountant's epsilon after every round.

const DELTA = 1e-5;

function dpStrategy(mode: 'central' | 'distributed' | 'local', clip: number, noiseMultiplier: number): RunSettings['strategy'] {
  return { ...presetSpec('fedavg'), name: `dp-${mode}`, wrappers: [{ kind: 'dp', mode, clip, noiseMultiplier }] };
}

function std(v: ArrayLike<number>): number {
  let s = 0;
  let q = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  const mean = s / v.length;
  for (let i = 0; i < v.length; i++) q += (v[i]! - mean) ** 2;
  return Math.sqrt(q / (v.length - 1));
}

/** Runs `clients` zero-delta clients to the end; returns how far the weights moved and the records' privacy. */
async function zeroUpdates(run: Partial<RunSettings> & Pick<RunSettings, 'selection'>, clients: number, localPrivacy?: { clip: number; noiseMultiplier: number }) {
  const coord = await startTestCoordinator(run);
  try {
    const initial = coord.context.model.weights.slice();
    const cs = Array.from({ length: clients }, (_, i) => {
      const trainer = new FixedDeltaTrainer(10 + i, (_round, n) => new Float32Array(n));
      return new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', serverFingerprint: coord.fingerprint, name: `c${i}`, ...(localPrivacy ? { localPrivacy } : {}) });
    });
    const runs = cs.map((c) => c.run());
    const end = await coord.done;
    await Promise.all(runs);
    const moved = Float64Array.from(coord.context.model.weights, (w, i) => w - initial[i]!);
    const body = (await (await fetch(`${coord.url}/api/rounds`)).json()) as { rounds: { status: string; privacy?: RoundPrivacy }[] };
    // What `fedlink runs show` prints of the same run, from the state directory.
    const bin = fileURLToPath(new URL('../../apps/cli/bin/fedlink.js', import.meta.url));
    const shown = spawnSync(process.execPath, [bin, 'runs', 'show', coord.context.runId, '--state-dir', coord.stateDir], { encoding: 'utf8', timeout: 60_000 }).stdout;
    return { end, moved, rounds: body.rounds, shown };
  } finally {
    await coord.cleanup();
  }
}

// d = 199,210 weights: a sample std within 2% of the truth fails by chance with probability < 1e-20.
test('central DP: 3 rounds of zero updates move the model by N(0, 3 (zC/m)^2); epsilon after every round in /api/rounds', async () => {
  const z = 2;
  const clip = 0.5;
  const { end, moved, rounds, shown } = await zeroUpdates(
    { rounds: 3, strategy: dpStrategy('central', clip, z), selection: { fraction: 0.5, minFit: 2, minAvailable: 4, overSelect: 0 }, privacy: { delta: DELTA } },
    4,
  );
  expect(end.status).toBe('finished');
  expect(Math.abs(std(moved) / ((Math.sqrt(3) * z * clip) / 2) - 1)).toBeLessThan(0.02);
  expect(rounds.map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);
  rounds.forEach((r, i) => {
    expect(r.privacy).toMatchObject({ mode: 'central', samplingRate: 0.5, noiseMultiplier: z, delta: DELTA, clip });
    expect(r.privacy!.epsilon).toBeCloseTo(epsilonOf(0.5, z, i + 1, DELTA).epsilon, 9);
  });
  expect(rounds[2]!.privacy!.epsilon).toBeGreaterThan(rounds[0]!.privacy!.epsilon);
  // fedlink runs show: a summary line and an epsilon column.
  const last = rounds[2]!.privacy!.epsilon.toFixed(3);
  expect(shown).toContain(`privacy: epsilon ${last} at delta ${DELTA} (central DP, noise multiplier ${z}, clip ${clip})`);
  expect(shown).toMatch(new RegExp(`^3\\s+1\\s+completed.*\\s${last.replace('.', '\\.')}\\s`, 'm'));
}, 120_000);

test('distributed DP under secure aggregation: the unmasked sum of zero updates carries std zC', async () => {
  const z = 1.5;
  const clip = 1;
  const { end, moved, rounds } = await zeroUpdates(
    { rounds: 1, secureAggregation: true, strategy: dpStrategy('distributed', clip, z), selection: { fraction: 1, minFit: 4, minAvailable: 4, overSelect: 0 } },
    4,
  );
  expect(end.status).toBe('finished');
  // mean = (sum of 4 zero deltas + N(0, (zC)^2)) / 4, up to the rounding's sensitivity inflation (< 1e-4 here)
  expect(Math.abs(std(moved) / ((z * clip) / 4) - 1)).toBeLessThan(0.02);
  expect(rounds[0]!.privacy).toMatchObject({ mode: 'distributed', samplingRate: 1, noiseMultiplier: z, delta: DELTA });
  expect(rounds[0]!.privacy!.epsilon).toBeCloseTo(epsilonOf(1, z, 1, DELTA).epsilon, 9);
}, 120_000);

test('local DP: each client noises its own update, the mean of 3 has std zC / sqrt(3)', async () => {
  const z = 1;
  const clip = 0.2;
  const { moved, rounds } = await zeroUpdates({ rounds: 1, strategy: dpStrategy('local', clip, z), selection: { fraction: 1, minFit: 3, minAvailable: 3, overSelect: 0 } }, 3);
  // The coordinator averages by examples (10, 11, 12): std = zC sqrt(sum n_i^2) / sum n_i.
  const want = (z * clip * Math.sqrt(10 ** 2 + 11 ** 2 + 12 ** 2)) / 33;
  expect(Math.abs(std(moved) / want - 1)).toBeLessThan(0.02);
  expect(rounds[0]!.privacy).toMatchObject({ mode: 'local', samplingRate: 1, noiseMultiplier: z });
}, 120_000);

test('a client that trusts no one enforces local DP itself, in a run without any DP', async () => {
  const { moved, rounds } = await zeroUpdates({ rounds: 1, selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } }, 2, { clip: 0.1, noiseMultiplier: 2 });
  // FedAvg weights 10 and 11 examples: std = zC sqrt(10^2 + 11^2) / 21.
  expect(Math.abs(std(moved) / ((2 * 0.1 * Math.sqrt(221)) / 21) - 1)).toBeLessThan(0.02);
  expect(rounds[0]!.privacy).toBeUndefined(); // the coordinator accounts nothing: it did not ask for DP
  expect(() => new FedlinkClient({ url: 'http://x', trainer: new FixedDeltaTrainer(1, (_r, n) => new Float32Array(n)), platform: 'node', backend: 'test', localPrivacy: { clip: 0, noiseMultiplier: 1 } })).toThrow(RangeError);
}, 120_000);

test('a resumed run re-charges its recorded rounds: epsilon continues where it stopped', async () => {
  const z = 1.5;
  const run = { rounds: 3, strategy: dpStrategy('central', 1, z), selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 }, waitTimeoutMs: 60_000, privacy: { delta: DELTA } };
  const clients = (url: string, fingerprint: string, maxRounds?: number) =>
    [0, 1].map(() => new FedlinkClient({ url, token: TEST_TOKEN, trainer: new FixedDeltaTrainer(5, (_r, n) => new Float32Array(n)), platform: 'node', backend: 'test', serverFingerprint: fingerprint, reconnect: false, ...(maxRounds ? { maxRounds } : {}) }));
  const first = await startTestCoordinator(run);
  const stateDir = first.stateDir;
  let cleanupDir = true;
  try {
    const a = clients(first.url, first.fingerprint, 2);
    const runs = a.map((c) => c.run().catch(() => undefined));
    while (first.engine.round < 2) await new Promise((r) => setTimeout(r, 100));
    await Promise.all(runs);
    await first.close({ suspend: true });
    const second = await startTestCoordinator(run, { stateDir });
    cleanupDir = false;
    try {
      const b = clients(second.url, second.fingerprint);
      const runsB = b.map((c) => c.run());
      const end = await second.done;
      await Promise.all(runsB);
      expect(end.status).toBe('finished');
      const body = (await (await fetch(`${second.url}/api/rounds`)).json()) as { rounds: { round: number; status: string; privacy?: RoundPrivacy }[] };
      const completed = body.rounds.filter((r) => r.status === 'completed');
      expect(completed.map((r) => r.round)).toEqual([1, 2, 3]);
      completed.forEach((r) => expect(r.privacy!.epsilon).toBeCloseTo(epsilonOf(1, z, r.round, DELTA).epsilon, 9));
    } finally {
      await second.cleanup();
    }
  } finally {
    if (cleanupDir) await first.cleanup();
  }
}, 180_000);

test('a run whose sampling rate rises above its schedule stops before the round that would pass the target epsilon', async () => {
  // The schedule is checked at minAvailable = 2 clients: fraction 0.5 selects 1 of 2 (q = 0.5),
  // and the target is that schedule's epsilon over 8 rounds. Three clients connect, so the
  // selection takes ceil(0.5 * 3) = 2 of 3 (q = 2/3) and the budget runs out before round 8.
  const z = 1.2;
  const rounds = 8;
  const target = epsilonOf(0.5, z, rounds, DELTA).epsilon * 1.0001;
  const { end, rounds: records } = await zeroUpdates(
    { rounds, strategy: dpStrategy('central', 1, z), selection: { fraction: 0.5, minFit: 1, minAvailable: 2, overSelect: 0 }, privacy: { delta: DELTA, targetEpsilon: target } },
    3,
  );
  expect(end.status).toBe('stopped');
  const completed = records.filter((r) => r.status === 'completed');
  const last = records[records.length - 1]!;
  expect(completed.length).toBeGreaterThan(0);
  expect(completed.length).toBeLessThan(rounds);
  expect(end.rounds).toBe(completed.length);
  expect(last).toMatchObject({ status: 'abandoned' });
  expect((last as { reason?: string }).reason).toMatch(/^privacy budget: round \d+ could take epsilon to [\d.]+, above the target [\d.]+ \(delta 0\.00001\); run stopped$/);
  // Every completed round is charged at the rate its selection used, and epsilon never passed the target.
  const charged = new PrivacyBudget(new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'central', clip: 1, noiseMultiplier: z }), { delta: DELTA, targetEpsilon: target });
  for (const r of completed) {
    expect([0.5, 2 / 3]).toContainEqual(r.privacy!.samplingRate);
    charged.charge(r.privacy!);
    expect(r.privacy!.epsilon).toBeCloseTo(charged.spent().epsilon, 9);
  }
  expect(charged.spent().epsilon).toBeLessThanOrEqual(target);
  expect(completed.some((r) => r.privacy!.samplingRate > 0.5)).toBe(true);
  // One more round at 2 of 3 would have passed it.
  expect(charged.wouldExceed({ samplingRate: 2 / 3, noiseMultiplier: z })).toBe(true);
}, 120_000);

describe('privacy settings and the budget', () => {
  const base: RunSettings = { ...DEFAULT_RUN, model: 'mlp', rounds: 50, strategy: dpStrategy('central', 1, 1), selection: { fraction: 0.1, minFit: 1, minAvailable: 100, overSelect: 0 } };

  test('a schedule within the target starts; one above it is refused naming the epsilon', () => {
    const eps = epsilonOf(0.1, 1, 50, DELTA).epsilon;
    expect(() => validateRunSettings({ ...base, privacy: { delta: DELTA, targetEpsilon: eps * 1.001 } })).not.toThrow();
    expect(() => validateRunSettings({ ...base, privacy: { delta: DELTA, targetEpsilon: eps * 0.999 } })).toThrow(new RegExp(`would spend epsilon ${eps.toFixed(3)}`));
  });

  test('privacy settings without a dp wrapper, distributed DP without secure aggregation, and bad deltas are refused', () => {
    expect(() => validateRunSettings({ ...base, strategy: presetSpec('fedavg'), privacy: { delta: DELTA } })).toThrow(/dp wrapper/);
    expect(() => validateRunSettings({ ...base, strategy: dpStrategy('distributed', 1, 1) })).toThrow(/needs secure aggregation/);
    expect(() => validateRunSettings({ ...base, privacy: { delta: 1.5 } })).toThrow(/delta/);
    expect(() => validateRunSettings({ ...base, secureAggregation: true, selection: { ...base.selection, minFit: 2 } })).toThrow(/needs each client's update/);
  });

  test('the budget composes rounds of different sampling rates, stops before a round past the target, and replays records', () => {
    const dp = new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'central', clip: 1, noiseMultiplier: 1.1 });
    const budget = new PrivacyBudget(dp, { delta: DELTA, targetEpsilon: 2 });
    const records: RoundPrivacy[] = [];
    let rounds = 0;
    // 7 of 70 connected, then 9 of 70: the rates the selection used.
    for (const selected of [7, 9, 7, 9, 7, 9, 7, 9, 7, 9, 7, 9]) {
      const cost = budget.costOf(selected, 70, selected, selected);
      if (budget.wouldExceed(cost)) break;
      records.push(budget.charge(cost));
      rounds++;
    }
    expect(rounds).toBeGreaterThan(0);
    expect(rounds).toBeLessThan(12);
    expect(budget.spent().epsilon).toBeLessThanOrEqual(2);
    expect(budget.peek(budget.costOf(rounds % 2 ? 9 : 7, 70, 1, 1)).epsilon).toBeGreaterThan(2);
    // Homogeneous check: all rounds at one rate give the closed form.
    const flat = new PrivacyBudget(dp, { delta: DELTA });
    for (let i = 0; i < 5; i++) flat.charge({ samplingRate: 0.1, noiseMultiplier: 1.1 });
    expect(flat.spent().epsilon).toBeCloseTo(epsilonOf(0.1, 1.1, 5, DELTA).epsilon, 10);
    const again = new PrivacyBudget(dp, { delta: DELTA });
    again.replay(records.map((privacy) => ({ privacy })));
    expect(again.spent().epsilon).toBeCloseTo(budget.spent().epsilon, 12);
    // Distributed DP: fewer survivors than the shares were sized for cost more.
    const ddp = new PrivacyBudget(new DpAggregator(new WeightedMeanAggregator(), { kind: 'dp', mode: 'distributed', clip: 1, noiseMultiplier: 1 }), { delta: DELTA });
    expect(ddp.costOf(10, 100, 5, 10).noiseMultiplier).toBeCloseTo(Math.sqrt(0.5), 12);
  });
});
