import type * as tf from '@tensorflow/tfjs';
import { BagOfEmbeddings } from './bag-of-embeddings.js';
import { ModelError, modelSignature } from './model-spec.js';
import type { TextSpec } from './text.js';

/**
 * Checks that a run's vocabulary fits a text model: every token id is below the inputDim of the
 * model's first embedding layer (Embedding, or the zoo's BagOfEmbeddings), (next-char) the model's output has a unit per token and
 * (classify) a logit per class of the run, so no class the welcome ships is out of the model's reach. Throws a
 * ModelError naming the mismatch; shapes themselves are assertDataFits' check.
 */
export function assertVocabularyFits(model: tf.LayersModel, spec: Pick<TextSpec, 'task' | 'tokens' | 'classes'>): void {
  const embedding = model.layers.find((l) => l.getClassName() === 'Embedding' || l.getClassName() === BagOfEmbeddings.className);
  const inputDim = embedding ? (embedding.getConfig().inputDim as number | undefined) : undefined;
  if (inputDim !== undefined && inputDim < spec.tokens.length) {
    throw new ModelError(`the vocabulary has ${spec.tokens.length} tokens, the model's embedding takes ids below ${inputDim} (use --vocab-size ${inputDim} or a wider model)`);
  }
  const { outputUnits } = modelSignature(model);
  if (spec.task === 'next-char' && outputUnits < spec.tokens.length) {
    throw new ModelError(`the vocabulary has ${spec.tokens.length} characters, the model predicts one of ${outputUnits}`);
  }
  const classes = spec.classes?.length ?? 0;
  if (spec.task === 'classify' && outputUnits < classes) {
    throw new ModelError(`the run has ${classes} classes (${spec.classes!.join(', ')}), the model outputs ${outputUnits} logits`);
  }
}
