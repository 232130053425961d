import { FedlinkError, type Welcome } from '@fedlink/protocol';
import { DatasetError, type ImageDataset, type TextExamples, encodeText, exampleCount, verifyTextSpec } from '@fedlink/ml';
import { type EncodeOnWelcomeOptions, EncodeOnWelcomeTrainer } from './trainer.js';

export interface TextTrainerOptions extends EncodeOnWelcomeOptions {
  /** Refuse a run whose vocabulary doesn't have this hash (serve prints it): a vocab_mismatch. */
  vocabHash?: string;
}

/**
 * A client's text, encoded with the vocabulary of the run it joins: the coordinator ships it in
 * the welcome (`welcome.text`), this trainer checks its hash (and the pinned one), encodes the raw
 * examples with it (unknown tokens -> <unk>, classes by name) and trains them (held-out share
 * drawn from `holdoutSeed`, default 0). A run without a vocabulary, or one that doesn't hash
 * right, is a `vocab_mismatch`; the same vocabulary in a later welcome keeps the encoded text.
 */
export class TextTrainer extends EncodeOnWelcomeTrainer {
  constructor(
    private readonly examples: TextExamples,
    private readonly options: TextTrainerOptions = {},
  ) {
    super(options, 0);
    if (exampleCount(examples) === 0) throw new DatasetError("no training examples: this client's text (or its share) holds no sequence");
    if (options.holdout !== undefined && exampleCount(examples) < 2) throw new DatasetError(`${exampleCount(examples)} example(s) can't be split into training and held-out parts`);
  }

  protected countBeforeWelcome(): number {
    return exampleCount(this.examples);
  }

  protected async accept(welcome: Welcome): Promise<string> {
    const spec = welcome.text;
    if (!spec) throw new FedlinkError('vocab_mismatch', `this client has ${this.examples.task} text, but run ${welcome.runId} ships no vocabulary (its coordinator was not started on text data)`);
    try {
      await verifyTextSpec(spec, this.options.vocabHash);
    } catch (e) {
      throw new FedlinkError('vocab_mismatch', (e as Error).message);
    }
    return spec.hash;
  }

  protected encode(welcome: Welcome): ImageDataset {
    return encodeText(this.examples, welcome.text!);
  }
}
