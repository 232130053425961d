import {
  type ClientSocket,
  type Connect,
  FedlinkClient,
  type FedlinkClientOptions,
  type FitHooks,
  type FitOutcome,
  type Trainer,
  connectSocketIo,
} from '@fedlink/client';
import { createRng } from '@fedlink/core';
import { withFit } from './with-fit.js';
import { type Ack, type ClientEventName, type ClientPayload, EVENTS, type RoundStart, SECAGG_EVENTS, type TrainConfig, roundKeyId, roundOfKeyId } from '@fedlink/protocol';

/**
 * Simulated dropouts (the simulator's `--dropout`): devices that go away mid-round (battery,
 * network, app killed) and come back. Applied from outside a real FedlinkClient, through its
 * transport seam (`connect`) and its trainer; the client itself knows nothing of it.
 */

/** Where a simulated client can vanish in an attempt at a round. */
export const VANISH_POINTS = ['before-training', 'after-training', 'advertise', 'shares', 'unmask'] as const;
export type VanishPoint = (typeof VANISH_POINTS)[number];

export interface FaultPlan {
  /** Called once per attempt the client is selected for; returns where it vanishes, if at all. */
  vanishPoint(round: number, secure: boolean): VanishPoint | undefined;
}

const PLAIN_POINTS: VanishPoint[] = ['before-training', 'after-training'];
const SECURE_POINTS: VanishPoint[] = ['before-training', 'advertise', 'shares', 'after-training', 'unmask'];

/**
 * The simulator's `--dropout p` for simulated client `client`: each attempt, with probability p,
 * the client vanishes at a point drawn uniformly (seeded: one draw per attempt, a second when it
 * vanishes), so the same seed drops the same clients at the same points.
 */
export function dropoutPlan(p: number, seed: number, client: number): FaultPlan {
  const rng = createRng(Math.imul(seed, 7919) + client * 104_729 + 17);
  return {
    vanishPoint(_round, secure) {
      if (rng.next() >= p) return undefined;
      const points = secure ? SECURE_POINTS : PLAIN_POINTS;
      return points[Math.floor(rng.next() * points.length)];
    },
  };
}

/** A device that vanished stays away this long, then reconnects (and rejoins with the same key). */
const AWAY_MS = 250;

/**
 * Secure-aggregation stages at which a device can vanish, by the coordinator's message that
 * starts them: it vanishes instead of handling that message (so it never sends the reply).
 */
const STAGE_POINTS: Partial<Record<string, VanishPoint>> = {
  [SECAGG_EVENTS.setup]: 'advertise',
  [SECAGG_EVENTS.keys]: 'shares',
  [SECAGG_EVENTS.unmaskRequest]: 'unmask',
};

/** Only the setup (or training) is an attempt's first point, where its plan is asked. */
const FIRST_POINTS: ReadonlySet<VanishPoint> = new Set(['before-training', 'advertise']);

/**
 * A FedlinkClient on a device that follows `plan`. Per attempt the client is selected for, the
 * plan is asked once, at the first of: the client starting to train (right after it acks
 * round:start), or handling the attempt's secagg:setup. At the chosen point the device
 * disconnects: before training (instead of training), after training (instead of uploading the
 * update or masked input), or instead of handling secagg:setup / keys / unmask-request (so it
 * sends no advertise / shares / unmask). It reconnects 250 ms later unless the client is done,
 * and sends nothing more for that attempt; the client has dropped its secure state for it (a
 * dropped connection does that).
 */
export function faultyClient(options: FedlinkClientOptions, plan: FaultPlan): FedlinkClient {
  const device: VanishingDevice = new VanishingDevice(plan, () => client.status === 'done' || client.status === 'error');
  const client: FedlinkClient = new FedlinkClient({ ...options, connect: device.connect(options.connect ?? connectSocketIo), trainer: device.trainer(options.trainer) });
  client.on('welcome', (w) => device.joined(w.secureAggregation));
  return client;
}

type Listener = (...args: never[]) => void;
type RoundStartListener = (raw: unknown, ack?: (reply: Ack<{}>) => void) => void;

/** The `round` field of a message (in secure-aggregation messages, the attempt's wire id). */
function roundField(message: unknown): number | undefined {
  const r = (message as { round?: unknown } | null)?.round;
  return typeof r === 'number' ? r : undefined;
}

/** Raised into the client where the device vanished before or after training. */
class Vanished extends Error {
  constructor(point: VanishPoint) {
    super(`simulated dropout (${point})`);
  }
}

/** The fault state of one simulated device, shared by its socket and trainer wrappers. */
class VanishingDevice {
  private socket: ClientSocket | undefined;
  private secure = false;
  /**
   * Whether the client has handled its welcome on this connection: until then it holds
   * secure-aggregation messages back, and so does the device.
   */
  private isJoined = false;
  private readonly afterJoin: (() => void)[] = [];
  /** Wire id of the attempt whose round:start the client accepted last: the one it trains next. */
  private accepted = -1;
  /** The plan's answer per attempt (wire id), asked once. */
  private readonly plans = new Map<number, VanishPoint | undefined>();
  /** Wire id of the attempt the device last vanished in. */
  private vanished = -1;

