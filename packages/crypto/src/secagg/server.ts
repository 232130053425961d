import nacl from 'tweetnacl';
import {
  FedlinkError,
  parseMessage,
  SecAggAdvertiseSchema,
  SecAggMaskedSchema,
  SecAggSetupSchema,
  SecAggSharesSchema,
  SecAggUnmaskSchema,
  type SealedShare,
  type SecAggAbort,
  type SecAggAbortReason,
  type SecAggAdvertise,
  type SecAggKeys,
  type SecAggRoutedShares,
  type SecAggSetup,
  type SecAggUnmaskRequest,
} from '@fedlink/protocol';
import { refused, replayed, SecAggAbortError } from './errors.js';
import { defaultDegree, defaultThreshold, degreeForDropout, effectiveDegree } from './graph.js';
import { applyMasks, deriveStreamKey, type MaskTerm } from './prg.js';
import { bind, holders, pairSign, resolveParams, sha256, type RoundParams } from './params.js';
import { dequantizeSum } from './quantize.js';
import { combineShares, type Share } from './shamir.js';
import { verify } from '../signature.js';
import { assertBoxKey, assertSignatureForm } from '../key-checks.js';
import { x25519, x25519Base } from './x25519.js';

/**
 * The coordinator side of one SecAgg+ round. It only ever handles public keys, sealed shares it
 * can't open, masked vectors, and revealed shares; nothing in its API accepts a plaintext update,
 * and the one vector it holds is the running sum of masked vectors. What comes out is the sum.
 *
 * How a round engine drives it (deadlines are the engine's business):
 *
 *   const s = new SecAggServerRound({ runId, round, participants, vectorLength });
 *   broadcast('secagg:setup', s.setup);
 *   // stage 'advertise': for each 'secagg:advertise' payload: await s.receiveAdvertise(raw)
 *   //   (ack the error to the sender on throw). Close when s.isComplete(), or at the deadline:
 *   for (const [id, m] of s.closeAdvertise()) send(id, 'secagg:keys', m);
 *   // stage 'shares': await s.receiveShares(raw); at isComplete() or deadline:
 *   for (const [id, m] of s.closeShares()) send(id, 'secagg:routed-shares', m);
 *   // stage 'masked': await s.receiveMasked(raw); at isComplete() or deadline:
 *   for (const [id, m] of s.closeMasked()) send(id, 'secagg:unmask-request', m);
 *   // stage 'unmask': await s.receiveUnmask(raw); as soon as s.canClose() (or at the deadline):
 *   const { weightedSum, totalExamples, count } = await s.unmask();
 *   aggregator.addWeightedSum(weightedSum, totalExamples, count);
 *
 * Every close*() and unmask() throws SecAggAbortError (code `secagg_failed`, with a `reason`) when
 * the round can no longer finish; then broadcast s.abortMessage() on 'secagg:abort', end the round
 * as abandoned and leave the global model as it was. `canClose()` says whether closing now would
 * succeed; `expected()` lists who has yet to send in this stage; clients missing from a close*()
 * result are out of the round. Receive methods refuse (throw, state unchanged) malformed messages
 * (`bad_request`), messages for another run/round/stage or already received (`replay`), and bad
 * signatures, wrong senders or wrong contents (`secagg_failed`).
 */
export interface SecAggServerConfig {
  runId: string;
  round: number;
  /** U0: the selected clients, their identity keys and example caps (from their hellos). */
  participants: ReadonlyArray<{ clientId: string; signPublicKey: Uint8Array; maxExamples: number }>;
  vectorLength: number;
  /** t; default a strict majority of the k + 1 share holders. */
  threshold?: number;
  /** k; default n - 1 up to 20 clients, else 2 * ceil(log2 n), or as `expectedDropout` needs. */
  neighbours?: number;
  /**
   * Fraction of clients expected to drop before masked input. When set (and `neighbours` is not),
   * k is raised until the round survives that dropout with probability >= 0.999 at the default
   * majority threshold (see degreeForDropout). The default k tolerates about 10%.
   */
  expectedDropout?: number;
  /** C: delta entries are clipped to [-C, C]; default 1. */
  clipRange?: number;
  /** Public randomness for the graph; default 32 bytes from the CSPRNG. Fixed here, before any key is seen. */
  graphSeed?: Uint8Array;
  /** Distributed DP (see distributed-dp.ts: sizeDistributedDp gives this and the clip range); example caps must then be 1. */
  dp?: { l2Clip: number; shareStd: number };
}

