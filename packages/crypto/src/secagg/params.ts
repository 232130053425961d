import nacl from 'tweetnacl';
import type { SecAggSetup } from '@fedlink/protocol';
import { clientIdOf } from '../identity.js';
import { assertSigningKey } from '../key-checks.js';
import { refused } from './errors.js';
import { effectiveDegree, NeighbourGraph } from './graph.js';
import { MAX_SIGNED, quantizationScale } from './quantize.js';
import { transcript } from './transcript.js';

/**
 * Everything both sides derive from the setup message: the graph, each client's Shamir
 * x-coordinate, the quantisation scale, and a digest of the setup that clients sign so that all
 * of them provably saw the same parameters (a coordinator that sends different thresholds, graphs
 * or rosters to different clients makes their signatures fail at each other).
 */
export interface RoundParams {
  readonly runId: string;
  readonly round: number;
  readonly ids: readonly string[];
  readonly signKeys: ReadonlyMap<string, Uint8Array>;
  readonly maxExamples: ReadonlyMap<string, number>;
  /** Shamir x-coordinate: roster index + 1. */
  readonly xOf: ReadonlyMap<string, number>;
  readonly threshold: number;
  readonly graph: NeighbourGraph;
  readonly vectorLength: number;
  readonly clipRange: number;
  readonly totalMaxExamples: number;
  readonly scale: number;
  /** Distributed DP (distributed-dp.ts): the L2 clip and each client's noise std in integer units (shareStd * scale). */
  readonly dp: { readonly l2Clip: number; readonly noiseSigma: number } | undefined;
  readonly setupDigest: Uint8Array;
}

export function resolveParams(setup: SecAggSetup): RoundParams {
  const ids = setup.participants.map((p) => p.clientId);
  if (new Set(ids).size !== ids.length) throw refused('setup lists a client twice');
  const signKeys = new Map<string, Uint8Array>();
  const maxExamples = new Map<string, number>();
  const xOf = new Map<string, number>();
  let totalMaxExamples = 0;
  setup.participants.forEach((p, i) => {
    // Client ids are derived from signing keys; a roster that pairs an id with another key is forged.
    if (clientIdOf(p.signPublicKey) !== p.clientId) throw refused(`setup pairs client ${p.clientId} with a key that is not its own`);
    // A small-order key would let anyone sign as that participant: the roster is refused.
    assertSigningKey(p.signPublicKey, `setup: signing key of ${p.clientId}`);
    signKeys.set(p.clientId, p.signPublicKey);
    maxExamples.set(p.clientId, p.maxExamples);
    xOf.set(p.clientId, i + 1);
    totalMaxExamples += p.maxExamples;
  });
  if (totalMaxExamples > MAX_SIGNED) throw refused('sum of example caps exceeds 2^31 - 1');
  const degree = effectiveDegree(ids.length, setup.neighbours);
  if (setup.threshold < 2 || setup.threshold > degree + 1) {
    throw refused(`threshold ${setup.threshold} must be in [2, ${degree + 1}] (k + 1 share holders)`);
  }
  const scale = quantizationScale(setup.clipRange, totalMaxExamples, ids.length);
  if (setup.dp && setup.participants.some((p) => p.maxExamples !== 1)) throw refused('distributed DP weighs every client 1: example caps must be 1');
  return {
    runId: setup.runId,
    round: setup.round,
    ids,
    signKeys,
    maxExamples,
    xOf,
    threshold: setup.threshold,
    graph: new NeighbourGraph(ids, degree, setup.graphSeed),
    vectorLength: setup.vectorLength,
    clipRange: setup.clipRange,
    totalMaxExamples,
    scale,
    dp: setup.dp ? { l2Clip: setup.dp.l2Clip, noiseSigma: setup.dp.shareStd * scale } : undefined,
    setupDigest: setupDigest(setup),
  };
}

export function setupDigest(setup: SecAggSetup): Uint8Array {
  const parts: Array<string | number | Uint8Array> = [setup.runId, setup.round, setup.threshold, setup.neighbours, setup.vectorLength];
  parts.push(String(setup.clipRange), setup.graphSeed);
  for (const p of setup.participants) parts.push(p.clientId, p.signPublicKey, p.maxExamples);
  if (setup.dp) parts.push('dp', String(setup.dp.l2Clip), String(setup.dp.shareStd));
  return nacl.hash(transcript('setup', ...parts)).subarray(0, 32);
}

/** Holders of a client's shares: itself and its neighbours that are still in `alive`. */
export function holders(params: RoundParams, id: string, alive: ReadonlySet<string>): string[] {
  const out = alive.has(id) ? [id] : [];
  for (const n of params.graph.neighbours(id)) if (alive.has(n)) out.push(n);
  return out;
}

/** Bytes a signature, AEAD or key derivation is bound to, per purpose. */
export const bind = {
  advertise: (p: RoundParams, sender: string, maskPk: Uint8Array, sharePk: Uint8Array, commitment: Uint8Array) =>
    transcript('advertise', p.runId, p.round, sender, p.setupDigest, maskPk, sharePk, commitment),
  shares: (p: RoundParams, sender: string, shares: ReadonlyArray<{ peer: string; nonce: Uint8Array; ciphertext: Uint8Array }>) =>
    transcript('shares', p.runId, p.round, sender, ...shares.flatMap((s) => [s.peer, s.nonce, s.ciphertext])),
  shareAd: (p: RoundParams, from: string, to: string) => transcript('share', p.runId, p.round, from, to),
  masked: (p: RoundParams, sender: string, byteLength: number, digest: Uint8Array) =>
    transcript('masked', p.runId, p.round, sender, byteLength, digest),
  unmask: (
    p: RoundParams,
    sender: string,
    selfMaskShares: ReadonlyArray<{ owner: string; share: Uint8Array }>,
    maskKeyShares: ReadonlyArray<{ owner: string; share: Uint8Array }>,
  ) =>
    transcript(
      'unmask',
      p.runId,
      p.round,
      sender,
      'self-mask',
      selfMaskShares.length,
      ...selfMaskShares.flatMap((s) => [s.owner, s.share]),
      'mask-key',
      ...maskKeyShares.flatMap((s) => [s.owner, s.share]),
    ),
  selfMaskCommitment: (p: RoundParams, owner: string, seed: Uint8Array) =>
    nacl.hash(transcript('self-mask-commitment', p.runId, p.round, owner, seed)).subarray(0, 32),
  selfMaskInfo: (p: RoundParams, owner: string) => transcript('self-mask', p.runId, p.round, owner),
  pairwiseInfo: (p: RoundParams, a: string, b: string) =>
    a < b ? transcript('pairwise-mask', p.runId, p.round, a, b) : transcript('pairwise-mask', p.runId, p.round, b, a),
};

/** Sign of client `me`'s pairwise mask with `peer`: + for the smaller id, - for the larger, so they cancel. */
export function pairSign(me: string, peer: string): 1 | -1 {
  return me < peer ? 1 : -1;
}

/** SHA-256 via WebCrypto (native speed on multi-megabyte masked vectors). */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available');
  return new Uint8Array(await s.digest('SHA-256', data as BufferSource));
}
