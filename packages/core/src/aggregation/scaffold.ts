import { AggregationError } from './aggregator.js';
import type { WrapperState } from './wrappers.js';

/**
 * SCAFFOLD (Karimireddy, Kale, Mohri, Reddi, Stich and Suresh 2020, "SCAFFOLD: Stochastic
 * Controlled Averaging for Federated Learning"), Algorithm 1 with option II for the clients'
 * control variates. Server state: the global weights x (the model) and the server control
 * variate c (zeros at the start). Client i keeps c_i (zeros at its first round) and trains K
 * local SGD steps at rate eta_l on the corrected gradient g + c - c_i, from x to y_i; then
 *   c_i+ = c_i - c + (x - y_i) / (K eta_l),   Delta y_i = y_i - x,   Delta c_i = c_i+ - c_i.
 * Server, over the round's contributors S of a federation of N clients:
 *   x <- x + eta_g mean(Delta y_i)            (the strategy's aggregator and server optimizer)
 *   c <- c + (|S| / N) mean_i(Delta c_i)       (= c + sum_i Delta c_i / N; unweighted)
 * so c stays the mean of all N clients' c_i. An update carries [Delta y, Delta c] (length 2d).
 * The functions here are pure and work on typed arrays; ScaffoldControl keeps c between rounds
 * and checkpoints it as 'scaffold/c'.
 */

/** What a client's SCAFFOLD bookkeeping needs after local training. */
export interface ScaffoldClientInputs {
  /** The server control variate c the round started with. */
  server: ArrayLike<number>;
  /** This client's control variate c_i before the round. */
  client: ArrayLike<number>;
  /** Delta y_i = y_i - x, what local training moved the weights by. */
  delta: ArrayLike<number>;
  /** K: local optimizer steps taken (batches x epochs). */
  steps: number;
  /** eta_l: the local learning rate. */
  learningRate: number;
}

/**
 * Option II: c_i+ = c_i - c + (x - y_i) / (K eta_l) = c_i - c - Delta y_i / (K eta_l), and
 * Delta c_i = c_i+ - c_i, both float32 (computed in float64). Throws RangeError on lengths that
 * differ, K not a positive integer, or eta_l not positive.
 */
export function scaffoldClientControl(inputs: ScaffoldClientInputs): { next: Float32Array; delta: Float32Array } {
  const { server, client, delta, steps, learningRate } = inputs;
  const d = delta.length;
  if (server.length !== d || client.length !== d) throw new RangeError(`scaffold: control variates and delta differ in length: c ${server.length}, c_i ${client.length}, delta ${d}`);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`scaffold: local steps K must be a positive integer, got ${steps}`);
  if (!(learningRate > 0 && Number.isFinite(learningRate))) throw new RangeError(`scaffold: the local learning rate must be a positive finite number, got ${learningRate}`);
  const scale = 1 / (steps * learningRate);
  const next = new Float32Array(d);
  const change = new Float32Array(d);
  for (let j = 0; j < d; j++) {
    next[j] = client[j]! - server[j]! - delta[j]! * scale;
    change[j] = next[j]! - client[j]!;
  }
  return { next, delta: change };
}

/** The correction c - c_i added to every local gradient (float32). Throws RangeError on lengths that differ. */
export function scaffoldCorrection(server: ArrayLike<number>, client: ArrayLike<number>): Float32Array {
  if (server.length !== client.length) throw new RangeError(`scaffold: control variates differ in length: c ${server.length}, c_i ${client.length}`);
  return Float32Array.from(server, (c, j) => c - client[j]!);
}

/**
 * The server's control-variate step: c + (|S| / N) * (sum_i Delta c_i / |S|), with `sum` the
 * float64 sum of the contributors' Delta c_i. Throws RangeError when `contributors` is not a
 * positive integer, `population` is below it, or lengths differ.
 */
export function scaffoldServerControl(c: ArrayLike<number>, sum: ArrayLike<number>, contributors: number, population: number): Float32Array {
  if (c.length !== sum.length) throw new RangeError(`scaffold: control variate has length ${c.length}, the sum ${sum.length}`);
  if (!(Number.isInteger(contributors) && contributors >= 1)) throw new RangeError(`scaffold: contributors must be a positive integer, got ${contributors}`);
  if (!(Number.isInteger(population) && population >= contributors)) throw new RangeError(`scaffold: the federation size N (${population}) must be an integer >= the contributors (${contributors})`);
  const share = contributors / population;
  return Float32Array.from(c, (x, j) => x + share * (sum[j]! / contributors));
}

/** One round's sum of the contributors' Delta c_i (float64, unweighted). */
export interface ControlRound {
  add(deltaC: ArrayLike<number>): void;
  /** Steps c with what was added; once only. `population`: N. */
  commit(contributors: number, population: number): void;
}

/**
 * The server control variate c between rounds. State: `c` (absent until the first round that
 * commits; restore({}) resets it to zeros). Checkpointed by the strategy as 'scaffold/c'.
 */
export class ScaffoldControl implements WrapperState {
  readonly kind = 'scaffold';
  readonly namespace = 'scaffold';
  private c: Float32Array | undefined;

  /** c for a model of `length` entries: zeros before the first committed round. */
  current(length: number): Float32Array {
    if (this.c && this.c.length !== length) throw new RangeError(`scaffold control variate has length ${this.c.length}, the model has ${length}`);
    return this.c ?? new Float32Array(length);
  }

  begin(length: number): ControlRound {
    const start = this.current(length);
    const sum = new Float64Array(length);
    let done = false;
    return {
      add: (deltaC) => {
        if (done) throw new AggregationError('scaffold control round already committed');
        if (deltaC.length !== length) throw new RangeError(`control variate delta has length ${deltaC.length}, the model has ${length}`);
        for (let j = 0; j < length; j++) sum[j]! += deltaC[j]!;
      },
      commit: (contributors, population) => {
        if (done) throw new AggregationError('scaffold control round already committed');
        this.c = scaffoldServerControl(start, sum, contributors, population);
        done = true;
      },
    };
  }

  wrapperState(): Record<string, Float32Array> {
    return this.c ? { c: this.c } : {};
  }

  restoreWrapperState(state: Record<string, Float32Array>): void {
    const names = Object.keys(state);
    if (names.length === 0) {
      this.c = undefined;
      return;
    }
    if (names.join() !== 'c') throw new RangeError(`scaffold state must hold c, got ${names.join(', ')}`);
    this.c = new Float32Array(state.c!);
  }
}
