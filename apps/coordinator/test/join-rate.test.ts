import { FedlinkError, parseAck } from '@fedlink/protocol';
import { JoinRate } from '@fedlink/coordinator';
import { z } from 'zod';

const refusal = (f: () => void): FedlinkError | undefined => {
  try {
    f();
  } catch (e) {
    if (e instanceof FedlinkError) return e;
    throw e;
  }
  return undefined;
};

test('admits a burst of perSecond, then refuses with retry slots spread one interval apart', () => {
  let now = 1_000_000;
  const rate = new JoinRate(10, () => now);
  for (let i = 0; i < 10; i++) expect(refusal(() => rate.take())).toBeUndefined();
  const refused = Array.from({ length: 5 }, () => refusal(() => rate.take())!);
  expect(refused.map((e) => e.code)).toEqual(Array(5).fill('rate_limited'));
  expect(refused.map((e) => e.retryAfterMs)).toEqual([100, 200, 300, 400, 500]);
  // The first refused client comes back at its slot: the bucket has refilled one token by then.
  now += 100;
  expect(refusal(() => rate.take())).toBeUndefined();
  // A newcomer at the same moment is given a slot after the last one handed out.
  expect(refusal(() => rate.take())!.retryAfterMs).toBe(500);
  // After a quiet second the full burst is back.
  now += 2_000;
  for (let i = 0; i < 10; i++) expect(refusal(() => rate.take())).toBeUndefined();
  expect(refusal(() => rate.take())!.retryAfterMs).toBe(100);
  expect(() => new JoinRate(0)).toThrow(RangeError);
});

test('retryAfterMs travels in the wire error and back into a FedlinkError', () => {
  const e = new FedlinkError('rate_limited', 'slow down', { retryAfterMs: 250 });
  expect(e.toWire()).toEqual({ code: 'rate_limited', message: 'slow down', retryAfterMs: 250 });
  expect(new FedlinkError('stale', 'x').toWire()).toEqual({ code: 'stale', message: 'x' });
  const back = refusal(() => parseAck(z.object({}), { ok: false, error: e.toWire() }, 'hello'))!;
  expect([back.code, back.retryAfterMs]).toEqual(['rate_limited', 250]);
  // A hostile retry-after is no valid error reply.
  expect(refusal(() => parseAck(z.object({}), { ok: false, error: { code: 'rate_limited', message: 'x', retryAfterMs: -1 } }, 'hello'))!.code).toBe('bad_request');
  expect(refusal(() => parseAck(z.object({}), { ok: false, error: { code: 'rate_limited', message: 'x', retryAfterMs: 1e9 } }, 'hello'))!.code).toBe('bad_request');
});
