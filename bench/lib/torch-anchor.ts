/**
 * The PyTorch reference point: runs the shared anchor script (the paper CNN in PyTorch on
 * CPU) in a child process, after the tfjs measurements so the two never share cores.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PYTHON = '/usr/bin/python3';

export type AnchorResult = { ok: true; samplesPerS: number; line: string } | { ok: false; reason: string };

/** Why the anchor cannot run here, or undefined if it can. */
export function anchorUnavailable(script: string): string | undefined {
  if (!existsSync(script)) return `anchor script not found at ${script}`;
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} has no torch (apt-get install python3-torch)`;
  return undefined;
}

export function runTorchAnchor(script: string, batch: number, threads: number, samples: number): AnchorResult {
  try {
    const out = execFileSync(PYTHON, [script, '--batch', String(batch), '--threads', String(threads), '--samples', String(samples)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    });
    const line = out.trim().split('\n').pop() ?? '';
    const m = /samples_per_s=([0-9.]+)/.exec(line);
    if (!m) return { ok: false, reason: `unexpected anchor output: ${line}` };
    return { ok: true, samplesPerS: Number(m[1]), line };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
  }
}
