import { updateContext } from '@fedlink/crypto';
import { EVENTS, type ErrorCode, FedlinkError, type Update, asBytes, parseClientPayload, toHex } from '@fedlink/protocol';
import type { ClientSession } from '../federation/client-registry.js';
import type { RunContext } from '../federation/run-context.js';
import { type UpdateOpener, updateOpener } from './intake-pool.js';
import type { Contribution, OpenRound } from './open-round.js';
import { ReceiveBudget } from './receive-budget.js';
import { checkSpecOf } from './update-check.js';

/** Where the run stands when an update arrives. */
export interface IntakePosition {
  /** Last completed round. */
  completedRound: number;
  /** The attempt collecting updates (closed ones included, until the next starts). */
  open: OpenRound | undefined;
}

/** A parsed update on its way through the checks. */
interface Candidate {
  session: ClientSession;
  msg: Update;
  ciphertext: Uint8Array;
  nonce: string;
  position: IntakePosition;
}

/** One link of the chain: the error codes it can raise, and the check (throws FedlinkError). */
interface EnvelopeCheck {
  codes: readonly ErrorCode[];
  check(c: Candidate, intake: UpdateIntake): void;
}

const fail = (code: ErrorCode, message: string): never => {
  throw new FedlinkError(code, message);
};

/**
 * The checks an update passes before it is opened, in order: the cheapest first, and none of
 * them touches the aggregate. After them the update is decrypted, decoded against the model's
 * manifest (`decrypt_failed`, `shape_mismatch`) and checked for values (`non_finite`,
 * `norm_exceeded`) and for the round still being open (`stale`).
 */
export const ENVELOPE_CHECKS: readonly EnvelopeCheck[] = [
  {
    codes: ['bad_request'],
    check: (_c, i) => {
      if (i.context.settings.secureAggregation) fail('bad_request', 'this run uses secure aggregation: send masked input (secagg:masked), not a sealed update');
    },
  },
  {
    codes: ['payload_too_large'],
    check: ({ ciphertext }, i) => {
      if (ciphertext.length > i.context.maxUpdateBytes) fail('payload_too_large', `update is ${ciphertext.length} bytes, the limit for this model is ${i.context.maxUpdateBytes}`);
    },
  },
  {
    codes: ['wrong_run'],
    check: ({ msg }, i) => {
      if (msg.runId !== i.context.runId) fail('wrong_run', `update for run ${msg.runId}, this run is ${i.context.runId}`);
    },
  },
  {
    codes: ['stale', 'wrong_round'],
    check: ({ msg, position: { completedRound, open } }) => {
      if (msg.round <= completedRound || (open && open.key.round === msg.round && open.isClosed)) fail('stale', `round ${msg.round} is closed; late update discarded`);
      if (!open || msg.round !== open.key.round) fail('wrong_round', `round ${msg.round} is not open (current: ${open?.key.round ?? 'none'})`);
    },
  },
  {
    codes: ['not_selected'],
    check: ({ msg, session, position }) => {
      if (!position.open!.selected.has(session.clientId)) fail('not_selected', `client was not selected for round ${msg.round}`);
    },
  },
  {
    codes: ['replay'],
    check: ({ nonce, msg }, i) => i.rememberNonce(msg.round, nonce),
  },
  {
    codes: ['duplicate'],
    check: ({ msg, session, position }) => {
      if (position.open!.hasAnswered(session.clientId)) fail('duplicate', `client already sent an update for round ${msg.round}`);
    },
  },
  {
    codes: ['bad_request'],
    check: ({ msg, session }) => {
      if (msg.contributors !== undefined && !session.edge) fail('bad_request', 'only an edge aggregator (hello role edge) may send an update of several contributors');
      if (msg.metrics.loss === undefined && !session.edge) fail('bad_request', 'update metrics need a loss (only an edge whose group reported none may leave it out)');
      // An edge's clients come and go: its example total is the sum of this round's, not what it held at hello.
      if (!session.edge && msg.numExamples > session.numExamples) fail('bad_request', `update claims ${msg.numExamples} examples, the client declared ${session.numExamples} in hello`);
    },
  },
];

/** How the intake opens updates. */
export interface UpdateIntakeOptions {
  /** Worker threads that open and check updates (intake-pool.ts); 0 (the default): on the event loop. */
  workers?: number;
  /** Ciphertext bytes in the pool at once (default INTAKE_BUDGET_BYTES). */
  budgetBytes?: number;
  /** Another opener instead (tests); `workers` and `budgetBytes` are then ignored. */
  opener?: UpdateOpener;
  /** Counts the updates held from arrival to their end (receive-budget.ts); default: a budget of its own, RECEIVE_BUDGET_BYTES. */
  receiveBudget?: ReceiveBudget;
}

/**
 * Update intake for plain (sealed) rounds: parses a `round:update`, runs the validation chain,
 * opens the envelope and hands the checked delta to the open round. A refused update never
 * touches the aggregate; each refusal is a FedlinkError with its own code.
 *
 * Opening and checking may run on worker threads (`workers`), several updates at once; what
 * they produce is applied to the round strictly in the order the updates arrived (passed the
 * envelope checks), accepted or refused, so the aggregate's float additions happen in the same
 * order as on the event loop: a pooled round's sum is bit for bit the in-thread one's, and the
 * first `target` updates to arrive that pass are the ones that count, for every strategy.
 */
