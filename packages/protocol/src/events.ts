import type { z } from 'zod';
import {
  type Ack,
  ChallengeReplySchema,
  ChallengeRequestSchema,
  EVENTS,
  EdgeSummarySchema,
  HelloReplySchema,
  HelloSchema,
  OkReplySchema,
  RoundEndSchema,
  RoundStartSchema,
  RunEndSchema,
  UpdateReplySchema,
  UpdateSchema,
  WireErrorSchema,
  WithdrawSchema,
  parseAck,
  parseMessage,
} from './messages.js';
import {
  SECAGG_EVENTS,
  SecAggAbortSchema,
  SecAggAdvertiseSchema,
  type SecAggClientMessage,
  SecAggKeysSchema,
  SecAggMaskedSchema,
  SecAggRoutedSharesSchema,
  SecAggSetupSchema,
  SecAggSharesSchema,
  SecAggUnmaskRequestSchema,
  SecAggUnmaskSchema,
} from './secagg.js';

/**
 * The federation protocol's contract, one row per socket.io event: the schema of its payload
 * and, for an event that is acked, the schema of its ack body (what rides beside `ok: true`).
 * Boundaries validate with these rows (`parse*Payload`, `parse*Ack`); the socket.io interfaces
 * `ClientToServerEvents` / `ServerToClientEvents` are derived from them, so the types and the
 * runtime checks can't drift apart. Event names and shapes are what travels on the wire today.
 */
export interface EventContract {
  readonly payload: z.ZodType;
  /** Absent for a broadcast, which nobody acks. */
  readonly ack?: z.ZodType;
}

/** Client -> coordinator. Every one is acked: `{ ok: true, ...ack }` or `{ ok: false, error }`. */
export const CLIENT_EVENTS = {
  [EVENTS.challenge]: { payload: ChallengeRequestSchema, ack: ChallengeReplySchema },
  [EVENTS.hello]: { payload: HelloSchema, ack: HelloReplySchema },
  [EVENTS.update]: { payload: UpdateSchema, ack: UpdateReplySchema },
  [EVENTS.withdraw]: { payload: WithdrawSchema, ack: OkReplySchema },
  [EVENTS.edgeSummary]: { payload: EdgeSummarySchema, ack: OkReplySchema },
  [SECAGG_EVENTS.advertise]: { payload: SecAggAdvertiseSchema, ack: OkReplySchema },
  [SECAGG_EVENTS.shares]: { payload: SecAggSharesSchema, ack: OkReplySchema },
  [SECAGG_EVENTS.masked]: { payload: SecAggMaskedSchema, ack: OkReplySchema },
  [SECAGG_EVENTS.unmask]: { payload: SecAggUnmaskSchema, ack: OkReplySchema },
} as const satisfies Record<string, Required<EventContract>>;

/** Coordinator -> client. Only `round:start` is acked (the client takes the round, or refuses it). */
export const SERVER_EVENTS = {
  [EVENTS.roundStart]: { payload: RoundStartSchema, ack: OkReplySchema },
  [EVENTS.roundEnd]: { payload: RoundEndSchema },
  [EVENTS.runEnd]: { payload: RunEndSchema },
  [EVENTS.error]: { payload: WireErrorSchema },
  [SECAGG_EVENTS.setup]: { payload: SecAggSetupSchema },
  [SECAGG_EVENTS.keys]: { payload: SecAggKeysSchema },
  [SECAGG_EVENTS.routedShares]: { payload: SecAggRoutedSharesSchema },
  [SECAGG_EVENTS.unmaskRequest]: { payload: SecAggUnmaskRequestSchema },
  [SECAGG_EVENTS.abort]: { payload: SecAggAbortSchema },
} as const satisfies Record<string, EventContract>;

