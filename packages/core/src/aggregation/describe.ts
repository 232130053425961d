import type { StrategySpec } from './spec.js';

/**
 * One-line description of a strategy spec for dashboards, logs and the CLI. Imports no zod (the
 * spec type only), so browser bundles can use it.
 */

/** Parameters left out of the description while they hold these values (the usual defaults). */
const QUIET_DEFAULTS: Record<string, Record<string, number>> = {
  momentum: { momentum: 0.9 },
  adam: { beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  yogi: { beta1: 0.9, beta2: 0.99, tau: 1e-3 },
  adagrad: { beta1: 0, tau: 1e-3 },
  'centered-clip': { iterations: 3 },
};

/** `kind` followed by its parameters: "adam lr 0.01", "clip maxNorm 10". */
function part(spec: { kind: string }): string {
  const quiet = QUIET_DEFAULTS[spec.kind] ?? {};
  const params = Object.entries(spec as Record<string, unknown>)
    .filter(([key, value]) => key !== 'kind' && quiet[key] !== value)
    .map(([key, value]) => `${key} ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`);
  return [spec.kind, ...params].join(' ');
}

/**
 * "fedadam (mean -> adam lr 0.01)", "fedavgm (mean -> momentum lr 1 momentum 0.5)",
 * "fedavg (mean -> sgd lr 1, with clip maxNorm 10)", "scaffold (mean -> sgd lr 1, with scaffold control variates)".
 */
export function describeStrategy(spec: StrategySpec): string {
  const extras = [...spec.wrappers.map(part), ...(spec.control ? [`${spec.control.kind} control variates`] : [])];
  const wrappers = extras.length > 0 ? `, with ${extras.join(', ')}` : '';
  return `${spec.name} (${part(spec.aggregator)} -> ${part(spec.optimizer)}${wrappers})`;
}
