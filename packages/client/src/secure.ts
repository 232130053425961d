import { type Identity, SecAggClientRound } from '@fedlink/crypto';
import { FedlinkError, SECAGG_EVENTS } from '@fedlink/protocol';

type Send = (event: string, payload: unknown) => Promise<void>;

interface RoundState {
  round: SecAggClientRound | undefined;
  /** The neighbours' routed shares, or undefined once the client left the round. */
  routed: Promise<unknown>;
  resolveRouted: (raw: unknown) => void;
}

/**
 * The client's part in secure aggregation, one SecAgg+ state machine per round. Key stages run
 * while the model trains; the masked input goes out once training is done and the neighbours'
 * shares have arrived. Nothing here sees another client's data: only keys, sealed shares and
 * the coordinator's lists of survivors.
 */
export class ClientSecureAggregation {
  /** Keyed by SecAgg round id (round and attempt, see secaggRoundId). */
  private readonly rounds = new Map<number, RoundState>();
  /** Rounds this client left (dropped out, aborted): late messages for them are ignored. */
  private readonly left = new Set<number>();

  constructor(
    private readonly identity: Identity,
    private readonly runId: () => string | undefined,
    private readonly send: Send,
    private readonly vanishing: (round: number, stage: 'advertise' | 'shares' | 'unmask') => boolean,
  ) {}

  private state(round: number): RoundState {
    let s = this.rounds.get(round);
    if (!s) {
      let resolveRouted!: (raw: unknown) => void;
      const routed = new Promise<unknown>((r) => (resolveRouted = r));
      s = { round: undefined, routed, resolveRouted };
      this.rounds.set(round, s);
      // Keep only recent rounds.
      for (const r of this.rounds.keys()) if (r < round - 2) this.forget(r);
    }
    return s;
  }

  async onSetup(raw: unknown): Promise<void> {
    const round = roundOf(raw);
    if (this.left.has(round)) return;
    const runId = this.runId();
    const s = this.state(round);
    s.round?.dispose();
    s.round = new SecAggClientRound(this.identity, raw, { ...(runId ? { runId } : {}), round });
    if (this.vanishing(round, 'advertise')) return;
    await this.sendIfStillIn(round, SECAGG_EVENTS.advertise, await s.round.advertise());
  }

  async onKeys(raw: unknown): Promise<void> {
    const round = roundOf(raw);
    const c = this.rounds.get(round)?.round;
    if (!c) return;
    if (this.vanishing(round, 'shares')) return;
    await this.sendIfStillIn(round, SECAGG_EVENTS.shares, await c.shareKeys(raw));
  }

  onRoutedShares(raw: unknown): void {
    const round = roundOf(raw);
    if (!this.left.has(round)) this.state(round).resolveRouted(raw);
  }

  /** Masks and sends this round's weighted update; waits for the neighbours' shares first. */
  async submit(round: number, delta: Float32Array, numExamples: number, deadline: number): Promise<number> {
    if (this.left.has(round)) throw new FedlinkError('secagg_failed', `left secure round ${round} before masking`);
    const s = this.state(round);
    const routed = await Promise.race([
      s.routed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), Math.max(0, deadline - Date.now()))),
    ]);
    if (routed === undefined || !s.round || !this.rounds.has(round)) {
      throw new FedlinkError('secagg_failed', `round ${round}: left the secure round before masking (dropped out, aborted, or no shares by the deadline)`);
    }
    const masked = await s.round.maskInput(routed, { delta, numExamples });
    if (!(await this.sendIfStillIn(round, SECAGG_EVENTS.masked, masked))) {
      throw new FedlinkError('secagg_failed', `left secure round ${round} while masking`);
    }
    return masked.masked.byteLength;
  }

  async onUnmaskRequest(raw: unknown): Promise<void> {
    const round = roundOf(raw);
    const c = this.rounds.get(round)?.round;
    if (!c) return;
    if (this.vanishing(round, 'unmask')) return;
    await this.sendIfStillIn(round, SECAGG_EVENTS.unmask, await c.unmask(raw));
    this.rounds.delete(round);
    c.dispose();
  }

  onAbort(raw: unknown): void {
    this.forget(roundOf(raw));
  }

  /**
   * Stage computations take a while (key agreements, sealing, masking); if the client left the
   * round meanwhile (its secrets are wiped), what it computed must not go out.
   */
  private async sendIfStillIn(round: number, event: string, payload: unknown): Promise<boolean> {
    if (this.left.has(round) || !this.rounds.has(round)) return false;
    await this.send(event, payload);
    return true;
  }

  /** Leaves a round: wipes its secrets and releases anyone waiting for its shares. */
  forget(round: number): void {
    const s = this.rounds.get(round);
    this.rounds.delete(round);
    this.left.add(round);
    for (const r of this.left) if (r < round - 5000) this.left.delete(r);
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

  /** Leaves every round in progress (the connection dropped: the coordinator counts us out). */
  dispose(): void {
    for (const r of [...this.rounds.keys()]) this.forget(r);
  }
}

function roundOf(raw: unknown): number {
  const r = (raw as { round?: unknown } | null)?.round;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 0) throw new FedlinkError('bad_request', 'secure-aggregation message without a valid round');
  return r;
}
