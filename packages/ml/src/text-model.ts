import type * as tf from '@tensorflow/tfjs';
import { ModelError, modelSignature } from './model-spec.js';
import type { TextSpec } from './text.js';

/**
 * Checks that a run's vocabulary fits a text model: every token id is below the inputDim of the
 * model's first Embedding layer, and (next-char) the model's output has a unit per token. Throws a
 * ModelError naming the mismatch; shapes themselves are assertDataFits' check.
 */
export function assertVocabularyFits(model: tf.LayersModel, spec: Pick<TextSpec, 'task' | 'tokens'>): void {
  const embedding = model.layers.find((l) => l.getClassName() === 'Embedding');
  const inputDim = embedding ? (embedding.getConfig().inputDim as number | undefined) : undefined;
  if (inputDim !== undefined && inputDim < spec.tokens.length) {
    throw new ModelError(`the vocabulary has ${spec.tokens.length} tokens, the model's embedding takes ids below ${inputDim} (use --vocab-size ${inputDim} or a wider model)`);
  }
  const { outputUnits } = modelSignature(model);
  if (spec.task === 'next-char' && outputUnits < spec.tokens.length) {
    throw new ModelError(`the vocabulary has ${spec.tokens.length} characters, the model predicts one of ${outputUnits}`);
  }
}
