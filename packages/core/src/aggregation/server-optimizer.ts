import { assertSameLength } from '../vector.js';

/**
 * The second half of a strategy: turning the round's mean delta `d` into new global weights
 * (Reddi et al. 2021: the server optimizer, fed the pseudo-gradient -d). The arithmetic of each
 * rule is exactly that of the strategies it replaces (same expression order, float32 storage,
 * float64 intermediates), so runs stay bit-identical.
 */

export interface ServerOptimizer {
  readonly kind: string;
  /** New global weights from the mean delta; `global` is not modified. */
  step(global: Float32Array, meanDelta: Float32Array): Float32Array;
  /** Checkpointable state by name (live arrays; callers copy). Empty when stateless. */
  state(): Record<string, Float32Array>;
  /** Restores what state() returned. Throws RangeError on unknown names or wrong/mismatched lengths. {} resets. */
  restore(state: Record<string, Float32Array>): void;
}

/**
 * Checks a non-empty restored state holds exactly `names`, all one length (and, when the
 * optimizer already holds state, that length). Returns the length.
 */
function checkState(kind: string, state: Record<string, Float32Array>, names: readonly string[], current: number | undefined): number {
  const got = Object.keys(state).sort();
  if (got.join() !== [...names].sort().join()) throw new RangeError(`${kind} optimizer state must hold ${names.join(', ')}, got ${got.join(', ') || 'nothing'}`);
  const len = state[names[0]!]!.length;
  if (names.some((n) => state[n]!.length !== len)) throw new RangeError(`${kind} optimizer state vectors differ in length: ${names.map((n) => `${n} ${state[n]!.length}`).join(', ')}`);
  if (current !== undefined && len !== current) throw new RangeError(`${kind} optimizer state has length ${len}, the model has ${current}`);
  return len;
}

/** Before a step with state of one length, the global and delta must have that length. */
function checkStep(kind: string, global: Float32Array, meanDelta: Float32Array, stateLength: number | undefined): void {
  assertSameLength(global, meanDelta);
  if (stateLength !== undefined && stateLength !== global.length) throw new RangeError(`${kind} optimizer state has length ${stateLength}, the model has ${global.length}`);
}

function positive(kind: string, name: string, x: number): void {
  if (!(x > 0 && Number.isFinite(x))) throw new RangeError(`${kind} ${name} must be a positive finite number, got ${x}`);
}

function unitInterval(kind: string, name: string, x: number): void {
  if (!(x >= 0 && x < 1)) throw new RangeError(`${kind} ${name} must be in [0, 1), got ${x}`);
}

/** Plain server SGD, FedAvg's rule (McMahan et al. 2017): w' = w + lr * d (lr 1 is the paper's). */
export class ServerSgd implements ServerOptimizer {
  readonly kind = 'sgd';

  constructor(readonly lr = 1) {
    positive(this.kind, 'lr', lr);
  }

  step(global: Float32Array, d: Float32Array): Float32Array {
    checkStep(this.kind, global, d, undefined);
    const out = new Float32Array(global.length);
    const lr = this.lr;
    for (let i = 0; i < out.length; i++) out[i] = global[i]! + lr * d[i]!;
    return out;
  }

  state(): Record<string, Float32Array> {
    return {};
  }

  restore(state: Record<string, Float32Array>): void {
    const names = Object.keys(state);
    if (names.length > 0) throw new RangeError(`${this.kind} optimizer keeps no state, got ${names.join(', ')}`);
  }
}

/** Server momentum, FedAvgM's rule (Hsu et al. 2019): v = momentum * v + d; w' = w + lr * v. State: `velocity`. */
export class ServerMomentum implements ServerOptimizer {
  readonly kind = 'momentum';
  private velocity: Float32Array | undefined;

  constructor(
    readonly lr = 1,
    readonly momentum = 0.9,
  ) {
    positive(this.kind, 'lr', lr);
    unitInterval(this.kind, 'momentum', momentum);
  }

  step(global: Float32Array, d: Float32Array): Float32Array {
    checkStep(this.kind, global, d, this.velocity?.length);
    const v = (this.velocity ??= new Float32Array(global.length));
    const out = new Float32Array(global.length);
    for (let i = 0; i < out.length; i++) {
      v[i] = this.momentum * v[i]! + d[i]!;
      out[i] = global[i]! + this.lr * v[i]!;
    }
    return out;
  }

  state(): Record<string, Float32Array> {
    return this.velocity ? { velocity: this.velocity } : {};
  }

  restore(state: Record<string, Float32Array>): void {
    if (Object.keys(state).length === 0) {
      this.velocity = undefined;
      return;
    }
    checkState(this.kind, state, ['velocity'], this.velocity?.length);
    this.velocity = new Float32Array(state.velocity!);
  }
}

/**
 * The adaptive rules of Reddi et al. 2021 share their shape: first moment m = b1 m + (1-b1) d,
 * a rule-specific second moment v, and w' = w + lr_t * m / (sqrt(v) + tau); state `m`, `v`.
 */
abstract class AdaptiveServerOptimizer implements ServerOptimizer {
  protected m: Float32Array | undefined;
  protected v: Float32Array | undefined;

  constructor(
    readonly kind: string,
    readonly lr: number,
    readonly beta1: number,
    readonly tau: number,
  ) {
    positive(kind, 'lr', lr);
    unitInterval(kind, 'beta1', beta1);
    positive(kind, 'tau', tau);
  }

  /** The rule's second moment after seeing g (g2 = g * g). */
  protected abstract nextV(v: number, g: number, g2: number): number;

