import * as tf from '@tensorflow/tfjs';
import type { RunEnd } from '@fedlink/protocol';
import type { RoundRow } from './view.js';

/** One round as this tab saw it (the row the page shows); numTensors is read when the round ended. */
export interface DebugRound extends Omit<RoundRow, 'trained'> {
  numTensors?: number;
}

/**
 * What tests (and curious people, from the console) can read of this page: `window.__fedlink`.
 * Read-only facts; it holds no data and no keys.
 */
export interface DebugHook {
  backend: string | null;
  state: string;
  detail: string | null;
  examples: number;
  /** tf.memory().numTensors just before joining. */
  baselineTensors: number | null;
  rounds: DebugRound[];
  runEnd: RunEnd | null;
  errors: string[];
  numTensors(): number;
}

declare global {
  interface Window {
    __fedlink?: DebugHook;
  }
}

export function installDebugHook(): DebugHook {
  const hook: DebugHook = {
    backend: null,
    state: 'idle',
    detail: null,
    examples: 0,
    baselineTensors: null,
    rounds: [],
    runEnd: null,
    errors: [],
    numTensors: () => tf.memory().numTensors,
  };
  window.__fedlink = hook;
  return hook;
}

export function roundEntry(hook: DebugHook, round: number): DebugRound {
  let r = hook.rounds.find((x) => x.round === round);
  if (!r) {
    r = { round };
    hook.rounds.push(r);
  }
  return r;
}
