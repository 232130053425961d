/**
 * The strong reference points: PyTorch (torch_cnn.py, CNN) and TensorFlow (tf_cnn.py, CNN and MLP)
 * on CPU, from /work/shared/anchors, each run in a child process right after the tfjs rows of the
 * same model and batch so the two never share cores.
 *
 * Python: --python PATH, else FEDLINK_ANCHOR_PYTHON, else /work/venv-anchors/bin/python when it
 * exists, else /usr/bin/python3. An anchor whose module is missing there is skipped with the reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type AnchorName = 'torch' | 'tf';
export type AnchorResult = { ok: true; samplesPerS: number; lines: string[] } | { ok: false; reason: string };

const DEFAULT_VENV_PYTHON = '/work/venv-anchors/bin/python';

export function anchorPython(flag: string | undefined): string {
  if (flag) return flag;
  if (process.env.FEDLINK_ANCHOR_PYTHON) return process.env.FEDLINK_ANCHOR_PYTHON;
  return existsSync(DEFAULT_VENV_PYTHON) ? DEFAULT_VENV_PYTHON : '/usr/bin/python3';
}

const SCRIPT: Record<AnchorName, string> = { torch: 'torch_cnn.py', tf: 'tf_cnn.py' };
const MODULE: Record<AnchorName, string> = { torch: 'torch', tf: 'tensorflow' };

/** Why `anchor` cannot run with `python`, or undefined if it can. */
export function anchorUnavailable(anchor: AnchorName, python: string, dir: string): string | undefined {
  const script = join(dir, SCRIPT[anchor]);
  if (!existsSync(script)) return `anchor script not found at ${script}`;
  if (!existsSync(python)) return `${python} not found`;
  const probe = spawnSync(python, ['-c', `import ${MODULE[anchor]}`], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
  if (probe.status !== 0) return `${python} has no ${MODULE[anchor]} (see the install line in ${script})`;
  return undefined;
}

/**
 * Environment that caps the anchors' SIMD level at the native kernels' `isa` (bench:train
 * --isa), so an AVX2 run on an AVX-512 machine compares like with like: oneDNN (PyTorch's and
 * TensorFlow's convolutions and matmuls) reads ONEDNN_MAX_CPU_ISA, PyTorch's own ATen kernels
 * ATEN_CPU_CAPABILITY. Empty for the machine's best ('auto', 'avx512').
 */
export function anchorIsaEnv(isa: string): Record<string, string> {
  if (isa === 'avx2+fma') return { ONEDNN_MAX_CPU_ISA: 'AVX2', ATEN_CPU_CAPABILITY: 'avx2' };
  if (isa === 'portable') return { ONEDNN_MAX_CPU_ISA: 'SSE41', ATEN_CPU_CAPABILITY: 'default' };
  return {};
}

/** Which models an anchor measures. */
export function anchorModels(anchor: AnchorName): string[] {
  return anchor === 'torch' ? ['cnn'] : ['cnn', 'mlp'];
}

/**
 * Runs one anchor; samplesPerS is its best mode (tf_cnn.py prints keras fit and a tf.function
 * step; the faster is the stronger anchor).
 */
export function runAnchor(anchor: AnchorName, python: string, dir: string, model: string, batch: number, threads: number, samples: number, env: Record<string, string> = {}): AnchorResult {
  const args = [join(dir, SCRIPT[anchor]), '--batch', String(batch), '--threads', String(threads), '--samples', String(samples)];
  if (anchor === 'tf') args.push('--model', model);
  try {
    const out = execFileSync(python, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000, env: { ...process.env, ...env } });
    const lines = out.trim().split('\n').filter((l) => /samples_per_s=/.test(l));
    const rates = lines.map((l) => Number(/samples_per_s=([0-9.]+)/.exec(l)![1]));
    if (rates.length === 0) return { ok: false, reason: `unexpected anchor output: ${out.trim().split('\n').pop() ?? ''}` };
    return { ok: true, samplesPerS: Math.max(...rates), lines };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
  }
}
