import { type StrategySpec, parseStrategySpec } from '@fedlink/core';
import type { RunSettings } from '@fedlink/coordinator';
import { type OptionSpec, type ParsedValue, UsageError } from './args.js';

/**
 * Differential-privacy options of `serve` and `simulate`: `--dp <mode>` appends a dp wrapper to
 * the strategy (core/aggregation/dp.ts), `--delta` / `--target-epsilon` configure the accountant
 * (coordinator rounds/privacy-budget.ts). `fedlink privacy` computes a noise multiplier for a
 * target epsilon.
 */
export function privacyOptions(): Record<string, OptionSpec> {
  return {
    dp: { type: 'string', choices: ['central', 'distributed', 'local'], description: 'differential privacy: central (coordinator clips + noises), distributed (clients add discrete noise shares under --secure-aggregation), local (each client noises its own update)' },
    'dp-clip': { type: 'number', min: 0, default: 1, description: 'DP: L2 clipping bound C of each client delta' },
    'noise-multiplier': { type: 'number', min: 0, description: 'DP: noise std z*C on the sum (see fedlink privacy --target-epsilon)' },
    'dp-adaptive-quantile': { type: 'number', min: 0, max: 1, description: 'central DP: adapt C towards this quantile of update norms (Andrew et al. 2021)' },
    delta: { type: 'number', min: 0, max: 1, description: 'DP: delta of the reported (epsilon, delta) (default 1e-5)' },
    'target-epsilon': { type: 'number', min: 0, description: 'DP: refuse a run whose schedule exceeds this epsilon, stop before a round that would' },
  };
}

/** Adds the dp wrapper and the privacy settings the options ask for; settings unchanged without --dp. */
export function withPrivacy(settings: RunSettings, v: Record<string, ParsedValue>): RunSettings {
  const mode = v.dp as 'central' | 'distributed' | 'local' | undefined;
  const delta = v.delta as number | undefined;
  const target = v['target-epsilon'] as number | undefined;
  if (!mode) {
    if (delta !== undefined || target !== undefined || v['noise-multiplier'] !== undefined) throw new UsageError('--delta, --target-epsilon and --noise-multiplier need --dp');
    return settings;
  }
  const z = v['noise-multiplier'] as number | undefined;
  if (z === undefined) throw new UsageError('--dp needs --noise-multiplier (fedlink privacy --target-epsilon E ... prints one)');
  const clip = v['dp-clip'] as number;
  const quantile = v['dp-adaptive-quantile'] as number | undefined;
  const wrapper = {
    kind: 'dp' as const,
    mode,
    clip,
    noiseMultiplier: z,
    // Andrew et al.'s defaults: learning rate 0.2, count noise std ~ expected clients / 20 (here at least z/2 + a margin).
    ...(quantile !== undefined ? { adaptive: { targetQuantile: quantile, learningRate: 0.2, countStd: Math.max(z, 0.5) } } : {}),
  };
  let strategy: StrategySpec;
  try {
    strategy = parseStrategySpec({ ...settings.strategy, wrappers: [...settings.strategy.wrappers, wrapper] });
  } catch (e) {
    throw new UsageError(`--dp: ${(e as Error).message}`);
  }
  return { ...settings, strategy, privacy: { delta: delta ?? 1e-5, ...(target !== undefined ? { targetEpsilon: target } : {}) } };
}
