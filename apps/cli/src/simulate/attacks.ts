import type { FitHooks, FitOutcome, Trainer } from '@fedlink/client';
import { createRng } from '@fedlink/core';
import type { ImageDataset } from '@fedlink/ml';
import type { TrainConfig } from '@fedlink/protocol';
import { withFit } from './with-fit.js';

/**
 * Simulated Byzantine clients (the simulator's `--attack`, `--attackers`), so a defence can be
 * seen working. Like faults.ts, applied from outside a real client: an attack wraps the client's
 * trainer (it changes the delta the client then seals and sends as usual) or its data
 * (label-flip). Which clients attack is drawn from the run's seed and written to the results
 * JSON; the coordinator is never told.
 *
 * - sign-flip: sends -delta.
 * - scale:<k>: sends -k times its honest delta.
 * - gaussian:<sigma>: sends N(0, sigma^2) noise in every coordinate instead of its delta.
 * - label-flip: trains honestly on its data with every label l replaced by (classes - 1 - l).
 * - alie[:<z>]: "A Little Is Enough" (Baruch et al. 2019): the attackers collude, each sends
 *   mean - z * std of the attackers' honest deltas (coordinate-wise), z by default the paper's
 *   z_max = Phi^-1((n - s) / n), s = floor(n / 2 + 1) - m, for n clients and m attackers.
 */

export const ATTACK_FORMS = ['sign-flip', 'scale:<k>', 'gaussian:<sigma>', 'label-flip', 'alie[:<z>]'] as const;

export type AttackSpec =
  | { kind: 'sign-flip' }
  | { kind: 'scale'; k: number }
  | { kind: 'gaussian'; sigma: number }
  | { kind: 'label-flip' }
  | { kind: 'alie'; z?: number };

/** Parses `--attack`; RangeError naming the expected form. */
export function parseAttack(text: string): AttackSpec {
  const t = text.trim();
  const [kind, arg, ...rest] = t.split(':');
  const num = (form: string, check: (x: number) => boolean): number => {
    const x = Number(arg);
    if (arg === undefined || arg.trim() === '' || rest.length > 0 || !Number.isFinite(x) || !check(x)) throw new RangeError(`--attack '${t}': expected ${form}`);
    return x;
  };
  const bare = (): void => {
    if (arg !== undefined) throw new RangeError(`--attack '${t}': ${kind} takes no parameter`);
  };
  switch (kind) {
    case 'sign-flip':
      bare();
      return { kind };
    case 'label-flip':
      bare();
      return { kind };
    case 'scale':
      return { kind, k: num('scale:<k> with k > 0', (x) => x > 0) };
    case 'gaussian':
      return { kind, sigma: num('gaussian:<sigma> with sigma > 0', (x) => x > 0) };
    case 'alie':
      return arg === undefined ? { kind } : { kind, z: num('alie:<z> with z >= 0', (x) => x >= 0) };
    default:
      throw new RangeError(`unknown attack '${t}' (use ${ATTACK_FORMS.join(' | ')})`);
  }
}

/** The canonical text of an attack ("scale:10"), for results and tables. */
export function attackText(a: AttackSpec): string {
  switch (a.kind) {
    case 'scale':
      return `scale:${a.k}`;
    case 'gaussian':
      return `gaussian:${a.sigma}`;
    case 'alie':
      return a.z === undefined ? 'alie' : `alie:${a.z}`;
    default:
      return a.kind;
  }
}

/** round(share * n) distinct clients drawn from `seed` (a seeded shuffle), ascending. */
export function chooseAttackers(numClients: number, share: number, seed: number): number[] {
  if (!(share >= 0 && share <= 1)) throw new RangeError(`--attackers must be a share in [0, 1], got ${share}`);
  const rng = createRng(Math.imul(seed ^ 0x5eed, 2654435761) + 16);
  const order = Array.from({ length: numClients }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, Math.round(share * numClients)).sort((a, b) => a - b);
}

/** Standard normal CDF via erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Phi^-1(p) by bisection on normalCdf. */
function normalQuantile(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** ALIE's z_max (Baruch et al. 2019, eq. in section 3): Phi^-1((n - s) / n), s = floor(n/2 + 1) - m; 0 when s <= 0. */
export function alieZ(numClients: number, attackers: number): number {
  const s = Math.floor(numClients / 2 + 1) - attackers;
  if (s <= 0) return 0;
  return Math.max(0, normalQuantile((numClients - s) / numClients));
}

/** mean - z * std per coordinate (population std) of the attackers' honest deltas. */
export function alieDelta(honest: readonly Float32Array[], z: number): Float32Array {
  const n = honest.length;
  const length = honest[0]!.length;
  const out = new Float32Array(length);
  for (let j = 0; j < length; j++) {
    let s = 0;
    for (const d of honest) s += d[j]!;
    const mean = s / n;
    let v = 0;
    for (const d of honest) v += (d[j]! - mean) ** 2;
    out[j] = mean - z * Math.sqrt(v / n);
  }
  return out;
}

/** Every label l becomes classes - 1 - l (the label-flip attack's data). */
export function flipLabels(data: ImageDataset): ImageDataset {
  return { ...data, labels: Uint8Array.from(data.labels, (l) => data.numClasses - 1 - l) };
}

/** How colluding ALIE attackers share their honest deltas: resolves with every attacker's delta this round (the same `round` key). */
export type Collude = (roundKey: string, honest: Float32Array) => Promise<Float32Array[]>;

/** A key all clients of a round share: a hash of the global weights they were sent (FNV-1a over their bytes). */
export function roundKeyOf(global: Float32Array): string {
  const bytes = new Uint8Array(global.buffer, global.byteOffset, global.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return `${global.length}:${(h >>> 0).toString(16)}`;
}

/**
 * The client's trainer, attacking: the honest delta is computed as usual, then replaced as the
 * attack says (label-flip is applied to the data instead: see flipLabels). `seed` seeds the
 * gaussian noise; `collude` and `z` serve ALIE.
 */
export function attackingTrainer(inner: Trainer, attack: AttackSpec, options: { seed: number; z?: number; collude?: Collude }): Trainer {
  const rng = createRng(options.seed);
  const gaussian = (): number => {
    const u = Math.max(rng.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  return withFit(inner, async (global: Float32Array, config: TrainConfig, hooks?: FitHooks): Promise<FitOutcome> => {
    const honest = await inner.fit(global, config, hooks);
    const d = honest.delta;
    switch (attack.kind) {
      case 'sign-flip':
        return { ...honest, delta: d.map((x) => -x) };
      case 'scale':
        return { ...honest, delta: d.map((x) => -attack.k * x) };
      case 'gaussian':
        return { ...honest, delta: d.map(() => attack.sigma * gaussian()) };
      case 'label-flip':
        return honest;
      case 'alie': {
        if (!options.collude) throw new Error('the alie attack needs a collusion channel');
        const all = await options.collude(roundKeyOf(global), d);
        return { ...honest, delta: alieDelta(all, attack.z ?? options.z ?? 0) };
      }
      default: {
        const unknown: never = attack;
        throw new Error(`unknown attack ${JSON.stringify(unknown)}`);
      }
    }
  });
}