export interface SecAggResult {
  /** sum over contributors of n_i * clip(delta_i), within count / scale per entry. */
  weightedSum: Float64Array;
  /** sum over contributors of n_i. */
  totalExamples: number;
  /** Number of contributors (clients whose masked input is in the sum). */
  count: number;
  contributors: string[];
}

export type SecAggServerStage = 'advertise' | 'shares' | 'masked' | 'unmask' | 'done' | 'aborted';

export const DEFAULT_CLIP_RANGE = 1;

export class SecAggServerRound {
  /** Broadcast to the participants on 'secagg:setup'. */
  readonly setup: SecAggSetup;
  readonly params: RoundParams;
  private current: SecAggServerStage = 'advertise';
  private failure?: SecAggAbortError;
  private readonly inFlight = new Set<string>();
  private readonly advertised = new Map<string, SecAggAdvertise>();
  private u1 = new Set<string>();
  private readonly sharesFrom = new Map<string, SealedShare[]>();
  private u2 = new Set<string>();
  private sum: Uint32Array | undefined;
  private readonly u3 = new Set<string>();
  private dropped = new Set<string>();
  private readonly requests = new Map<string, SecAggUnmaskRequest>();
  private readonly responders = new Set<string>();
  private readonly selfMaskShares = new Map<string, Share[]>();
  private readonly maskKeyShares = new Map<string, Share[]>();

  constructor(config: SecAggServerConfig) {
    const n = config.participants.length;
    const k = config.neighbours ?? (config.expectedDropout !== undefined ? degreeForDropout(n, config.expectedDropout) : defaultDegree(n));
    const degree = effectiveDegree(n, k);
    const setup: SecAggSetup = {
      stage: 'setup',
      runId: config.runId,
      round: config.round,
      participants: config.participants.map((p) => ({ clientId: p.clientId, signPublicKey: p.signPublicKey, maxExamples: p.maxExamples })),
      threshold: config.threshold ?? defaultThreshold(degree),
      neighbours: degree,
      vectorLength: config.vectorLength,
      clipRange: config.clipRange ?? DEFAULT_CLIP_RANGE,
      graphSeed: config.graphSeed ?? nacl.randomBytes(32),
      ...(config.dp ? { dp: config.dp } : {}),
    };
    this.setup = parseMessage(SecAggSetupSchema, setup, 'secagg configuration');
    this.params = resolveParams(this.setup);
  }

  get stage(): SecAggServerStage {
    return this.current;
  }

  /** Who may still send in the current stage. */
  expected(): string[] {
    switch (this.current) {
      case 'advertise':
        return this.params.ids.filter((id) => !this.advertised.has(id));
      case 'shares':
        return [...this.u1].filter((id) => !this.sharesFrom.has(id));
      case 'masked':
        return [...this.u2].filter((id) => !this.u3.has(id));
      case 'unmask':
        return [...this.u3].filter((id) => !this.responders.has(id));
      default:
        return [];
    }
  }

  /** Everyone still in the round has sent this stage's message: close it now. */
  isComplete(): boolean {
    return ['advertise', 'shares', 'masked', 'unmask'].includes(this.current) && this.expected().length === 0;
  }

  /** Closing the current stage now would not abort the round. */
  canClose(): boolean {
    switch (this.current) {
      case 'advertise':
        return this.prune(new Set(this.advertised.keys())).size >= this.params.threshold;
      case 'shares':
        return this.prune(new Set(this.sharesFrom.keys())).size >= this.params.threshold;
      case 'masked':
        return this.maskedShortfall() === undefined;
      case 'unmask':
        return this.unmaskShortfall() === undefined;
      default:
        return false;
    }
  }

