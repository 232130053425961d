import { type Identity, SecAggClientRound } from '@fedlink/crypto';
import {
  FedlinkError,
  type SecAggAbort,
  type SecAggClientMessage,
  type SecAggKeys,
  type SecAggRoutedShares,
  type SecAggServerMessage,
  type SecAggSetup,
  type SecAggUnmaskRequest,
  roundKeyOfId,
  roundOfKeyId,
} from '@fedlink/protocol';
import { distributedDpInput } from './privacy.js';

/** Sends one of the client's stage messages (on the event its stage travels on). */
type Send = (msg: SecAggClientMessage) => Promise<void>;

interface RoundState {
  round: SecAggClientRound | undefined;
  /** The neighbours' routed shares, or undefined once the client left the round. */
  routed: Promise<SecAggRoutedShares | undefined>;
  resolveRouted: (msg: SecAggRoutedShares | undefined) => void;
}

/**
 * The client's part in secure aggregation, one SecAgg+ state machine per attempt at a round. Key
 * stages run while the model trains; the masked input goes out once training is done and the
 * neighbours' shares have arrived. Nothing here sees another client's data: only keys, sealed
 * shares and the coordinator's lists of survivors. Messages arrive parsed (`receive`); the state
 * machines of @fedlink/crypto check them again, which a parsed message passes unchanged.
 */
export class ClientSecureAggregation {
  /** Keyed by the messages' `round` field: the attempt's wire id (`roundKeyId`). */
  private readonly rounds = new Map<number, RoundState>();
  /** Attempts this client left (dropped out, aborted): late messages for them are ignored. */
  private readonly left = new Set<number>();

  constructor(
    private readonly identity: Identity,
    private readonly runId: () => string | undefined,
    private readonly send: Send,
  ) {}

  /** Handles one message of the coordinator's, by stage. */
  receive(msg: SecAggServerMessage): Promise<void> | void {
    switch (msg.stage) {
      case 'setup':
        return this.onSetup(msg);
      case 'keys':
        return this.onKeys(msg);
      case 'routed-shares':
        return this.onRoutedShares(msg);
      case 'unmask-request':
        return this.onUnmaskRequest(msg);
      case 'abort':
        return this.onAbort(msg);
      default: {
        const _: never = msg;
        throw new FedlinkError('bad_request', `unknown secure-aggregation stage ${String((_ as { stage?: unknown }).stage)}`);
      }
    }
  }

  private state(id: number): RoundState {
    let s = this.rounds.get(id);
    if (!s) {
      let resolveRouted!: (msg: SecAggRoutedShares | undefined) => void;
      const routed = new Promise<SecAggRoutedShares | undefined>((r) => (resolveRouted = r));
      s = { round: undefined, routed, resolveRouted };
      this.rounds.set(id, s);
      // Keep only the attempts close to this one: older rounds, and attempts more than two back.
      const key = roundKeyOfId(id);
      for (const r of this.rounds.keys()) {
        const old = roundKeyOfId(r);
        if (old.round < key.round || (old.round === key.round && old.attempt < key.attempt - 2)) this.forget(r);
      }
    }
    return s;
  }

  private async onSetup(msg: SecAggSetup): Promise<void> {
    const id = msg.round;
    if (this.left.has(id)) return;
    const runId = this.runId();
    const s = this.state(id);
    s.round?.dispose();
    s.round = new SecAggClientRound(this.identity, msg, { ...(runId ? { runId } : {}), round: id });
    await this.sendIfStillIn(id, await s.round.advertise());
  }

  private async onKeys(msg: SecAggKeys): Promise<void> {
    const c = this.rounds.get(msg.round)?.round;
    if (!c) return;
    await this.sendIfStillIn(msg.round, await c.shareKeys(msg));
  }

  private onRoutedShares(msg: SecAggRoutedShares): void {
    if (!this.left.has(msg.round)) this.state(msg.round).resolveRouted(msg);
  }

  /** Masks and sends this attempt's weighted update; waits for the neighbours' shares first. */
  async submit(id: number, delta: Float32Array, numExamples: number, deadline: number): Promise<number> {
    if (this.left.has(id)) throw new FedlinkError('secagg_failed', `left secure round ${id} before masking`);
    const s = this.state(id);
    const routed = await Promise.race([
      s.routed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), Math.max(0, deadline - Date.now()))),
    ]);
    if (routed === undefined || !s.round || !this.rounds.has(id)) {
      throw new FedlinkError('secagg_failed', `round ${id}: left the secure round before masking (dropped out, aborted, or no shares by the deadline)`);
    }
    const dp = s.round.params.dp; // distributed DP: clip and add this client's noise share before masking
    const masked = await s.round.maskInput(routed, dp ? distributedDpInput(delta, numExamples, dp) : { delta, numExamples });
    if (!(await this.sendIfStillIn(id, masked))) {
      throw new FedlinkError('secagg_failed', `left secure round ${id} while masking`);
    }
    return masked.masked.byteLength;
  }

  private async onUnmaskRequest(msg: SecAggUnmaskRequest): Promise<void> {
    const id = msg.round;
    const c = this.rounds.get(id)?.round;
    if (!c) return;
    await this.sendIfStillIn(id, await c.unmask(msg));
    this.rounds.delete(id);
    c.dispose();
  }

  private onAbort(msg: SecAggAbort): void {
    this.forget(msg.round);
  }

  /**
   * Stage computations take a while (key agreements, sealing, masking); if the client left the
   * round meanwhile (its secrets are wiped), what it computed must not go out.
   */
  private async sendIfStillIn(id: number, msg: SecAggClientMessage): Promise<boolean> {
    if (this.left.has(id) || !this.rounds.has(id)) return false;
    await this.send(msg);
    return true;
  }

  /** Leaves an attempt: wipes its secrets and releases anyone waiting for its shares. */
  forget(id: number): void {
    const s = this.rounds.get(id);
    this.rounds.delete(id);
    this.left.add(id);
    // Remember only the last few rounds' departures.
    const round = roundOfKeyId(id);
    for (const r of this.left) if (roundOfKeyId(r) < round - 5) this.left.delete(r);
    s?.round?.dispose();
    s?.resolveRouted(undefined);
  }

  /**
   * After a fresh welcome the client starts clean: the coordinator counted it out of whatever was
   * in progress (and refuses its late messages), and a resumed coordinator may run the same round
   * and attempt again, which must not be ignored.
   */
  rejoined(): void {
    this.dispose();
    this.left.clear();
  }

  /** Leaves every attempt in progress (the connection dropped: the coordinator counts us out). */
  dispose(): void {
    for (const r of [...this.rounds.keys()]) this.forget(r);
  }
}