export class UpdateIntake {
  /**
   * Envelope nonces of the one round number that is open (across its attempts). Updates of
   * earlier rounds are refused as stale before this check, and the envelope's associated data
   * binds run, round and client, so older nonces can't be replayed anywhere: memory stays at
   * one round's updates however long the run.
   */
  private nonces: { round: number; seen: Set<string> } = { round: -1, seen: new Set() };
  /**
   * Sealed plaintext updates opened so far. In secure-aggregation mode this stays 0: the
   * coordinator never decrypts an individual update (tests check it).
   */
  plaintextUpdatesOpened = 0;

  /** Opens and checks updates: on the event loop or in a worker pool. */
  readonly opener: UpdateOpener;
  /** The bytes of the updates between their arrival and their end (what backpressure bounds). */
  readonly receiveBudget: ReceiveBudget;
  /** Settles when the last update to arrive has been applied (accepted or refused): the next one waits for it. */
  private applied: Promise<void> = Promise.resolve();

  constructor(
    readonly context: RunContext,
    /** Told of each accepted update before the round may close on its account. */
    private readonly onAccepted: (update: Contribution & { round: number; attempt: number }) => void,
    options: UpdateIntakeOptions = {},
  ) {
    this.receiveBudget = options.receiveBudget ?? new ReceiveBudget();
    this.opener = options.opener ?? updateOpener(checkSpecOf(context), { workers: options.workers ?? 0, maxCiphertextBytes: context.maxUpdateBytes, budgetBytes: options.budgetBytes });
  }

  /** Starts the intake's worker threads, if any, and settles when they take updates (UpdateOpener.warm). */
  warm(): Promise<void> {
    return this.opener.warm();
  }

  /** Ends the intake's worker threads, if any. */
  close(): Promise<void> {
    return this.opener.close();
  }

  /** Records an envelope nonce of `round`; a second sighting is a replay. A new round number drops the old round's nonces. */
  rememberNonce(round: number, nonce: string): void {
    if (round !== this.nonces.round) this.nonces = { round, seen: new Set() };
    if (this.nonces.seen.has(nonce)) fail('replay', 'this envelope was already received');
    this.nonces.seen.add(nonce);
  }

  /** Nonces held for replay detection (those of the open round). */
  get replayMemory(): number {
    return this.nonces.seen.size;
  }

  /** Checks and adds one update; throws a FedlinkError when it is refused. */
  async receive(session: ClientSession, raw: unknown, position: IntakePosition): Promise<void> {
    const msg: Update = parseClientPayload(EVENTS.update, raw);
    const candidate: Candidate = {
      session,
      msg,
      ciphertext: asBytes(msg.envelope.ciphertext)!,
      nonce: toHex(asBytes(msg.envelope.nonce)!),
      position,
    };
    for (const link of ENVELOPE_CHECKS) link.check(candidate, this);
    const open = position.open!;
    open.beginIntake(session.clientId);
    // This update's turn: after every update that arrived before it was applied.
    const before = this.applied;
    let done!: () => void;
    this.applied = new Promise((r) => (done = r));
    // Held whole until it is added or refused (the socket's buffer: the pool copies it once).
    const release = this.receiveBudget.hold(candidate.ciphertext.byteLength);
    try {
      this.plaintextUpdatesOpened++;
      const opened = session
        .sharedKey()
        .then((sharedKey) => this.opener.open({ nonce: asBytes(msg.envelope.nonce)!, ciphertext: candidate.ciphertext, sharedKey, associatedData: updateContext(this.context.runId, msg.round, session.clientId) }))
        .then((update) => ({ update }), (error: unknown) => ({ error }));
      const outcome = await opened;
      await before;
      if ('error' in outcome) throw outcome.error;
      try {
        if (open.isClosed) fail('stale', `round ${msg.round} closed while the update was being checked`);
        // The sink adds the delta now and keeps none of it (a pooled delta's memory is reused after release).
        const contribution = this.contributionOf(candidate, outcome.update.delta);
        open.accept(contribution);
        this.onAccepted({ ...contribution, delta: [], round: msg.round, attempt: open.key.attempt });
      } finally {
        outcome.update.release();
      }
    } finally {
      done();
      release();
      open.endIntake(session.clientId);
    }
  }

  private contributionOf({ session, msg, ciphertext }: Candidate, delta: Float32Array): Contribution {
    return {
      clientId: session.clientId,
      delta,
      numExamples: msg.numExamples,
      ...(msg.metrics.loss !== undefined ? { loss: msg.metrics.loss } : {}),
      ...(msg.metrics.accuracy !== undefined ? { accuracy: msg.metrics.accuracy } : {}),
      ...(msg.metrics.evalExamples !== undefined && msg.metrics.evalLoss !== undefined && (msg.metrics.evalAccuracy !== undefined || msg.metrics.evalRmse !== undefined)
        ? {
            evaluation: {
              loss: msg.metrics.evalLoss,
              examples: msg.metrics.evalExamples,
              ...(msg.metrics.evalAccuracy !== undefined ? { accuracy: msg.metrics.evalAccuracy } : {}),
              ...(msg.metrics.evalRmse !== undefined && msg.metrics.evalMae !== undefined ? { mae: msg.metrics.evalMae, rmse: msg.metrics.evalRmse } : {}),
            },
          }
        : {}),
      bytes: ciphertext.length,
      ...(msg.contributors !== undefined ? { contributors: msg.contributors } : {}),
    };
  }
}
