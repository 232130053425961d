import nacl from 'tweetnacl';
import {
  concatBytes,
  FedlinkError,
  parseMessage,
  SecAggKeysSchema,
  SecAggRoutedSharesSchema,
  SecAggSetupSchema,
  SecAggUnmaskRequestSchema,
  type RevealedShare,
  type SealedShare,
  type SecAggAdvertise,
  type SecAggAdvertisedKeys,
  type SecAggMasked,
  type SecAggShares,
  type SecAggUnmask,
} from '@fedlink/protocol';
import { open, seal } from '../envelope.js';
import { clientIdOf, type Identity } from '../identity.js';
import { refused, replayed, SecAggAbortError } from './errors.js';
import { applyMasks, deriveStreamKey, type MaskTerm } from './prg.js';
import { bind, pairSign, resolveParams, sha256, type RoundParams } from './params.js';
import { quantizeWeightedUpdate } from './quantize.js';
import { SHARE_BYTES, splitSecret } from './shamir.js';
import { sign, verify } from '../signature.js';
import { assertBoxKey } from '../key-checks.js';
import { generateX25519, x25519, type X25519KeyPair } from './x25519.js';

/**
 * The client side of one SecAgg+ round: a state machine that turns each server message into the
 * client's reply. Transport-agnostic: the runtime passes raw inbound payloads (validated here) and
 * sends what comes back.
 *
 *   const c = new SecAggClientRound(identity, setupRaw, { runId, round });  // on secagg:setup
 *   emit('secagg:advertise', await c.advertise());
 *   emit('secagg:shares',    await c.shareKeys(keysRaw));                   // on secagg:keys
 *   emit('secagg:masked',    await c.maskInput(routedRaw, { delta, numExamples })); // on secagg:routed-shares, after training
 *   emit('secagg:unmask',    await c.unmask(requestRaw));                   // on secagg:unmask-request
 *   c.dispose();                                                            // on secagg:abort / round end
 *
 * A message for another run, round, recipient or stage (duplicate delivery, replay) is refused
 * with `replay`/`secagg_failed` and leaves the state untouched. A message whose content is wrong
 * (bad signature, share that fails authentication, inconsistent survivor sets, too few peers) ends
 * the client's part in the round: its secrets are wiped and it drops out, which the protocol
 * tolerates.
 *
 * Fresh per round: two X25519 key pairs (mask agreement, share sealing) and the 32-byte self-mask
 * seed, all from the platform CSPRNG (crypto.getRandomValues via nacl.randomBytes).
 */
export interface SecAggClientOptions {
  /** Refuse setups for another run/round than the one the client is in. */
  runId?: string;
  round?: number;
  /**
   * Refuse a threshold t that is not above this fraction of the k + 1 share holders. The default
   * 0.5 (strict majority) is what stops a coordinator that lies about dropouts from collecting both
   * shares of one client; lower it only against an honest-but-curious coordinator.
   */
  minThresholdRatio?: number;
}

/** The client's local contribution: its delta (local - global) and its example count n_i. */
export interface SecAggInput {
  delta: ArrayLike<number>;
  numExamples: number;
  /**
   * Distributed DP (the setup has `dp`): this client's integer noise share, one discrete Gaussian
   * N_Z(0, dp.noiseSigma^2) draw per entry from a CSPRNG, and `delta` already clipped to L2 norm
   * dp.l2Clip. The client then counts as 1 example. Refused when the setup has no `dp`.
   */
  dpNoise?: ArrayLike<number>;
}

type ClientStage = 'advertise' | 'shares' | 'masked' | 'unmask' | 'done' | 'failed';

interface HeldShares {
  selfMask: Uint8Array;
  maskKey: Uint8Array;
}

const ORDER: readonly ClientStage[] = ['advertise', 'shares', 'masked', 'unmask', 'done'];

/** Which client stage consumes each server message. */
const STAGE_OF: Record<string, ClientStage> = {
  keys: 'shares',
  'routed-shares': 'masked',
  'unmask-request': 'unmask',
};

export class SecAggClientRound {
  readonly clientId: string;
  readonly params: RoundParams;
  private stage: ClientStage = 'advertise';
  private maskPair: X25519KeyPair | undefined;
  private sharePair: X25519KeyPair | undefined;
  private readonly selfMaskSeed = nacl.randomBytes(32);
  /** X25519(our share key, neighbour's share key): seals our shares to it and opens its shares to us. */
  private readonly shareSecrets = new Map<string, Uint8Array>();
  /** Neighbours whose keys we accepted (U1 ∩ N(me)). */
  private readonly peers = new Map<string, SecAggAdvertisedKeys>();
  /** Shares we hold, by owner (including our own). */
  private readonly held = new Map<string, HeldShares>();
  /** Neighbours that sent us shares and that we therefore masked with (U2 ∩ N(me)). */
  private maskedWith: string[] = [];
  private clippedEntries = 0;