  /** The message to broadcast on 'secagg:abort' once the round has aborted. */
  abortMessage(): SecAggAbort | undefined {
    return this.failure?.toAbortMessage(this.params.runId, this.params.round);
  }

  /** Abandons the round on the engine's initiative (run stopped, ...). Returns the abort message. */
  abort(reason: SecAggAbortReason, message: string): SecAggAbort {
    this.markAborted(reason, message);
    return this.abortMessage()!;
  }

  // ---- stage 1: advertise keys ----

  async receiveAdvertise(raw: unknown): Promise<void> {
    const msg = parseMessage(SecAggAdvertiseSchema, raw, 'secagg advertise');
    await this.accept('advertise', msg, this.advertised, async () => {
      // Low-order keys would give all-zero agreements (masks and share keys everyone knows).
      assertBoxKey(msg.maskPublicKey, `advertise from ${msg.sender}: mask key`);
      assertBoxKey(msg.sharePublicKey, `advertise from ${msg.sender}: share key`);
      assertSignatureForm(msg.signature, `advertise from ${msg.sender}: signature`);
      const ok = await verify(
        bind.advertise(this.params, msg.sender, msg.maskPublicKey, msg.sharePublicKey, msg.selfMaskCommitment),
        msg.signature,
        this.params.signKeys.get(msg.sender)!,
      );
      if (!ok) throw refused(`advertise from ${msg.sender}: bad signature (tampered, or signed for another run, round or setup)`);
      return () => this.advertised.set(msg.sender, msg);
    });
  }

  /** Sends each remaining client the signed keys of its neighbours that advertised. */
  closeAdvertise(): Map<string, SecAggKeys> {
    this.requireStage('advertise');
    const alive = this.prune(new Set(this.advertised.keys()));
    if (alive.size < this.params.threshold) {
      this.fail('too_few_advertised', `${this.advertised.size} of ${this.params.ids.length} clients advertised keys (${alive.size} with t = ${this.params.threshold} live share holders)`);
    }
    this.u1 = alive;
    this.current = 'shares';
    const out = new Map<string, SecAggKeys>();
    for (const id of this.u1) {
      const keys = this.liveNeighbours(id, this.u1).map((n) => {
        const a = this.advertised.get(n)!;
        return { clientId: n, maskPublicKey: a.maskPublicKey, sharePublicKey: a.sharePublicKey, selfMaskCommitment: a.selfMaskCommitment, signature: a.signature };
      });
      out.set(id, { stage: 'keys', runId: this.params.runId, round: this.params.round, recipient: id, keys });
    }
    return out;
  }

  // ---- stage 2: share keys ----

  async receiveShares(raw: unknown): Promise<void> {
    const msg = parseMessage(SecAggSharesSchema, raw, 'secagg shares');
    await this.accept('shares', msg, this.sharesFrom, async () => {
      if (!this.u1.has(msg.sender)) throw refused(`shares from ${msg.sender}, who is not in this stage`);
      const want = this.liveNeighbours(msg.sender, this.u1);
      const got = msg.shares.map((s) => s.peer);
      if (got.length !== want.length || new Set(got).size !== got.length || !got.every((id) => want.includes(id))) {
        throw refused(`shares from ${msg.sender} must go to exactly its ${want.length} live neighbours`);
      }
      const ok = await verify(bind.shares(this.params, msg.sender, msg.shares), msg.signature, this.params.signKeys.get(msg.sender)!);
      if (!ok) throw refused(`shares from ${msg.sender}: bad signature (tampered or replayed)`);
      return () => this.sharesFrom.set(msg.sender, msg.shares);
    });
  }

