// The contract table: every event has one row, and the acks the coordinator sends today parse.
import type { Socket as ServerSocket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  CLIENT_EVENTS,
  type ClientToServerEvents,
  EVENTS,
  FedlinkError,
  SECAGG_CLIENT_EVENTS,
  SECAGG_EVENTS,
  SERVER_EVENTS,
  type ServerToClientEvents,
  parseClientAck,
  parseClientPayload,
  parseServerAck,
  parseServerPayload,
  toBase64,
} from '@fedlink/protocol';

const key = (byte: number, n = 32) => toBase64(new Uint8Array(n).fill(byte));

test('every event of EVENTS and SECAGG_EVENTS has exactly one row, on its side', () => {
  const rows = [...Object.keys(CLIENT_EVENTS), ...Object.keys(SERVER_EVENTS)].sort();
  expect(rows).toEqual([...Object.values(EVENTS), ...Object.values(SECAGG_EVENTS)].sort());
  // Everything a client sends is acked; of the coordinator's events only round:start is.
  for (const row of Object.values(CLIENT_EVENTS)) expect(row.ack).toBeDefined();
  expect(Object.entries(SERVER_EVENTS).filter(([, row]) => 'ack' in row).map(([e]) => e)).toEqual([EVENTS.roundStart]);
  for (const event of Object.values(SECAGG_CLIENT_EVENTS)) expect(CLIENT_EVENTS).toHaveProperty([event]);
});

test("the coordinator's acks parse with their rows; `ok` rides alongside and is dropped", () => {
  expect(parseClientAck(EVENTS.challenge, { ok: true, nonce: key(7) })).toEqual({ nonce: key(7) });
  expect(parseClientAck(EVENTS.update, { ok: true, accepted: true })).toEqual({ accepted: true });
  expect(parseClientAck(EVENTS.withdraw, { ok: true })).toEqual({});
  for (const event of Object.values(SECAGG_CLIENT_EVENTS)) expect(parseClientAck(event, { ok: true })).toEqual({});
  expect(parseServerAck(EVENTS.roundStart, { ok: true })).toEqual({});
});

test('a refusal becomes the FedlinkError it carries; anything else is a bad_request', () => {
  const refusal = () => parseClientAck(EVENTS.update, { ok: false, error: { code: 'stale', message: 'round 3 is closed' } });
  expect(refusal).toThrow(FedlinkError);
  expect(refusal).toThrow('round 3 is closed');
  try {
    refusal();
  } catch (e) {
    expect((e as FedlinkError).code).toBe('stale');
  }
  expect(() => parseClientAck(EVENTS.update, { ok: false, error: { code: 'nope' } })).toThrow('malformed error reply to round:update');
  expect(() => parseClientAck(EVENTS.update, 'yes')).toThrow('malformed reply to round:update');
  expect(() => parseClientAck(EVENTS.update, { ok: true })).toThrow(/malformed reply to round:update: accepted/);
  expect(() => parseClientAck(EVENTS.challenge, { ok: true, nonce: 'short' })).toThrow(/nonce: must be 32 bytes/);
  expect(() => parseClientAck(EVENTS.hello, { ok: true, welcome: { protocol: 1 } })).toThrow(/welcome\./);
});

test('payloads are checked with their rows, and a message sent on the wrong event is refused', () => {
  const withdraw = { runId: 'run-1', round: 2, reason: 'training failed' };
  expect(parseClientPayload(EVENTS.withdraw, withdraw)).toEqual(withdraw);
  expect(() => parseClientPayload(EVENTS.withdraw, { ...withdraw, extra: 1 })).toThrow(/malformed round:withdraw/);
  // The attempt it leaves is optional (older clients send none) and, when sent, a whole number from 1.
  expect(parseClientPayload(EVENTS.withdraw, { ...withdraw, attempt: 3 })).toEqual({ ...withdraw, attempt: 3 });
  expect(() => parseClientPayload(EVENTS.withdraw, { ...withdraw, attempt: 0 })).toThrow(/malformed round:withdraw/);
  expect(() => parseClientPayload(EVENTS.withdraw, { ...withdraw, attempt: 1.5 })).toThrow(/malformed round:withdraw/);
  expect(parseClientPayload(EVENTS.challenge, {})).toEqual({});
  const error = { code: 'unauthorized', message: 'bad token' };
  expect(parseServerPayload(EVENTS.error, error)).toEqual(error);
  const abort = { stage: 'abort', runId: 'run-1', round: 2001, reason: 'too_few_shared', message: 'm' };
  expect(parseServerPayload(SECAGG_EVENTS.abort, abort)).toEqual(abort);
  expect(() => parseServerPayload(SECAGG_EVENTS.keys, abort)).toThrow(/malformed secagg:keys/);
});

test('the event maps type socket.io sockets on both sides', () => {
  // Compile-time checks: payloads and acks of the protocol's events are typed from the table.
  const server = (s: ServerSocket<ClientToServerEvents, ServerToClientEvents>) => {
    s.on(EVENTS.withdraw, (payload, ack) => {
      const round: number = payload.round;
      ack(round >= 0 ? { ok: true } : { ok: false, error: { code: 'bad_request', message: 'no' } });
    });
    s.on(EVENTS.hello, (hello, ack) => void (hello.platform === 'node' && ack({ ok: false, error: { code: 'unauthorized', message: 'no' } })));
    s.emit(EVENTS.runEnd, { runId: 'run-1', status: 'finished', rounds: 3, metrics: {} });
  };
  const client = (s: ClientSocket<ServerToClientEvents, ClientToServerEvents>) => {
    s.on(EVENTS.roundStart, (start, ack) => ack(start.attempt > 0 ? { ok: true } : { ok: false, error: { code: 'wrong_run', message: 'no' } }));
    s.on(SECAGG_EVENTS.abort, (abort) => void abort.reason);
    return s.emitWithAck(EVENTS.challenge, {});
  };
  expect([typeof server, typeof client]).toEqual(['function', 'function']);
});
