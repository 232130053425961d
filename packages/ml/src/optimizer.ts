/**
 * Plain SGD whose weight update is one kernel per variable where the backend has it (the
 * native backend: `FedlinkSgdUpdate`, c * gradient + value in one pass over memory) and tfjs's
 * own add(mul(c, gradient), value) everywhere else. Both round the same two float32 operations
 * in the same order, so a run gives the same weights either way.
 */
import * as tf from '@tensorflow/tfjs';

/** The fused update kernel's name and attributes (c = -learning rate). */
export const SGD_UPDATE_KERNEL = 'FedlinkSgdUpdate';
export interface SgdUpdateAttrs {
  c: number;
}

/** What applyGradients receives (tfjs does not export its NamedTensor type). */
type VariableGradients = Parameters<tf.SGDOptimizer['applyGradients']>[0];

export class FusedSgdOptimizer extends tf.SGDOptimizer {
  /** The backend the last applyGradients ran on and whether it has the fused kernel. */
  private fusedOn: { backend: string; fused: boolean } | undefined;

  override applyGradients(variableGradients: VariableGradients): void {
    const backend = tf.getBackend();
    if (this.fusedOn?.backend !== backend) this.fusedOn = { backend, fused: tf.getKernel(SGD_UPDATE_KERNEL, backend) != null };
    if (!this.fusedOn.fused) return super.applyGradients(variableGradients);
    const list = Array.isArray(variableGradients)
      ? variableGradients.map((v) => ({ name: v.name, gradient: v.tensor }))
      : Object.entries(variableGradients).map(([name, gradient]) => ({ name, gradient }));
    // Math.fround: the value tfjs's scalar(-learningRate) holds.
    const attrs: SgdUpdateAttrs = { c: Math.fround(-this.learningRate) };
    for (const { name, gradient } of list) {
      if (gradient == null) continue;
      const value = tf.engine().registeredVariables[name];
      if (!value) throw new Error(`FusedSgdOptimizer: no variable named ${name}`);
      tf.tidy(() => {
        const newValue =
          value.dtype === 'float32' && gradient.dtype === 'float32' && value.size === gradient.size
            ? (tf.engine().runKernel(SGD_UPDATE_KERNEL, { value, gradient }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor)
            : tf.add(tf.mul(tf.scalar(attrs.c), gradient), value);
        value.assign(newValue);
      });
    }
    this.incrementIterations();
  }
}

/** SGD at `learningRate`, with the fused update where the backend has one (see FusedSgdOptimizer). */
export function sgdOptimizer(learningRate: number): tf.SGDOptimizer {
  return new FusedSgdOptimizer(learningRate);
}
