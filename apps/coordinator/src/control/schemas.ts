import { z } from 'zod';
import { STRATEGY_NAMES } from '@fedlink/core';
import { MODEL_NAMES } from '@fedlink/ml';
import { TENSOR_ENCODINGS } from '@fedlink/protocol';
import type { RunSettingsPatch } from './run-control.js';

const pos = () => z.number().finite().positive();

/** Body of POST /api/runs: what the new run changes relative to the current run's settings. */
export const RunSettingsPatchSchema: z.ZodType<RunSettingsPatch> = z.strictObject({
  model: z.enum(MODEL_NAMES as unknown as [string, ...string[]]).optional(),
  rounds: z.number().int().min(1).max(1_000_000).optional(),
  strategy: z.enum(STRATEGY_NAMES).optional(),
  serverLearningRate: pos().optional(),
  selection: z
    .strictObject({ fraction: pos().max(1), minFit: z.number().int().min(1), minAvailable: z.number().int().min(1), overSelect: z.number().min(0).max(10) })
    .partial()
    .optional(),
  fit: z
    .strictObject({ epochs: z.number().int().min(1).max(1000), batchSize: z.number().int().min(1).max(65_536), learningRate: pos(), proximalMu: z.number().min(0) })
    .partial()
    .optional(),
  seed: z.number().int().optional(),
  roundTimeoutMs: pos().optional(),
  waitTimeoutMs: pos().optional(),
  maxAbandonedAttempts: z.number().int().min(0).optional(),
  encoding: z.enum(TENSOR_ENCODINGS as unknown as [string, ...string[]]).optional(),
  maxUpdateNorm: z.number().min(0).optional(),
}) as unknown as z.ZodType<RunSettingsPatch>;

/** Body of POST /api/tokens. */
export const CreateTokenSchema = z.strictObject({
  ttlMs: pos().optional(),
  uses: z.number().int().min(1).optional(),
  label: z.string().max(128).optional(),
});