  /** Routes to each remaining client the shares its neighbours sealed to it. */
  closeShares(): Map<string, SecAggRoutedShares> {
    this.requireStage('shares');
    const alive = this.prune(new Set(this.sharesFrom.keys()));
    if (alive.size < this.params.threshold) {
      this.fail('too_few_shared', `${this.sharesFrom.size} of ${this.u1.size} clients sent shares (${alive.size} with t = ${this.params.threshold} live share holders)`);
    }
    this.u2 = alive;
    this.current = 'masked';
    this.sum = new Uint32Array(this.params.vectorLength + 1);
    const out = new Map<string, SecAggRoutedShares>();
    for (const id of this.u2) {
      const shares = this.liveNeighbours(id, this.u2).map((from) => {
        const s = this.sharesFrom.get(from)!.find((x) => x.peer === id)!;
        return { peer: from, nonce: s.nonce, ciphertext: s.ciphertext };
      });
      out.set(id, { stage: 'routed-shares', runId: this.params.runId, round: this.params.round, recipient: id, shares });
    }
    this.sharesFrom.clear();
    return out;
  }

  // ---- stage 3: masked input ----

  /** Adds a signed masked vector to the running sum; the vector itself is not kept. */
  async receiveMasked(raw: unknown): Promise<void> {
    const msg = parseMessage(SecAggMaskedSchema, raw, 'secagg masked input');
    await this.accept('masked', msg, this.u3, async () => {
      if (!this.u2.has(msg.sender)) throw refused(`masked input from ${msg.sender}, who is not in this stage`);
      const words = this.params.vectorLength + 1;
      if (msg.masked.length !== 4 * words) throw refused(`masked input from ${msg.sender} has ${msg.masked.length} bytes, expected ${4 * words}`);
      const digest = await sha256(msg.masked);
      const ok = await verify(bind.masked(this.params, msg.sender, msg.masked.length, digest), msg.signature, this.params.signKeys.get(msg.sender)!);
      if (!ok) throw refused(`masked input from ${msg.sender}: bad signature (tampered or replayed)`);
      return () => {
        // Socket payloads may sit at any byte offset; Uint32Array views need 4-byte alignment.
        const m = msg.masked;
        const view = m.byteOffset % 4 === 0 ? new Uint32Array(m.buffer, m.byteOffset, words) : new Uint32Array(m.slice().buffer);
        const sum = this.sum!;
        for (let w = 0; w < words; w++) sum[w]! += view[w]!;
        this.u3.add(msg.sender);
      };
    });
  }

  /** Tells each client that sent masked input which of its neighbours survived and which dropped. */
  closeMasked(): Map<string, SecAggUnmaskRequest> {
    this.requireStage('masked');
    const shortfall = this.maskedShortfall();
    if (shortfall) this.fail('too_few_masked', shortfall);
    this.dropped = new Set([...this.u2].filter((id) => !this.u3.has(id)));
    this.current = 'unmask';
    for (const id of this.u3) {
      const nb = this.liveNeighbours(id, this.u2);
      this.requests.set(id, {
        stage: 'unmask-request',
        runId: this.params.runId,
        round: this.params.round,
        recipient: id,
        survivors: nb.filter((n) => this.u3.has(n)),
        dropped: nb.filter((n) => this.dropped.has(n)),
      });
    }
    return new Map(this.requests);
  }

  // ---- stage 4: unmasking ----

  async receiveUnmask(raw: unknown): Promise<void> {
    const msg = parseMessage(SecAggUnmaskSchema, raw, 'secagg unmask');
    await this.accept('unmask', msg, this.responders, async () => {
      const req = this.requests.get(msg.sender);
      if (!req) throw refused(`unmask from ${msg.sender}, who is not in this stage`);
      if (!sameSet(msg.selfMaskShares.map((s) => s.owner), [msg.sender, ...req.survivors]) || !sameSet(msg.maskKeyShares.map((s) => s.owner), req.dropped)) {
        throw refused(`unmask from ${msg.sender} does not answer its request`);
      }
      const ok = await verify(bind.unmask(this.params, msg.sender, msg.selfMaskShares, msg.maskKeyShares), msg.signature, this.params.signKeys.get(msg.sender)!);
      if (!ok) throw refused(`unmask from ${msg.sender}: bad signature (tampered or replayed)`);
      return () => {
        const x = this.params.xOf.get(msg.sender)!;
        for (const s of msg.selfMaskShares) push(this.selfMaskShares, s.owner, { x, y: s.share });
        for (const s of msg.maskKeyShares) push(this.maskKeyShares, s.owner, { x, y: s.share });
        this.responders.add(msg.sender);
      };
    });
  }

