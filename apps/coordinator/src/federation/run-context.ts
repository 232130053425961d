import { type Identity, fingerprint } from '@fedlink/crypto';
import { PROTOCOL_VERSION, type TensorSpec, type Welcome, type WelcomeText, controlManifest, toBase64 } from '@fedlink/protocol';
import type { RunSettings } from '../config.js';
import type { GlobalModel } from '../model/global-model.js';

/** What a client's sealed update holds: the model's delta, or under SCAFFOLD [delta y, delta c] (controlManifest). */
export function updateManifestOf(settings: Pick<RunSettings, 'strategy'>, manifest: readonly TensorSpec[]): TensorSpec[] {
  return settings.strategy.control ? controlManifest(manifest) : [...manifest];
}

/** The facts of the run every component reads: ids, keys, model, settings and limits. */
export class RunContext {
  readonly fingerprint: string;
  /** The manifest every sealed update is decoded against (updateManifestOf). */
  readonly updateManifest: readonly TensorSpec[];

  constructor(
    readonly runId: string,
    readonly identity: Identity,
    readonly model: GlobalModel,
    readonly settings: RunSettings,
    /** Largest sealed update accepted, derived from the model size. */
    readonly maxUpdateBytes: number,
    /** A text run's vocabulary, sent in every welcome. */
    readonly text?: WelcomeText,
  ) {
    this.fingerprint = fingerprint(identity);
    this.updateManifest = updateManifestOf(settings, model.manifest);
  }

  welcome(clientId: string, currentRound: number): Welcome {
    return {
      protocol: PROTOCOL_VERSION,
      runId: this.runId,
      clientId,
      server: {
        signPublicKey: toBase64(this.identity.signPublicKey),
        boxPublicKey: toBase64(this.identity.boxPublicKey),
        fingerprint: this.fingerprint,
      },
      model: {
        name: this.model.name,
        topology: this.model.topology,
        manifest: this.model.manifest,
        numParams: this.model.numParams,
        ...(this.model.hash !== undefined ? { hash: this.model.hash } : {}),
      },
      round: currentRound,
      rounds: this.settings.rounds,
      secureAggregation: this.settings.secureAggregation,
      encoding: this.settings.encoding,
      ...(this.settings.encoding === 'topk' && this.settings.topkFraction !== undefined ? { topkFraction: this.settings.topkFraction } : {}),
      limits: { maxUpdateBytes: this.maxUpdateBytes },
      ...(this.text ? { text: this.text } : {}),
      ...(this.settings.data !== undefined ? { data: this.settings.data } : {}),
    };
  }
}
