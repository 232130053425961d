import { epsilonOf, noiseMultiplierFor } from '@fedlink/core';
import { type CommandSpec, UsageError, parseArgs } from '../args.js';

export const privacySpec: CommandSpec = {
  name: 'privacy',
  summary: 'Epsilon of a DP schedule (RDP of the sampled Gaussian), or the noise multiplier a target epsilon needs.',
  usage: 'fedlink privacy --sampling-rate Q --rounds T --delta D (--noise-multiplier Z | --target-epsilon E)',
  options: {
    'sampling-rate': { type: 'number', min: 0, max: 1, description: 'q: share of clients selected per round (selected / connected)' },
    'noise-multiplier': { type: 'number', min: 0, description: 'z: noise std over the clipping bound' },
    rounds: { type: 'int', min: 0, description: 'T: rounds (compositions)' },
    delta: { type: 'number', min: 0, max: 1, default: 1e-5, description: 'delta of (epsilon, delta)' },
    'target-epsilon': { type: 'number', min: 0, description: 'print the noise multiplier that keeps T rounds within this epsilon instead' },
  },
  examples: ['fedlink privacy --sampling-rate 0.1 --noise-multiplier 1.1 --rounds 100 --delta 1e-5', 'fedlink privacy --sampling-rate 0.1 --rounds 100 --delta 1e-5 --target-epsilon 3'],
};

/**
 * Prints `epsilon=<value> order=<best alpha>` (improved RDP conversion of Balle et al. 2020, as TF
 * Privacy and Opacus use), or with --target-epsilon `noise_multiplier=<z> epsilon=<value> order=<alpha>`.
 */
export async function privacyCommand(argv: string[]): Promise<number> {
  const v = parseArgs(privacySpec, argv);
  if (!v) return 0;
  const q = v['sampling-rate'] as number | undefined;
  const t = v.rounds as number | undefined;
  const delta = v.delta as number;
  const z = v['noise-multiplier'] as number | undefined;
  const target = v['target-epsilon'] as number | undefined;
  if (q === undefined) throw new UsageError('--sampling-rate is required');
  if (t === undefined) throw new UsageError('--rounds is required');
  if ((z === undefined) === (target === undefined)) throw new UsageError('give exactly one of --noise-multiplier and --target-epsilon');
  if (target !== undefined) {
    // Printed rounded up to 6 significant digits, so that the printed value itself stays within the target.
    const exact = noiseMultiplierFor(target, q, t, delta);
    const scale = 10 ** (5 - Math.floor(Math.log10(exact)));
    const needed = Math.ceil(exact * scale) / scale;
    const { epsilon, order } = epsilonOf(q, needed, t, delta);
    process.stdout.write(`noise_multiplier=${needed} epsilon=${epsilon.toPrecision(6)} order=${order}\n`);
    return 0;
  }
  const { epsilon, order } = epsilonOf(q, z!, t, delta);
  process.stdout.write(`epsilon=${epsilon.toPrecision(6)} order=${order}\n`);
  return 0;
}