  constructor(
    private readonly identity: Identity,
    setupRaw: unknown,
    options: SecAggClientOptions = {},
  ) {
    const setup = parseMessage(SecAggSetupSchema, setupRaw, 'secagg setup');
    if ((options.runId !== undefined && setup.runId !== options.runId) || (options.round !== undefined && setup.round !== options.round)) {
      throw replayed(`secagg setup is for run ${setup.runId} round ${setup.round}, not this one`);
    }
    this.clientId = clientIdOf(identity.signPublicKey);
    this.params = resolveParams(setup);
    const mine = this.params.signKeys.get(this.clientId);
    if (!mine || !nacl.verify(mine, identity.signPublicKey)) throw refused('this client is not a participant of the round');
    const ratio = options.minThresholdRatio ?? 0.5;
    const holders = this.params.graph.degree + 1;
    if (!(this.params.threshold > ratio * holders)) {
      throw refused(`threshold ${this.params.threshold} of ${holders} share holders is below the accepted ratio ${ratio}`);
    }
  }

  /** Entries of the last input that were clipped to [-clipRange, clipRange]. */
  get clipped(): number {
    return this.clippedEntries;
  }

  /** Stage 1: fresh keys, signed with the identity key over the round and the setup digest. */
  async advertise(): Promise<SecAggAdvertise> {
    this.enter('advertise');
    return this.guard(async () => {
      const p = this.params;
      const me = this.clientId;
      const maskPair = (this.maskPair = await generateX25519());
      const sharePair = (this.sharePair = await generateX25519());
      const selfMaskCommitment = bind.selfMaskCommitment(p, me, this.selfMaskSeed);
      const signature = await sign(bind.advertise(p, me, maskPair.publicKey, sharePair.publicKey, selfMaskCommitment), this.identity.signSecretKey);
      this.stage = 'shares';
      return {
        stage: 'advertise',
        runId: p.runId,
        round: p.round,
        sender: me,
        maskPublicKey: maskPair.publicKey,
        sharePublicKey: sharePair.publicKey,
        selfMaskCommitment,
        signature,
      };
    });
  }

  /** Stage 2: check neighbours' signed keys, Shamir-share our secrets among them, seal each share. */
  async shareKeys(keysRaw: unknown): Promise<SecAggShares> {
    const msg = parseMessage(SecAggKeysSchema, keysRaw, 'secagg keys');
    this.checkHeader(msg);
    return this.guard(async () => {
      const p = this.params;
      const me = this.clientId;
      const neighbours = new Set(p.graph.neighbours(me));
      const checks = msg.keys.map(async (k) => {
        if (!neighbours.has(k.clientId)) throw refused(`keys of ${k.clientId}, who is not a neighbour`);
        if (this.peers.has(k.clientId)) throw refused(`keys of ${k.clientId} listed twice`);
        assertBoxKey(k.maskPublicKey, `keys of ${k.clientId}: mask key`);
        assertBoxKey(k.sharePublicKey, `keys of ${k.clientId}: share key`);
        this.peers.set(k.clientId, k);
        const ok = await verify(
          bind.advertise(p, k.clientId, k.maskPublicKey, k.sharePublicKey, k.selfMaskCommitment),
          k.signature,
          p.signKeys.get(k.clientId)!,
        );
        if (!ok) throw refused(`keys of ${k.clientId} are not signed by it for this round and setup`);
      });
      await Promise.all(checks);
      const holders = [me, ...[...this.peers.keys()].sort()];
      if (holders.length < p.threshold) {
        throw new SecAggAbortError('too_few_advertised', `only ${holders.length} of this client's share holders are left; t = ${p.threshold}`);
      }
      const xs = holders.map((h) => p.xOf.get(h)!);
      const selfShares = splitSecret(this.selfMaskSeed, xs, p.threshold);
      const keyShares = splitSecret(this.maskPair!.secretKey, xs, p.threshold);
      this.held.set(me, { selfMask: selfShares[0]!.y, maskKey: keyShares[0]!.y });
      const shares: SealedShare[] = [];
      for (let i = 1; i < holders.length; i++) {
        const peer = holders[i]!;
        const key = await x25519(this.sharePair!.secretKey, this.peers.get(peer)!.sharePublicKey);
        if (!key) throw refused(`share key of ${peer} is a low-order point`);
        this.shareSecrets.set(peer, key);
        const env = await seal(concatBytes(selfShares[i]!.y, keyShares[i]!.y), key, bind.shareAd(p, me, peer));
        shares.push({ peer, nonce: env.nonce, ciphertext: env.ciphertext });
      }
      const signature = await sign(bind.shares(p, me, shares), this.identity.signSecretKey);
      this.stage = 'masked';
      return { stage: 'shares', runId: p.runId, round: p.round, sender: me, shares, signature };
    });
  }

