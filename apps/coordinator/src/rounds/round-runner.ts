import { EVENTS, type RoundStart, parseServerAck, roundKeyId } from '@fedlink/protocol';
import type { Log } from '../log.js';
import type { ClientRegistry, ClientSession } from '../federation/client-registry.js';
import type { RunContext } from '../federation/run-context.js';
import { type ContributionSink, OpenRound } from './open-round.js';
import type { RoundPlan } from './round-plan.js';
import type { SecureAggregation, WeightedSumSink } from './secure-aggregation.js';
import { StartPacer } from './start-pacer.js';

/** How long a selected client has to acknowledge round:start, from when its round:start leaves. */
export const START_ACK_TIMEOUT_MS = 30_000;

/** round:start bytes in flight (sent, not yet acked) at once: the sends of a big round are paced by their acks. */
export const START_BUDGET_BYTES = 64 << 20;

/** What one attempt needs: its plan, the global weights to send, and where contributions go. */
export interface RoundInputs {
  plan: RoundPlan;
  /** Global weights in the tensor codec, sent with round:start. */
  weights: Uint8Array;
  /** SCAFFOLD: the server control variate c in the tensor codec, sent with round:start. */
  control?: Uint8Array;
  /** The strategy's round aggregate: individual updates, or (secure mode) the unmasked sum. */
  aggregate: ContributionSink & WeightedSumSink;
  /** Aborting closes the round at once, with the abort reason. */
  signal: AbortSignal;
  /** Differential privacy of the round (the strategy's dp wrapper): what the clients must do. */
  privacy?: RoundPrivacyPlan;
  /** Epoch ms the round closes at, when earlier than the run's round timeout allows (an edge: inside its parent's deadline). */
  deadline?: number;
  /**
   * Closes the round early, keeping what it took (unlike `signal`): a parent that counts over
   * several coordinators (a cluster's nodes) saw its target reached. Its reason is the close reason.
   */
  close?: AbortSignal;
}

/** Local DP: round:start tells each client to clip and noise; distributed DP: the SecAgg+ setup sizes the noise shares. */
export interface RoundPrivacyPlan {
  mode: 'central' | 'distributed' | 'local';
  clip: number;
  noiseMultiplier: number;
  /** Distributed DP: the survivors the noise shares are sized for. */
  expectedSurvivors: number;
}

/** An attempt that stopped collecting: the closed, drained round, and why secure aggregation failed if it did. */
export interface RoundCollection {
  open: OpenRound;
  secureFailure?: string;
}

export interface RoundRunnerDeps {
  context: RunContext;
  registry: ClientRegistry;
  secure: SecureAggregation;
  log: Log;
  /** The attempt opened (before any client was asked). */
  onOpened(open: OpenRound): void;
  /** Something about the open attempt changed (a report, a drop, a rejection). */
  onChanged(open: OpenRound): void;
  /** round:start bytes in flight at once (default START_BUDGET_BYTES). */
  startBudgetBytes?: number;
}

/**
 * Runs the collection part of one attempt: round:start to each selected client (acked; refusal or
 * silence drops it), then either sealed updates arrive through the update intake until the round
 * closes, or the SecAgg+ stages run to their unmasked sum. Deciding on the result, applying it
 * and evaluating are the caller's: the run loop, or another driver (an edge aggregator).
 */
export class RoundRunner {
  private open: OpenRound | undefined;

  constructor(private readonly deps: RoundRunnerDeps) {}

  /** The attempt in progress (closed ones too, until the next one starts). */
  get current(): OpenRound | undefined {
    return this.open;
  }

  /** A selected client won't report; a secure round's stage is re-checked. */
  drop(clientId: string, why: string): void {
    const open = this.open;
    if (!open || !open.drop(clientId)) return;
    this.deps.log.debug('client dropped from round', { run: this.deps.context.runId, round: open.key.round, client: clientId, why });
  }

