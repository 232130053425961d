// The simulator's attacks (apps/cli/src/simulate/attacks.ts) on a trainer whose honest delta is
// known: what each attacker sends, who attacks (seeded), ALIE's z and its collusion.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FitOutcome, Trainer } from '@fedlink/client';
import { alieDelta, alieZ, attackText, attackingTrainer, chooseAttackers, flipLabels, parseAttack, roundKeyOf } from '@fedlink/cli';
import type { TrainConfig, Welcome } from '@fedlink/protocol';

const CONFIG: TrainConfig = { epochs: 1, batchSize: 10, learningRate: 0.1, proximalMu: 0, seed: 1 };

/** A trainer whose honest delta is `delta`. */
function fixed(delta: number[]): Trainer {
  return {
    numExamples: 7,
    prepare: async (_w: Welcome) => undefined,
    fit: async (): Promise<FitOutcome> => ({ delta: Float32Array.from(delta), numExamples: 7, metrics: { loss: 1, accuracy: 0.5, trainSeconds: 0, samplesPerSecond: 0 } }),
    dispose: () => undefined,
  };
}
const sent = async (t: Trainer) => Array.from((await t.fit(new Float32Array(3), CONFIG)).delta);

test('parses each attack form and refuses bad ones', () => {
  expect(parseAttack('sign-flip')).toEqual({ kind: 'sign-flip' });
  expect(parseAttack('scale:10')).toEqual({ kind: 'scale', k: 10 });
  expect(parseAttack('gaussian:0.5')).toEqual({ kind: 'gaussian', sigma: 0.5 });
  expect(parseAttack('label-flip')).toEqual({ kind: 'label-flip' });
  expect(parseAttack('alie')).toEqual({ kind: 'alie' });
  expect(parseAttack('alie:1.5')).toEqual({ kind: 'alie', z: 1.5 });
  for (const bad of ['scale', 'scale:-1', 'scale:x', 'gaussian:0', 'sign-flip:2', 'backdoor', 'scale:1:2']) expect(() => parseAttack(bad)).toThrow(RangeError);
  expect(attackText(parseAttack('scale:10'))).toBe('scale:10');
});

test('sign-flip sends -delta; scale:k sends -k delta; label-flip sends the honest delta (its data is flipped)', async () => {
  expect(await sent(attackingTrainer(fixed([1, -2, 0.5]), { kind: 'sign-flip' }, { seed: 1 }))).toEqual([-1, 2, -0.5]);
  expect(await sent(attackingTrainer(fixed([1, -2, 0.5]), { kind: 'scale', k: 10 }, { seed: 1 }))).toEqual([-10, 20, -5]);
  expect(await sent(attackingTrainer(fixed([1, -2, 0.5]), { kind: 'label-flip' }, { seed: 1 }))).toEqual([1, -2, 0.5]);
  const data = { images: new Float32Array(3), labels: Uint8Array.of(0, 3, 9), count: 3, height: 1, width: 1, channels: 1, numClasses: 10 };
  expect(Array.from(flipLabels(data).labels)).toEqual([9, 6, 0]);
});

test('gaussian:sigma sends seeded noise of that spread, not the delta', async () => {
  const big = Array.from({ length: 20_000 }, () => 1);
  const a = Array.from((await attackingTrainer(fixed(big), { kind: 'gaussian', sigma: 0.5 }, { seed: 3 }).fit(new Float32Array(big.length), CONFIG)).delta);
  const b = Array.from((await attackingTrainer(fixed(big), { kind: 'gaussian', sigma: 0.5 }, { seed: 3 }).fit(new Float32Array(big.length), CONFIG)).delta);
  expect(a).toEqual(b);
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  const sd = Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length);
  expect(Math.abs(mean)).toBeLessThan(0.02);
  expect(sd).toBeGreaterThan(0.48);
  expect(sd).toBeLessThan(0.52);
});

test('attackers are round(share n) distinct clients drawn from the seed', () => {
  const a = chooseAttackers(20, 0.2, 16);
  expect(a).toHaveLength(4);
  expect(new Set(a).size).toBe(4);
  expect(a.every((i) => i >= 0 && i < 20)).toBe(true);
  expect(chooseAttackers(20, 0.2, 16)).toEqual(a);
  expect(chooseAttackers(20, 0.2, 17)).not.toEqual(a);
  expect(chooseAttackers(20, 0, 16)).toEqual([]);
  expect(() => chooseAttackers(20, 1.5, 16)).toThrow(RangeError);
});

test("ALIE: the paper's z_max, and mean - z std of the colluders' honest deltas", async () => {
  // n 20, m 4: s = floor(20/2 + 1) - 4 = 7, z = Phi^-1(13/20) = 0.38532
  expect(alieZ(20, 4)).toBeCloseTo(0.38532, 4);
  // n 50, m 12 (the paper's example of 24%): s = 14, Phi^-1(36/50) = 0.58284
  expect(alieZ(50, 12)).toBeCloseTo(0.58284, 4);
  expect(alieZ(4, 3)).toBe(0);
  // honest [1, 0] and [3, 4]: mean [2, 2], std [1, 2] -> z 1: [1, 0]
  expect(Array.from(alieDelta([Float32Array.of(1, 0), Float32Array.of(3, 4)], 1))).toEqual([1, 0]);
  const posted: string[] = [];
  const collude = async (key: string, honest: Float32Array) => {
    posted.push(key);
    return [honest, Float32Array.of(3, 4, 5)];
  };
  const t = attackingTrainer(fixed([1, 0, 5]), { kind: 'alie' }, { seed: 1, z: 1, collude });
  expect(await sent(t)).toEqual([1, 0, 5]);
  expect(posted).toEqual([roundKeyOf(new Float32Array(3))]);
  expect(roundKeyOf(Float32Array.of(1, 2))).not.toBe(roundKeyOf(Float32Array.of(1, 3)));
});

describe('fedlink simulate --attack', () => {
  const BIN = fileURLToPath(new URL('../../apps/cli/bin/fedlink.js', import.meta.url));
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fedlink-attack-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  function run(aggregator: string) {
    const out = join(dir, `${aggregator}.json`);
    const r = spawnSync(
      process.execPath,
      [BIN, 'simulate', '--clients', '5', '--rounds', '2', '--min-fit', '5', '--batch-size', '50', '--lr', '0.1', '--seed', '3', '--aggregator', aggregator, '--attack', 'scale:10', '--attackers', '0.4', '--json', out],
      { encoding: 'utf8', timeout: 180_000 },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return { stdout: r.stdout, result: JSON.parse(readFileSync(out, 'utf8')) as { attack: { text: string; attackers: number[] }; config: { run: unknown }; rounds: unknown[]; final: { testAccuracy: number } } };
  }

  test('two of five clients send -10 times their delta: the mean collapses, the median does not; the attackers are in the results, not in what the coordinator holds', () => {
    const mean = run('mean');
    const median = run('median');
    for (const { result, stdout } of [mean, median]) {
      expect(result.attack).toMatchObject({ text: 'scale:10', attackers: chooseAttackers(5, 0.4, 3) });
      expect(stdout).toContain(`attack scale:10 by 2 client(s): ${chooseAttackers(5, 0.4, 3).join(', ')} (the coordinator is not told)`);
      expect(JSON.stringify([result.config.run, result.rounds])).not.toMatch(/attack|scale:10/);
    }
    expect(median.result.final.testAccuracy).toBeGreaterThan(0.7);
    expect(mean.result.final.testAccuracy).toBeLessThan(median.result.final.testAccuracy - 0.3);
  }, 400_000);
});