  /**
   * Stage 3: open the shares routed to us (their senders are the neighbours we mask with), then
   * quantise n_i * clip(delta), add the self mask and the pairwise masks, and sign the result.
   */
  async maskInput(routedRaw: unknown, input: SecAggInput): Promise<SecAggMasked> {
    const msg = parseMessage(SecAggRoutedSharesSchema, routedRaw, 'secagg routed shares');
    this.checkHeader(msg);
    const p = this.params;
    if (input.delta.length !== p.vectorLength) throw new FedlinkError('shape_mismatch', `update has ${input.delta.length} entries, the round expects ${p.vectorLength}`);
    const cap = p.maxExamples.get(this.clientId)!;
    if (!Number.isInteger(input.numExamples) || input.numExamples < 1 || (!p.dp && input.numExamples > cap)) {
      throw new FedlinkError('bad_request', `numExamples must be an integer in [1, ${cap}] (the cap announced for this client)`);
    }
    if (p.dp) checkDistributedDpInput(input, p.dp.l2Clip);
    else if (input.dpNoise !== undefined) throw new FedlinkError('bad_request', 'a DP noise share was given but the round has no distributed DP');
    const weight = p.dp ? 1 : input.numExamples;
    return this.guard(async () => {
      const me = this.clientId;
      const senders: string[] = [];
      for (const s of msg.shares) {
        const key = this.shareSecrets.get(s.peer);
        if (!key) throw refused(`share from ${s.peer}, whose keys we never accepted`);
        if (this.held.has(s.peer)) throw refused(`two shares from ${s.peer}`);
        const plain = await open({ nonce: s.nonce, ciphertext: s.ciphertext }, key, bind.shareAd(p, s.peer, me)).catch(() => {
          throw refused(`share from ${s.peer} failed authentication (tampered, or sealed for another round/recipient)`);
        });
        if (plain.length !== 2 * SHARE_BYTES) throw refused(`share from ${s.peer} has the wrong size`);
        this.held.set(s.peer, { selfMask: plain.slice(0, SHARE_BYTES), maskKey: plain.slice(SHARE_BYTES) });
        senders.push(s.peer);
      }
      if (senders.length + 1 < p.threshold) {
        throw new SecAggAbortError('too_few_shared', `only ${senders.length + 1} of this client's share holders are left; t = ${p.threshold}`);
      }
      this.maskedWith = senders.sort();

      const words = new Uint32Array(p.vectorLength + 1);
      const { clipped } = await quantizeWeightedUpdate(input.delta, weight, p.clipRange, p.scale, words);
      this.clippedEntries = clipped;
      if (input.dpNoise) addIntegerNoise(words, input.dpNoise);
      const terms: MaskTerm[] = [{ key: await deriveStreamKey(this.selfMaskSeed, bind.selfMaskInfo(p, me)), sign: 1 }];
      for (const peer of this.maskedWith) {
        const secret = await x25519(this.maskPair!.secretKey, this.peers.get(peer)!.maskPublicKey);
        if (!secret) throw refused(`mask key of ${peer} is a low-order point`);
        terms.push({ key: await deriveStreamKey(secret, bind.pairwiseInfo(p, me, peer)), sign: pairSign(me, peer) });
        secret.fill(0);
      }
      await applyMasks(words, terms);
      const masked = new Uint8Array(words.buffer);
      const signature = await sign(bind.masked(p, me, masked.length, await sha256(masked)), this.identity.signSecretKey);
      this.stage = 'unmask';
      return { stage: 'masked', runId: p.runId, round: p.round, sender: me, masked, signature };
    });
  }