/** The event each client stage of secure aggregation travels on. */
export const SECAGG_CLIENT_EVENTS = {
  advertise: SECAGG_EVENTS.advertise,
  shares: SECAGG_EVENTS.shares,
  masked: SECAGG_EVENTS.masked,
  unmask: SECAGG_EVENTS.unmask,
} as const satisfies Record<SecAggClientMessage['stage'], string>;

type ClientTable = typeof CLIENT_EVENTS;
type ServerTable = typeof SERVER_EVENTS;

export type ClientEventName = keyof ClientTable;
export type ServerEventName = keyof ServerTable;
/** Coordinator -> client events the client acks. */
export type AckedServerEventName = { [E in ServerEventName]: ServerTable[E] extends { ack: z.ZodType } ? E : never }[ServerEventName];

/** What a well-behaved client puts on the wire for `E` (small binaries may travel as base64 text). */
export type ClientPayload<E extends ClientEventName> = z.input<ClientTable[E]['payload']>;
/** What parsing `E`'s payload gives the coordinator. */
export type ClientMessage<E extends ClientEventName> = z.infer<ClientTable[E]['payload']>;
/** What parsing the ack of `E` gives the client (the body beside `ok: true`). */
export type ClientAckBody<E extends ClientEventName> = z.infer<ClientTable[E]['ack']>;
/** What a well-behaved coordinator puts on the wire for `E`. */
export type ServerPayload<E extends ServerEventName> = z.input<ServerTable[E]['payload']>;
/** What parsing `E`'s payload gives the client. */
export type ServerMessage<E extends ServerEventName> = z.infer<ServerTable[E]['payload']>;

/** An ack body schema's type on the wire; `{}` for an ack that carries nothing but `ok`. */
type AckBody<S extends z.ZodType> = z.input<S> extends Record<string, never> ? {} : z.input<S>;

type ListenerOf<C extends EventContract> = C extends { readonly ack: infer A extends z.ZodType }
  ? (payload: z.input<C['payload']>, ack: (reply: Ack<AckBody<A>>) => void) => void
  : (payload: z.input<C['payload']>) => void;

type ListenersOf<T extends Record<string, EventContract>> = { [E in keyof T]: ListenerOf<T[E]> };

/**
 * socket.io events the coordinator listens to: `Socket<ClientToServerEvents, ServerToClientEvents>`
 * on the coordinator (`import type { Socket } from 'socket.io'`). The payload types say what a
 * well-behaved client sends; what arrives is untrusted until parsed with `parseClientPayload`.
 */
export interface ClientToServerEvents extends ListenersOf<ClientTable> {}

/**
 * socket.io events a client listens to: `Socket<ServerToClientEvents, ClientToServerEvents>` in the
 * client (socket.io-client). Payloads are untrusted until parsed with `parseServerPayload`.
 */
export interface ServerToClientEvents extends ListenersOf<ServerTable> {}

/** Validates what a client sent with `event` (a `bad_request` FedlinkError if it is malformed). */
export function parseClientPayload<E extends ClientEventName>(event: E, raw: unknown): ClientMessage<E> {
  return parseMessage(CLIENT_EVENTS[event].payload, raw, event) as ClientMessage<E>;
}

/** Validates what the coordinator sent with `event`. */
export function parseServerPayload<E extends ServerEventName>(event: E, raw: unknown): ServerMessage<E> {
  return parseMessage(SERVER_EVENTS[event].payload, raw, event) as ServerMessage<E>;
}

/** Validates the coordinator's ack of a client's `event`: its body, or the FedlinkError it carries. */
export function parseClientAck<E extends ClientEventName>(event: E, reply: unknown): ClientAckBody<E> {
  return parseAck(CLIENT_EVENTS[event].ack, reply, event) as ClientAckBody<E>;
}

/** Validates a client's ack of the coordinator's `event` (e.g. round:start). */
export function parseServerAck<E extends AckedServerEventName>(event: E, reply: unknown): z.infer<ServerTable[E]['ack']> {
  return parseAck(SERVER_EVENTS[event].ack, reply, event) as z.infer<ServerTable[E]['ack']>;
}
