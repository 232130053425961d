import type { Trainer, FitOutcome } from '@fedlink/client';
import type { TrainConfig, Welcome } from '@fedlink/protocol';

/**
 * A trainer that "trains" by returning a delta chosen by the test, so the aggregate the
 * coordinator computes can be checked against an independent calculation. Optionally waits for
 * a gate before answering, so tests can order events.
 */
export class FixedDeltaTrainer implements Trainer {
  numParams = 0;
  readonly seenGlobals: Float32Array[] = [];
  readonly seenConfigs: TrainConfig[] = [];

  constructor(
    readonly numExamples: number,
    private readonly deltaFor: (round: number, numParams: number) => Float32Array,
    private readonly gate?: () => Promise<void>,
  ) {}

  async prepare(welcome: Welcome): Promise<void> {
    this.numParams = welcome.model.numParams;
  }

  async fit(global: Float32Array, config: TrainConfig): Promise<FitOutcome> {
    this.seenGlobals.push(global.slice());
    this.seenConfigs.push(config);
    await this.gate?.();
    return { delta: this.deltaFor(this.seenGlobals.length, this.numParams), numExamples: this.numExamples, metrics: { loss: 1 } };
  }

  dispose(): void {}
}

/** Deterministic pseudo-random values in [-scale, scale) for test deltas. */
export function testVector(n: number, seed: number, scale = 0.01): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    v[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return v;
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
