import { z } from 'zod';

/**
 * How a CSV table becomes model inputs, fixed by the coordinator from its own data (or a stats
 * file) and sent in `welcome.data`: clients encode their rows with these statistics, never their
 * own, so every device feeds the model the same columns in the same scale.
 */

const finite = () => z.number().refine(Number.isFinite, 'must be finite');
const name = z.string().min(1).max(256);
const categories = z.array(z.string().max(256)).min(1).max(100_000);

/** One input column: a standardised number, a one-hot category, or a category index (for an embedding layer). */
export const TabularFeatureSchema = z.discriminatedUnion('kind', [
  z.strictObject({ name, kind: z.literal('numeric'), mean: finite(), std: finite().refine((x) => x > 0, 'must be > 0') }),
  z.strictObject({ name, kind: z.literal('categorical'), categories }),
  z.strictObject({ name, kind: z.literal('id'), categories }),
]);
export type TabularFeature = z.infer<typeof TabularFeatureSchema>;

export const TABULAR_TASKS = ['classification', 'regression'] as const;
export type TabularTask = (typeof TABULAR_TASKS)[number];

export const TabularStatsSchema = z.strictObject({
  /** The label column. */
  label: name,
  task: z.enum(TABULAR_TASKS),
  /** Classification: the label values, in label order (class i is classes[i]). */
  classes: categories.optional(),
  /** Regression: the label's mean and standard deviation; the model learns (y - mean) / std. */
  target: z.strictObject({ mean: finite(), std: finite().refine((x) => x > 0, 'must be > 0') }).optional(),
  features: z.array(TabularFeatureSchema).min(1).max(10_000),
}).superRefine((s, ctx) => {
  if (s.task === 'classification' && s.classes === undefined) ctx.addIssue({ code: 'custom', message: 'classification stats need classes' });
  if (s.task === 'regression' && s.target === undefined) ctx.addIssue({ code: 'custom', message: 'regression stats need target' });
});
export type TabularStats = z.infer<typeof TabularStatsSchema>;