  async runRound(inputs: RoundInputs): Promise<RoundCollection> {
    const { context, secure, log } = this.deps;
    const { plan, weights, control, aggregate, signal, privacy } = inputs;
    const settings = context.settings;
    const startedAt = Date.now();
    const open = new OpenRound({
      key: plan.key,
      selected: plan.selected,
      ...(plan.leaves !== undefined ? { selectedLeaves: plan.leaves } : {}),
      target: plan.target,
      startedAt,
      deadline: Math.min(startedAt + settings.roundTimeoutMs, inputs.deadline ?? Infinity),
      sink: aggregate,
      autoClose: !settings.secureAggregation,
      onChange: () => {
        if (settings.secureAggregation) secure.poke();
        this.deps.onChanged(open);
      },
    });
    this.open = open;
    const onAbort = () => open.close(String(signal.reason ?? 'stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
    const closer = inputs.close;
    const onClose = () => open.close(String(closer?.reason ?? 'closed by the parent'));
    if (closer?.aborted) onClose();
    else closer?.addEventListener('abort', onClose, { once: true });
    this.deps.onOpened(open);
    try {
      // One pacer per attempt: sends still unacked from an earlier attempt don't hold this one's back.
      const pacer = new StartPacer(this.deps.startBudgetBytes ?? START_BUDGET_BYTES);
      for (const clientId of plan.selected) this.start(open, pacer, plan, clientId, { weights, ...(control ? { control } : {}) }, privacy);
      log.info('round started', { run: context.runId, round: plan.key.round, attempt: plan.key.attempt, selected: plan.selected.length, target: plan.target });
      let secureFailure: string | undefined;
      if (settings.secureAggregation) {
        secureFailure = await this.runSecure(open, aggregate, signal, privacy);
      } else {
        open.closeIfDone();
      }
      await open.closed;
      // Updates still being opened when the round closed finish (and are refused as stale), so none is half-counted.
      await open.drained();
      return { open, ...(secureFailure !== undefined ? { secureFailure } : {}) };
    } finally {
      signal.removeEventListener('abort', onAbort);
      closer?.removeEventListener('abort', onClose);
    }
  }

  /** Sends round:start; a client that refuses it, or does not ack in time, is dropped at once. */
  private start(open: OpenRound, pacer: StartPacer, plan: RoundPlan, clientId: string, tensors: { weights: Uint8Array; control?: Uint8Array }, privacy: RoundPrivacyPlan | undefined): void {
    const { registry, context } = this.deps;
    const local = privacy?.mode === 'local' ? { privacy: { mode: 'local' as const, clip: privacy.clip, noiseStd: privacy.noiseMultiplier * privacy.clip } } : {};
    // Two binary attachments at most (weights, control): socket.io allows 10 a packet.
    // Delegated selection: an edge is told its share of the leaf clients (an ordinary client is one).
    const share = registry.get(clientId)?.edge ? plan.shares?.get(clientId) : undefined;
    const msg: RoundStart = { runId: context.runId, round: plan.key.round, attempt: plan.key.attempt, deadline: open.deadline, config: plan.configFor(clientId), ...tensors, ...local, ...(share !== undefined ? { share } : {}) };
    if (!registry.get(clientId)) {
      open.drop(clientId);
      return;
    }
    const bytes = tensors.weights.length + (tensors.control?.length ?? 0);
    // Plain rounds are paced: the send (and its ack deadline) starts when the round:starts in front
    // of it are acked. Secure rounds are not: their SecAgg+ setup must follow every round:start.
    const send = (): Promise<unknown> => {
      // The round closed (target reached, deadline, abort) or the client left while this send waited: nothing to send.
      if (open.isClosed) return Promise.resolve();
      if (!registry.get(clientId)) {
        open.drop(clientId);
        return Promise.resolve();
      }
      open.bytesOut += bytes;
      return registry.request(clientId, EVENTS.roundStart, msg, START_ACK_TIMEOUT_MS).then(
        (reply) => {
          try {
            parseServerAck(EVENTS.roundStart, reply);
          } catch {
            this.dropFrom(open, clientId, 'refused round:start');
          }
        },
        () => this.dropFrom(open, clientId, 'no ack for round:start'),
      );
    };
    if (context.settings.secureAggregation) void send();
    else pacer.submit(bytes, send);
  }

  private dropFrom(open: OpenRound, clientId: string, why: string): void {
    if (this.open === open) this.drop(clientId, why);
    else open.drop(clientId);
  }

  /** The SecAgg+ stages; closes the round when they end. Returns the failure reason, if any. */
  private async runSecure(open: OpenRound, sink: WeightedSumSink, signal: AbortSignal, privacy: RoundPrivacyPlan | undefined): Promise<string | undefined> {
    const { registry, secure, context } = this.deps;
    const settings = context.settings;
    const participants = [...open.selected].map((id) => registry.get(id)).filter((x): x is ClientSession => x !== undefined);
    const outcome =
      participants.length < 2
        ? ({ ok: false, reason: `only ${participants.length} selected client(s) connected; secure aggregation needs 2` } as const)
        : await secure.run({
            runId: context.runId,
            round: roundKeyId(open.key),
            participants,
            vectorLength: context.model.numParams,
            sink,
            roundDeadline: open.deadline,
            stageTimeoutMs: settings.secaggStageTimeoutMs,
            clipRange: settings.secaggClipRange,
            ...(settings.secaggExpectedDropout !== undefined ? { expectedDropout: settings.secaggExpectedDropout } : {}),
            ...(privacy?.mode === 'distributed' ? { dp: { l2Clip: privacy.clip, noiseMultiplier: privacy.noiseMultiplier, expectedSurvivors: privacy.expectedSurvivors } } : {}),
            isDropped: (id) => open.isDropped(id) || !registry.get(id),
            signal,
          });
    if (outcome.ok) open.bytesIn += outcome.bytesIn;
    open.close(outcome.ok ? 'secure aggregation finished' : outcome.reason);
    return outcome.ok ? undefined : outcome.reason;
  }
}
