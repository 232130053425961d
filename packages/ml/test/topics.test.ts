import * as tf from '@tensorflow/tfjs';
import { BagOfEmbeddings, type ClassifyExamples, DatasetError, ModelError, TOPIC_NAMES, assertDataFits, assertVocabularyFits, createModel, partitionByGroup, topicsCorpus } from '@fedlink/ml';
import { loadDataset, topicsSource, topicsSplit } from '@fedlink/ml/node';

const countBy = (xs: readonly string[]): Record<string, number> => xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {});

describe('--data topics: a generated text-classification corpus', () => {
  test('deterministic: the same documents, topics and authors every time; the stated class balance', () => {
    const a = topicsCorpus();
    const b = topicsCorpus();
    expect(b).toEqual(a);
    expect(a.docs).toHaveLength(2000);
    expect(countBy(a.labels)).toEqual({ cooking: 760, finance: 486, sport: 408, weather: 346 });
    expect(a.authorNames).toHaveLength(12);
    const lengths = a.docs.map((d) => d.split(' ').length);
    expect(Math.min(...lengths)).toBe(12);
    expect(Math.max(...lengths)).toBe(100);
    expect(topicsCorpus({ seed: 24 }).docs[0]).not.toBe(a.docs[0]);
  });

  test('each author writes mostly about one topic: their favourite is their most frequent topic', () => {
    const c = topicsCorpus();
    for (let author = 0; author < 12; author++) {
      const mine = c.labels.filter((_, k) => c.authors[k] === author);
      const top = Object.entries(countBy(mine)).sort((x, y) => y[1] - x[1])[0]![0];
      expect(top).toBe(TOPIC_NAMES[author % 4]);
    }
  });

  test("split as text:<dir> classification is (10% tests), vocabulary and classes the coordinator's; one client per author", async () => {
    const data = await loadDataset('topics');
    expect(data.name).toBe('topics');
    expect([data.train.count, data.test.count]).toEqual([1800, 200]);
    expect(data.text!.spec).toMatchObject({ task: 'classify', unit: 'word', classes: ['cooking', 'finance', 'sport', 'weather'], seqLength: 80 });
    expect(data.text!.spec.tokens).toHaveLength(474);
    // The majority-class baseline of the test split: cooking, 79 of 200.
    expect(countBy((data.text!.test as ClassifyExamples).labels)).toEqual({ cooking: 79, finance: 55, sport: 39, weather: 27 });
    expect(data.text!.groupNames).toEqual(Array.from({ length: 12 }, (_, i) => `author${String(i + 1).padStart(2, '0')}`));
    const parts = partitionByGroup(data.text!.groups, 12, data.text!.groupNames);
    expect(parts.reduce((n, p) => n + p.length, 0)).toBe(1800);
    expect(parts[0]!.length).toBeGreaterThan(parts[11]!.length);
    // A joining client's topics are the train documents, the same as the coordinator's.
    expect(topicsSplit().train.examples).toEqual(data.text!.train);
    const model = createModel('text-classifier');
    try {
      assertDataFits(model, data.train);
      assertVocabularyFits(model, data.text!.spec);
    } finally {
      model.dispose();
    }
  });

  test('classification only, and --seq-length is honoured', () => {
    expect(() => topicsSource({ task: 'next-char' })).toThrow(new DatasetError('topics: a text-classification dataset (--text-task classify or auto), not next-char'));
    expect(topicsSource({ seqLength: 20 }).examples.seqLength).toBe(20);
  });
});

describe('text-classifier', () => {
  test('BagOfEmbeddings is Embedding + GlobalAveragePooling1D: same outputs, same gradient for the embeddings', () => {
    const ids = tf.tensor2d([[3, 0, 0, 7], [1, 5, 5, 2]]);
    const bag = tf.sequential({ layers: [new BagOfEmbeddings({ name: 'bag', inputShape: [4], inputDim: 9, outputDim: 3, seed: 5 })] });
    const ref = tf.sequential({ layers: [tf.layers.embedding({ inputShape: [4], inputDim: 9, outputDim: 3 }), tf.layers.globalAveragePooling1d({})] });
    ref.setWeights(bag.getWeights());
    const dy = tf.tensor2d([[1, -2, 0.5], [0.25, 1, -1]]);
    const grad = (m: tf.Sequential): number[][] => {
      const v = m.trainableWeights[0]!.read() as tf.Variable;
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(m.apply(ids) as tf.Tensor, dy)) as tf.Scalar, [v]);
      const g = grads[v.name]!.arraySync() as number[][];
      tf.dispose([value, grads[v.name]!]);
      return g;
    };
    try {
      expect(Array.from((bag.predict(ids) as tf.Tensor).dataSync())).toEqual(Array.from((ref.predict(ids) as tf.Tensor).dataSync()).map((x) => expect.closeTo(x, 6)));
      // d/dE of sum(out * dy): row id gets (count of id in the window / 4) * dy of that window.
      const g = grad(bag);
      expect(g.flat()).toEqual(grad(ref).flat().map((x) => expect.closeTo(x, 6)));
      expect(g[0]).toEqual([0.5 * 1, 0.5 * -2, 0.5 * 0.5].map((x) => expect.closeTo(x, 6)));
      expect(g[5]).toEqual([0.5 * 0.25, 0.5 * 1, 0.5 * -1].map((x) => expect.closeTo(x, 6)));
      expect(g[8]).toEqual([0, 0, 0]);
    } finally {
      tf.dispose([ids, dy]);
      bag.dispose();
      ref.dispose();
    }
  });

  test("a run's classes beyond the model's logits are a ModelError; its vocabulary beyond the embedding too", () => {
    const model = createModel('text-classifier');
    try {
      const classes = Array.from({ length: 11 }, (_, i) => `c${i}`);
      expect(() => assertVocabularyFits(model, { task: 'classify', tokens: ['<pad>', '<unk>', 'a'], classes })).toThrow(new ModelError(`the run has 11 classes (${classes.join(', ')}), the model outputs 10 logits`));
      expect(() => assertVocabularyFits(model, { task: 'classify', tokens: ['<pad>', '<unk>', 'a'], classes: classes.slice(0, 10) })).not.toThrow();
      const tokens = Array.from({ length: 2001 }, (_, i) => `w${i}`);
      expect(() => assertVocabularyFits(model, { task: 'classify', tokens, classes: ['a', 'b'] })).toThrow(new ModelError("the vocabulary has 2001 tokens, the model's embedding takes ids below 2000 (use --vocab-size 2000 or a wider model)"));
    } finally {
      model.dispose();
    }
  });
});