  /**
   * Stage 4: reveal, for each neighbour we masked with, the share of its self-mask seed if it
   * survived or of its mask key if it dropped; never both for one neighbour, and never our own
   * mask key. The coordinator's view of who survived must match ours exactly.
   */
  async unmask(requestRaw: unknown): Promise<SecAggUnmask> {
    const msg = parseMessage(SecAggUnmaskRequestSchema, requestRaw, 'secagg unmask request');
    this.checkHeader(msg);
    return this.guard(async () => {
      const p = this.params;
      const me = this.clientId;
      const expected = new Set(this.maskedWith);
      const all = [...msg.survivors, ...msg.dropped];
      if (all.length !== expected.size || new Set(all).size !== all.length || !all.every((id) => expected.has(id))) {
        throw refused('unmask request does not split our neighbours into survivors and dropped clients');
      }
      if (msg.survivors.length + 1 < p.threshold) {
        throw new SecAggAbortError('too_few_masked', `only ${msg.survivors.length + 1} of this client's share holders survived; t = ${p.threshold}`);
      }
      const selfMaskShares: RevealedShare[] = [me, ...msg.survivors].map((owner) => ({ owner, share: this.held.get(owner)!.selfMask.slice() }));
      const maskKeyShares: RevealedShare[] = msg.dropped.map((owner) => ({ owner, share: this.held.get(owner)!.maskKey.slice() }));
      const signature = await sign(bind.unmask(p, me, selfMaskShares, maskKeyShares), this.identity.signSecretKey);
      this.stage = 'done';
      this.wipe();
      return { stage: 'unmask', runId: p.runId, round: p.round, sender: me, selfMaskShares, maskKeyShares, signature };
    });
  }

  /** Ends the client's part in the round (abort, round end, disconnect) and wipes its secrets. */
  dispose(): void {
    if (this.stage !== 'done') this.stage = 'failed';
    this.wipe();
  }

  private enter(stage: ClientStage): void {
    if (this.stage === 'failed') throw refused('this client has left the secagg round');
    if (this.stage !== stage) throw refused(`out of order: the client is at stage ${this.stage}, not ${stage}`);
  }

  /** Header checks: refusals here don't end the round (the message is just not for us, now). */
  private checkHeader(msg: { stage: string; runId: string; round: number; recipient: string }): void {
    const p = this.params;
    if (msg.runId !== p.runId || msg.round !== p.round) throw replayed(`${msg.stage} message is for run ${msg.runId} round ${msg.round}, not this one`);
    if (msg.recipient !== this.clientId) throw refused(`${msg.stage} message is addressed to ${msg.recipient}`);
    if (this.stage === 'failed') throw refused('this client has left the secagg round');
    const want = ORDER.indexOf(STAGE_OF[msg.stage]!);
    const at = ORDER.indexOf(this.stage);
    if (want < at) throw replayed(`${msg.stage} message for a stage this client has already completed`);
    if (want > at) throw refused(`out of order: ${msg.stage} message while the client is at stage ${this.stage}`);
  }

  /** Runs a stage; any failure inside ends the client's participation (it drops out). */
  private async guard<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  private wipe(): void {
    this.maskPair?.secretKey.fill(0);
    this.sharePair?.secretKey.fill(0);
    this.selfMaskSeed.fill(0);
    for (const k of this.shareSecrets.values()) k.fill(0);
    for (const h of this.held.values()) {
      h.selfMask.fill(0);
      h.maskKey.fill(0);
    }
  }
}

/** Distributed DP input: the noise share is one integer per entry and the delta is within the L2 clip. */
function checkDistributedDpInput(input: SecAggInput, l2Clip: number): void {
  const noise = input.dpNoise;
  if (!noise || noise.length !== input.delta.length) throw new FedlinkError('bad_request', `distributed DP needs a noise share of ${input.delta.length} integers`);
  let sq = 0;
  for (let i = 0; i < input.delta.length; i++) sq += input.delta[i]! * input.delta[i]!;
  if (!(Math.sqrt(sq) <= l2Clip * (1 + 1e-6))) throw new FedlinkError('bad_request', `distributed DP: the delta's L2 norm ${Math.sqrt(sq)} exceeds the clip ${l2Clip}`);
  for (let i = 0; i < noise.length; i++) if (!Number.isSafeInteger(noise[i]!)) throw new FedlinkError('bad_request', `distributed DP: noise entry ${i} is not an integer`);
}

/** Adds integer noise to the quantised words (mod 2^32); the last word (the count) is left alone. */
function addIntegerNoise(words: Uint32Array, noise: ArrayLike<number>): void {
  for (let i = 0; i < noise.length; i++) words[i] = (words[i]! + noise[i]!) >>> 0;
}