  /**
   * Reconstructs survivors' self-mask seeds and dropped clients' mask keys, removes their masks
   * from the running sum, and decodes it. Throws SecAggAbortError if that is impossible.
   */
  async unmask(): Promise<SecAggResult> {
    this.requireStage('unmask');
    const shortfall = this.unmaskShortfall();
    if (shortfall) this.fail('too_few_unmasked', shortfall);
    this.current = 'done'; // late unmask messages are refused from here on
    const p = this.params;
    try {
      const terms: MaskTerm[] = [];
      for (const j of this.u3) {
        const a = this.advertised.get(j)!;
        const seed = await this.reconstruct(this.selfMaskShares.get(j)!, async (s) => nacl.verify(bind.selfMaskCommitment(p, j, s), a.selfMaskCommitment), j, 'self-mask seed');
        terms.push({ key: await deriveStreamKey(seed, bind.selfMaskInfo(p, j)), sign: -1 });
        seed.fill(0);
      }
      for (const j of this.dropped) {
        const a = this.advertised.get(j)!;
        const sk = await this.reconstruct(this.maskKeyShares.get(j)!, async (s) => nacl.verify(await x25519Base(s), a.maskPublicKey), j, 'mask key');
        for (const i of this.liveNeighbours(j, this.u3)) {
          const secret = await x25519(sk, this.advertised.get(i)!.maskPublicKey);
          if (!secret) this.fail('protocol_violation', `mask key of ${i} is a low-order point`);
          // i added pairSign(i, j) * mask(i, j); take it out again.
          terms.push({ key: await deriveStreamKey(secret, bind.pairwiseInfo(p, i, j)), sign: pairSign(i, j) === 1 ? -1 : 1 });
          secret.fill(0);
        }
        sk.fill(0);
      }
      const sum = this.sum!;
      await applyMasks(sum, terms);
      const totalExamples = sum[p.vectorLength]!;
      const cap = [...this.u3].reduce((n, id) => n + p.maxExamples.get(id)!, 0);
      if (totalExamples < this.u3.size || totalExamples > cap) {
        this.fail('aggregate_invalid', `unmasked example total ${totalExamples} is outside [${this.u3.size}, ${cap}]: masks did not cancel`);
      }
      const weightedSum = dequantizeSum(sum, p.vectorLength, p.scale);
      this.sum = undefined;
      return { weightedSum, totalExamples, count: this.u3.size, contributors: [...this.u3].sort() };
    } catch (err) {
      if (err instanceof SecAggAbortError) throw err;
      throw this.markAborted('protocol_violation', `unmasking failed: ${(err as Error).message}`);
    }
  }

  // ---- internals ----

  /**
   * Shared acceptance path of every inbound message: header and duplicate checks first (the
   * refusal leaves the state as it was), then the stage-specific async validation, then the commit,
   * which only happens if the stage is still open after the await.
   */
  private async accept(
    stage: SecAggServerStage,
    msg: { runId: string; round: number; sender: string },
    received: { has(id: string): boolean },
    validate: () => Promise<() => void>,
  ): Promise<void> {
    const p = this.params;
    if (msg.runId !== p.runId || msg.round !== p.round) throw replayed(`${stage} message is for run ${msg.runId} round ${msg.round}, not this one`);
    if (!p.signKeys.has(msg.sender)) throw refused(`${msg.sender} is not a participant of this round`);
    const key = `${stage}\0${msg.sender}`;
    if (received.has(msg.sender) || this.inFlight.has(key)) throw replayed(`${stage} message from ${msg.sender} was already received`);
    if (this.failure) throw refused(`the round was aborted: ${this.failure.message}`);
    if (this.current !== stage) throw refused(`${stage} message from ${msg.sender} outside the ${stage} stage (now ${this.current})`);
    this.inFlight.add(key);
    try {
      const commit = await validate();
      if (this.current !== stage) throw refused(`${stage} message from ${msg.sender} arrived after the stage closed`);
      commit();
    } finally {
      this.inFlight.delete(key);
    }
  }