  /** This step's learning rate (called once per step). */
  protected stepSize(): number {
    return this.lr;
  }

  step(global: Float32Array, d: Float32Array): Float32Array {
    checkStep(this.kind, global, d, this.m?.length);
    const m = (this.m ??= new Float32Array(global.length));
    const v = (this.v ??= new Float32Array(global.length));
    const out = new Float32Array(global.length);
    const lr = this.stepSize();
    for (let i = 0; i < out.length; i++) {
      const g = d[i]!;
      m[i] = this.beta1 * m[i]! + (1 - this.beta1) * g;
      v[i] = this.nextV(v[i]!, g, g * g);
      out[i] = global[i]! + (lr * m[i]!) / (Math.sqrt(v[i]!) + this.tau);
    }
    return out;
  }

  state(): Record<string, Float32Array> {
    return this.m && this.v ? { m: this.m, v: this.v } : {};
  }

  restore(state: Record<string, Float32Array>): void {
    if (Object.keys(state).length === 0) {
      this.m = this.v = undefined;
      return;
    }
    checkState(this.kind, state, ['m', 'v'], this.m?.length);
    this.m = new Float32Array(state.m!);
    this.v = new Float32Array(state.v!);
  }
}

/**
 * Server Adam, FedAdam's rule (Reddi et al. 2021, "Adaptive Federated Optimization"):
 * m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2; w' = w + lr_t * m / (sqrt(v) + tau). By default
 * without bias correction, as in the paper (lr_t = lr; state `m`, `v`, so checkpoints written
 * before the option existed restore unchanged). With `biasCorrection`, Kingma & Ba's
 * lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) at step t = 1, 2, ..., the factor Flower's FedAdam
 * applies (Flower writes its exponent as server_round + 1); the step count is then state too
 * (`step`, a one-entry vector).
 */
export class ServerAdam extends AdaptiveServerOptimizer {
  declare readonly kind: 'adam';
  /** Steps taken, kept only with bias correction. */
  private t = 0;

  constructor(
    lr = 0.01,
    beta1 = 0.9,
    readonly beta2 = 0.99,
    tau = 1e-3,
    readonly biasCorrection = false,
  ) {
    super('adam', lr, beta1, tau);
    unitInterval(this.kind, 'beta2', beta2);
  }

  protected nextV(v: number, g: number): number {
    // ((1 - b2) g) g, the order the rule has always been computed in (bit-identical runs).
    return this.beta2 * v + (1 - this.beta2) * g * g;
  }

  protected override stepSize(): number {
    if (!this.biasCorrection) return this.lr;
    this.t++;
    return (this.lr * Math.sqrt(1 - this.beta2 ** this.t)) / (1 - this.beta1 ** this.t);
  }

  override state(): Record<string, Float32Array> {
    const moments = super.state();
    return this.biasCorrection && this.m ? { ...moments, step: Float32Array.of(this.t) } : moments;
  }

  override restore(state: Record<string, Float32Array>): void {
    if (Object.keys(state).length === 0) {
      super.restore(state);
      this.t = 0;
      return;
    }
    const names = this.biasCorrection ? ['m', 'v', 'step'] : ['m', 'v'];
    const got = Object.keys(state).sort();
    if (got.join() !== [...names].sort().join()) throw new RangeError(`${this.kind} optimizer state must hold ${names.join(', ')}, got ${got.join(', ')}`);
    const { step, ...moments } = state;
    checkState(this.kind, moments, ['m', 'v'], this.m?.length);
    if (step && !(step.length === 1 && Number.isInteger(step[0]) && step[0]! >= 1)) throw new RangeError(`${this.kind} optimizer state 'step' must be one positive integer (length 1), got length ${step.length}`);
    super.restore(moments);
    this.t = step?.[0] ?? 0;
  }
}

/**
 * Server Yogi, FedYogi's rule (Reddi et al. 2021; Zaheer et al. 2018): m as Adam's;
 * v = v - (1-b2) d^2 sign(v - d^2); w' = w + lr * m / (sqrt(v) + tau). m and v start at 0, as in
 * Flower's FedYogi (the paper allows v_0 >= tau^2; with v_0 = 0 the first step's v is (1-b2) d^2,
 * Adam's). No bias correction (neither the paper nor Flower applies one). State: `m`, `v`.
 */
export class ServerYogi extends AdaptiveServerOptimizer {
  declare readonly kind: 'yogi';

  constructor(
    lr = 0.01,
    beta1 = 0.9,
    readonly beta2 = 0.99,
    tau = 1e-3,
  ) {
    super('yogi', lr, beta1, tau);
    unitInterval(this.kind, 'beta2', beta2);
  }

  protected nextV(v: number, _g: number, g2: number): number {
    return v - (1 - this.beta2) * g2 * Math.sign(v - g2);
  }
}

/**
 * Server Adagrad, FedAdagrad's rule (Reddi et al. 2021): m = b1 m + (1-b1) d; v = v + d^2;
 * w' = w + lr * m / (sqrt(v) + tau). beta1 defaults to 0 (m = d), as Flower's FedAdagrad fixes
 * it; the paper allows momentum. State: `m`, `v`.
 */
export class ServerAdagrad extends AdaptiveServerOptimizer {
  declare readonly kind: 'adagrad';

  constructor(lr = 0.1, beta1 = 0, tau = 1e-3) {
    super('adagrad', lr, beta1, tau);
  }

  protected nextV(v: number, g: number): number {
    return v + g * g;
  }
}
