import { FedlinkClient, TextTrainer } from '@fedlink/client';
import { ModelError, type NextCharExamples, type TextExamples, type TextSpec, textSpecFor, windowStarts } from '@fedlink/ml';
import { FedlinkError } from '@fedlink/protocol';
import { TEST_TOKEN, runClientUntilEnd, startTestCoordinator } from '../helpers/coordinator.js';

const SEQ = 8;
const CORPUS = 'the cat sat on the mat and the rat sat on the hat; ';

function nextChar(text: string, seqLength = SEQ, stride = 3): NextCharExamples {
  return { task: 'next-char', seqLength, text, starts: Int32Array.from(windowStarts(0, text.length, seqLength, stride)) };
}

const run = { model: 'char-lstm', rounds: 1, fit: { epochs: 1, batchSize: 10, learningRate: 0.05, proximalMu: 0 }, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } };

/** Joins with `examples`; resolves with the error the client's run ended with. */
const joinError = (url: string, examples: TextExamples, extra: { vocabHash?: string } = {}): Promise<unknown> => runClientUntilEnd(url, new TextTrainer(examples, extra));

describe("a text run: the coordinator's vocabulary in the welcome, clients encode with it, bad text refused at join", () => {
  let coord: Awaited<ReturnType<typeof startTestCoordinator>>;
  let spec: TextSpec;
  beforeAll(async () => {
    spec = await textSpecFor(nextChar(CORPUS.repeat(3)), { maxVocab: 100 });
    coord = await startTestCoordinator(run, { config: { text: spec } });
  });
  afterAll(() => coord.cleanup());

  test("the zoo char-lstm is built for the run's window length and vocabulary", () => {
    expect(coord.context.model.numParams).toBe(59_012);
    expect(coord.context.text).toEqual(spec);
    expect(spec.tokens.slice(0, 4)).toEqual(['<pad>', '<unk>', ' ', 't']);
  });

  test('a pinned vocabulary hash that differs: vocab_mismatch, naming both', async () => {
    const e = await joinError(coord.url, nextChar(CORPUS.repeat(2)), { vocabHash: 'b'.repeat(64) });
    expect(e).toBeInstanceOf(FedlinkError);
    expect((e as FedlinkError).code).toBe('vocab_mismatch');
    expect((e as FedlinkError).message).toBe(`the run's vocabulary hashes to ${spec.hash.slice(0, 16)}…, not the expected bbbbbbbbbbbbbbbb…`);
  });

  test('a welcome whose vocabulary does not hash to its stated hash: vocab_mismatch', async () => {
    const ctx = coord.context as { text?: TextSpec };
    ctx.text = { ...spec, tokens: [...spec.tokens.slice(0, -1), '§'] };
    try {
      const e = await joinError(coord.url, nextChar(CORPUS.repeat(2)));
      expect((e as FedlinkError).code).toBe('vocab_mismatch');
      expect((e as FedlinkError).message).toMatch(/^the vocabulary received hashes to [0-9a-f]{16}…, the welcome says [0-9a-f]{16}…$/);
    } finally {
      ctx.text = spec;
    }
  });

  test('text cut into another window length: unsupported, naming the flag', async () => {
    const e = await joinError(coord.url, nextChar(CORPUS.repeat(2), 5));
    expect((e as FedlinkError).code).toBe('unsupported');
    expect((e as FedlinkError).message).toBe(`the run's sequences are ${SEQ} chars long, this data was cut into 5 (use --seq-length ${SEQ})`);
  });

  test('classification text joining a next-char run: unsupported', async () => {
    const e = await joinError(coord.url, { task: 'classify', seqLength: SEQ, docs: ['a b'], labels: ['x'] });
    expect((e as FedlinkError).message).toBe('this data is for classify, the run trains next-char');
  });

  test('a text client joining a run without a vocabulary: vocab_mismatch', async () => {
    const plain = await startTestCoordinator({ ...run, model: 'mlp' });
    try {
      const e = await joinError(plain.url, nextChar(CORPUS));
      expect((e as FedlinkError).code).toBe('vocab_mismatch');
      expect((e as FedlinkError).message).toMatch(/^this client has next-char text, but run run_\w+ ships no vocabulary/);
    } finally {
      await plain.cleanup();
    }
  });

  test('an empty share: a DatasetError before connecting', () => {
    expect(() => new TextTrainer(nextChar('short'))).toThrow("no training examples: this client's text (or its share) holds no sequence");
  });

  test('after all of these, a client with unseen characters trains the round (they become <unk>) and the run finishes', async () => {
    // 'Z' and '!' are in no coordinator text: the client encodes them as <unk>, not with ids of its own.
    const trainer = new TextTrainer(nextChar('THE CAT! the cat sat on the mat. Zzz the rat sat on the hat '.repeat(2)), { vocabHash: spec.hash });
    const client = new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', modelHash: coord.context.model.hash! });
    const trained: number[] = [];
    client.on('trained', (_round, m) => trained.push(m.loss ?? NaN));
    const end = await client.run();
    expect(end.status).toBe('finished');
    expect(trained).toHaveLength(1);
    expect(Number.isFinite(trained[0])).toBe(true);
    expect(trainer.numExamples).toBe(windowStarts(0, 120, SEQ, 3).length);
    expect((await coord.done).rounds).toBe(1);
  }, 120_000);
});

test('a vocabulary wider than the model is refused at start (ModelError), before any client joins', async () => {
  const wide = Array.from({ length: 150 }, (_, i) => String.fromCharCode(40 + i)).join('');
  const spec = await textSpecFor(nextChar(wide.repeat(2)), { maxVocab: 200 });
  expect(spec.tokens).toHaveLength(152);
  await expect(startTestCoordinator(run, { config: { text: spec } })).rejects.toThrow(
    new ModelError("the vocabulary has 152 tokens, the model's embedding takes ids below 100 (use --vocab-size 100 or a wider model)"),
  );
});

test("a classification run with more classes than the model's logits is refused at start (ModelError), even without test data", async () => {
  const classes = Array.from({ length: 12 }, (_, i) => `topic${String(i).padStart(2, '0')}`);
  const examples: TextExamples = { task: 'classify', seqLength: 80, docs: classes.map((c) => `a document about ${c}`), labels: classes };
  const spec = await textSpecFor(examples, { maxVocab: 2000 });
  expect(spec.classes).toEqual(classes);
  await expect(startTestCoordinator({ ...run, model: 'text-classifier' }, { config: { text: spec } })).rejects.toThrow(
    new ModelError(`the run has 12 classes (${classes.join(', ')}), the model outputs 10 logits`),
  );
});
