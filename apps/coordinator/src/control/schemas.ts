import { z } from 'zod';
import { STRATEGY_PRESETS, SelectionPolicySchema, StrategySpecSchema } from '@fedlink/core';
import { MODEL_NAMES } from '@fedlink/ml';
import { FitSettingsSchema, TENSOR_ENCODINGS } from '@fedlink/protocol';

const pos = () => z.number().finite().positive();

/**
 * Body of POST /api/runs: what the new run changes relative to the current run's settings.
 * `strategy` is a preset name or a full strategy spec (the one schema, from @fedlink/core);
 * `serverLearningRate` sets the strategy's server optimizer step, as `--server-lr` does.
 */
export const RunSettingsPatchSchema = z.strictObject({
  model: z.enum(MODEL_NAMES).optional(),
  rounds: z.number().int().min(1).max(1_000_000).optional(),
  strategy: z.union([z.enum(STRATEGY_PRESETS), StrategySpecSchema]).optional(),
  serverLearningRate: pos().optional(),
  selection: SelectionPolicySchema.partial().optional(),
  fit: FitSettingsSchema.partial().optional(),
  seed: z.number().int().optional(),
  roundTimeoutMs: pos().optional(),
  waitTimeoutMs: pos().optional(),
  maxAbandonedAttempts: z.number().int().min(0).optional(),
  encoding: z.enum(TENSOR_ENCODINGS).optional(),
  topkFraction: z.number().gt(0).max(1).optional(),
  maxUpdateNorm: z.number().min(0).optional(),
  /** Differential privacy accounting of a strategy with a dp wrapper (docs/PRIVACY.md). */
  privacy: z.strictObject({ delta: z.number().gt(0).lt(1), targetEpsilon: pos().optional() }).optional(),
});
export type RunSettingsPatch = z.infer<typeof RunSettingsPatchSchema>;

/** Body of POST /api/tokens. */
export const CreateTokenSchema = z.strictObject({
  ttlMs: pos().optional(),
  uses: z.number().int().min(1).optional(),
  label: z.string().max(128).optional(),
});