  constructor(
    private readonly plan: FaultPlan,
    private readonly isOver: () => boolean,
  ) {}

  /** The client handled a welcome (it emits the event as its join completes). */
  joined(secure: boolean): void {
    this.secure = secure;
    this.isJoined = true;
    // After the client's own held-back handlers, as its `joined` promise releases them.
    queueMicrotask(() => {
      for (const run of this.afterJoin.splice(0)) run();
    });
  }

  /**
   * Disconnects (and schedules the comeback) if the attempt's plan says `point`, once per attempt.
   * The plan is asked at the attempt's first point unless `mayAsk` is false (points that only
   * come after one that asked it).
   */
  private vanishesAt(id: number, point: VanishPoint, mayAsk = true): boolean {
    if (!this.plans.has(id)) {
      if (!mayAsk) return false;
      this.plans.set(id, this.plan.vanishPoint(roundOfKeyId(id), this.secure));
      for (const k of this.plans.keys()) if (roundOfKeyId(k) < roundOfKeyId(id) - 5) this.plans.delete(k);
    }
    if (this.plans.get(id) !== point || this.vanished === id) return false;
    this.vanished = id;
    const socket = this.socket;
    socket?.disconnect();
    setTimeout(() => !this.isOver() && socket?.connect(), AWAY_MS);
    return true;
  }

  /** The client's transport, watched (see `watch`). */
  connect(inner: Connect): Connect {
    return (url, options) => {
      const socket = inner(url, options);
      this.socket = socket;
      // Registered before the client's own listeners: a (re)connection starts a new join.
      socket.on('connect', () => (this.isJoined = false));
      return this.watch(socket);
    };
  }

  /**
   * The socket the client sees: round:start acks tell which attempt it trains next; the messages
   * that start a secure stage may make the device vanish instead of reaching the client; and a
   * device that vanished from an attempt sends no withdrawal for it.
   */
  private watch(socket: ClientSocket): ClientSocket {
    // The client's `on` overloads have checked each listener against its event; forwarding any
    // event to the inner socket needs its overloads seen as one signature.
    const forward = (socket.on as (event: string, listener: unknown) => unknown).bind(socket);
    const on = (event: string, listener: Listener): void => {
      const point = STAGE_POINTS[event];
      if (event === EVENTS.roundStart) forward(event, this.watchRoundStart(listener as unknown as RoundStartListener));
      else if (point) forward(event, (raw: unknown) => this.stage(point, raw, () => (listener as unknown as (raw: unknown) => void)(raw)));
      else forward(event, listener);
    };
    return {
      get connected() {
        return socket.connected;
      },
      get id() {
        return socket.id;
      },
      connect: () => socket.connect(),
      disconnect: () => socket.disconnect(),
      on,
      emitWithAck: (event, payload) => this.send(socket, event, payload),
    };
  }

  private watchRoundStart(client: RoundStartListener): RoundStartListener {
    return (raw, ack) =>
      client(
        raw,
        ack &&
          ((reply) => {
            // The client acks only a valid round:start, and starts training for it in the same tick.
            if (reply.ok) this.accepted = roundKeyId(raw as RoundStart);
            ack(reply);
          }),
      );
  }

  /** A message that starts a secure stage: handled by the client, unless the device vanishes there. */
  private stage(point: VanishPoint, raw: unknown, deliver: () => void): void {
    const id = roundField(raw);
    if (id === undefined) return deliver();
    const decide = () => {
      if (!this.vanishesAt(id, point, FIRST_POINTS.has(point))) deliver();
    };
    // When the client itself would handle it: once joined, a microtask after it arrives.
    if (this.isJoined) queueMicrotask(decide);
    else this.afterJoin.push(decide);
  }

  private async send(socket: ClientSocket, event: ClientEventName, payload: ClientPayload<ClientEventName>): Promise<unknown> {
    // A device that vanished from an attempt says nothing more about it.
    if (event === EVENTS.withdraw && this.accepted === this.vanished && roundField(payload) === roundOfKeyId(this.vanished)) return { ok: true };
    return socket.emitWithAck(event, payload);
  }

  /** The client's trainer, wrapped: the device may vanish before training, or after it. */
  trainer(inner: Trainer): Trainer {
    const device = this;
    return withFit(inner, async (global: Float32Array, config: TrainConfig, hooks?: FitHooks): Promise<FitOutcome> => {
      // The client trains only right after accepting a round:start, in the same tick.
      const id = device.accepted;
      if (id < 0) return inner.fit(global, config, hooks);
      if (device.vanishesAt(id, 'before-training')) throw new Vanished('before-training');
      const outcome = await inner.fit(global, config, hooks);
      // Vanished meanwhile (at a secure stage), or now: either way nothing goes out.
      if (device.vanished === id) throw new Vanished(device.plans.get(id) ?? 'after-training');
      if (device.vanishesAt(id, 'after-training', false)) throw new Vanished('after-training');
      return outcome;
    });
  }
}
