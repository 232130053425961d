import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { epsilonOf } from '@fedlink/core';

const BIN = fileURLToPath(new URL('../../apps/cli/bin/fedlink.js', import.meta.url));
const fedlink = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('fedlink privacy', () => {
  test('--help lists its options', () => {
    const r = fedlink(['privacy', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: fedlink privacy/);
    for (const o of ['--sampling-rate', '--noise-multiplier', '--rounds', '--delta', '--target-epsilon']) expect(r.stdout).toContain(o);
  });

  test('prints epsilon=<value> order=<best alpha>: Opacus test_rdp_accountant (q 0.04, z 1.5, 2250 steps, delta 1e-5 -> 7.32911117143)', () => {
    const r = fedlink(['privacy', '--sampling-rate', '0.04', '--noise-multiplier', '1.5', '--rounds', '2250', '--delta', '1e-5']);
    expect(r.status).toBe(0);
    const m = /^epsilon=([\d.]+) order=([\d.]+)\n$/.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(Math.abs(Number(m![1]) / 7.32911117143 - 1)).toBeLessThan(1e-5);
    expect(Number(m![2])).toBe(3.9);
  });

  test('--target-epsilon prints the noise multiplier, rounded up so it stays within the target', () => {
    const r = fedlink(['privacy', '--sampling-rate', '0.1', '--rounds', '20', '--delta', '1e-5', '--target-epsilon', '3']);
    expect(r.status).toBe(0);
    const z = Number(/noise_multiplier=([\d.]+)/.exec(r.stdout)![1]);
    expect(epsilonOf(0.1, z, 20, 1e-5).epsilon).toBeLessThanOrEqual(3);
    expect(epsilonOf(0.1, z * 0.999, 20, 1e-5).epsilon).toBeGreaterThan(3);
  });

  test.each([
    [['privacy', '--rounds', '10', '--noise-multiplier', '1'], /--sampling-rate is required/],
    [['privacy', '--sampling-rate', '0.1', '--rounds', '10'], /exactly one of --noise-multiplier and --target-epsilon/],
    [['privacy', '--sampling-rate', '2', '--rounds', '10', '--noise-multiplier', '1'], /--sampling-rate: must be at most 1/],
    [['simulate', '--dp', 'central'], /--dp needs --noise-multiplier/],
    [['simulate', '--delta', '1e-5'], /need --dp/],
  ])('%j fails with one line naming the problem', (args, message) => {
    const r = fedlink(args);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  test('a run whose schedule exceeds --target-epsilon is refused before it starts', () => {
    const r = fedlink(['simulate', '--clients', '10', '--rounds', '50', '--fraction', '0.5', '--dp', 'central', '--noise-multiplier', '0.5', '--target-epsilon', '1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/would spend epsilon [\d.]+ at delta 0.00001, above the target 1/);
  });
});