  private requireStage(stage: SecAggServerStage): void {
    if (this.failure) throw this.failure;
    if (this.current !== stage) throw refused(`cannot close ${stage}: the round is at stage ${this.current}`);
  }

  /** Records the first abort reason and drops the running sum. */
  private markAborted(reason: SecAggAbortReason, message: string): SecAggAbortError {
    this.failure ??= new SecAggAbortError(reason, message);
    this.current = 'aborted';
    this.sum = undefined;
    return this.failure;
  }

  private fail(reason: SecAggAbortReason, message: string): never {
    throw this.markAborted(reason, message);
  }

  private liveNeighbours(id: string, alive: ReadonlySet<string>): string[] {
    return this.params.graph.neighbours(id).filter((n) => alive.has(n));
  }

  /**
   * Drops, repeatedly, clients with fewer than t live share holders: their secrets could never be
   * reconstructed, so letting them continue would only doom the round later.
   */
  private prune(alive: Set<string>): Set<string> {
    for (let changed = true; changed; ) {
      changed = false;
      for (const id of alive) {
        if (holders(this.params, id, alive).length < this.params.threshold) {
          alive.delete(id);
          changed = true;
        }
      }
    }
    return alive;
  }

  /** Why closing the masked stage now would fail, or undefined. */
  private maskedShortfall(): string | undefined {
    const t = this.params.threshold;
    if (this.u3.size < t) return `${this.u3.size} of ${this.u2.size} clients sent masked input; t = ${t}`;
    for (const j of this.u2) {
      const live = holders(this.params, j, this.u3).length;
      if (live < t) return `only ${live} share holders of ${j} sent masked input; t = ${t}`;
    }
    return undefined;
  }

  /** Why unmasking now would fail, or undefined. */
  private unmaskShortfall(): string | undefined {
    const t = this.params.threshold;
    for (const j of this.u3) {
      const n = this.selfMaskShares.get(j)?.length ?? 0;
      if (n < t) return `${n} shares of the self-mask seed of ${j} returned; t = ${t}`;
    }
    for (const j of this.dropped) {
      const n = this.maskKeyShares.get(j)?.length ?? 0;
      if (n < t) return `${n} shares of the mask key of dropped client ${j} returned; t = ${t}`;
    }
    return undefined;
  }

  /**
   * Interpolates from t shares and checks the result against the owner's public commitment. If a
   * (malicious) holder sent a bad share and more than t shares are available, other windows of t
   * shares are tried, so one bad share among t + 1 doesn't sink the round.
   */
  private async reconstruct(shares: readonly Share[], check: (secret: Uint8Array) => Promise<boolean>, owner: string, what: string): Promise<Uint8Array> {
    const t = this.params.threshold;
    for (let start = 0; start < shares.length; start++) {
      const window = [...shares.slice(start), ...shares.slice(0, start)].slice(0, t);
      let secret: Uint8Array | undefined;
      try {
        secret = combineShares(window, t);
      } catch (err) {
        if (!(err instanceof FedlinkError)) throw err;
      }
      if (secret && (await check(secret))) return secret;
      if (shares.length === t) break;
    }
    return this.fail('reconstruction_failed', `the ${what} of ${owner} could not be reconstructed from ${shares.length} shares (some are bad)`);
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return s.size === a.length && b.every((x) => s.has(x));
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
