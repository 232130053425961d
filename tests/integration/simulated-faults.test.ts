// The simulator's fault injection (apps/cli/src/simulate/faults.ts) wraps a FedlinkClient from
// outside, through its transport seam and its trainer. Here against an in-memory coordinator.
import type { FedlinkClient } from '@fedlink/client';
import { type Ack, EVENTS, SECAGG_EVENTS, roundKeyId } from '@fedlink/protocol';
import { type FaultPlan, type VanishPoint, faultyClient } from '@fedlink/cli';
import { RUN, coordinator, fixedTrainer, nextWelcome, roundStart } from '../../packages/client/test/helpers/fake-coordinator.js';

/** A plan that vanishes at `point` in round 1 and records every time it is asked. */
function planFor(point: VanishPoint): FaultPlan & { asked: [number, boolean][] } {
  const asked: [number, boolean][] = [];
  return {
    asked,
    vanishPoint(round, secure) {
      asked.push([round, secure]);
      return round === 1 ? point : undefined;
    },
  };
}

function start(point: VanishPoint, secureAggregation = false) {
  const coord = coordinator({ secureAggregation });
  const trainer = fixedTrainer();
  const plan = planFor(point);
  const client = faultyClient({ url: 'http://coordinator.test', trainer, platform: 'node', backend: 'test', connect: coord.connect }, plan);
  const rejected: string[] = [];
  client.on('rejected', (round, e) => rejected.push(`${round}: ${e.message}`));
  const run = client.run();
  return { coord, trainer, plan, client, run, rejected, events: () => coord.socket().sent.map((s) => s.event) };
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!what()) throw new Error('timed out');
};

/** Pushes a round:start and resolves with the client's ack. */
function pushStart(c: ReturnType<typeof start>, round: number): Promise<Ack<object>> {
  return new Promise((resolve) => c.coord.socket().push(EVENTS.roundStart, roundStart(round), resolve));
}

async function stop(client: FedlinkClient, run: Promise<unknown>) {
  client.stop();
  await run;
}

test('before-training: acks the round, never trains or sends for it, comes back 250 ms later', async () => {
  const c = start('before-training');
  await nextWelcome(c.client);
  const back = nextWelcome(c.client);
  expect(await pushStart(c, 1)).toEqual({ ok: true });
  expect(c.coord.socket().connected).toBe(false);
  await back;
  expect(c.trainer.fits).toBe(0);
  expect(c.events()).toEqual([EVENTS.challenge, EVENTS.hello, EVENTS.challenge, EVENTS.hello]);
  // The next round is a normal one; the plan was asked once per attempt.
  await pushStart(c, 2);
  await until(() => c.events().includes(EVENTS.update));
  expect(c.trainer.fits).toBe(1);
  expect(c.plan.asked).toEqual([
    [1, false],
    [2, false],
  ]);
  await stop(c.client, c.run);
});

test('after-training: trains, then vanishes instead of uploading', async () => {
  const c = start('after-training');
  await nextWelcome(c.client);
  const back = nextWelcome(c.client);
  await pushStart(c, 1);
  await back;
  expect(c.trainer.fits).toBe(1);
  expect(c.events()).not.toContain(EVENTS.update);
  expect(c.events()).not.toContain(EVENTS.withdraw);
  expect(c.plan.asked).toEqual([[1, false]]);
  await stop(c.client, c.run);
});

test('advertise: the setup never reaches the client; after coming back it trains but sends nothing for the attempt', async () => {
  const c = start('advertise', true);
  await nextWelcome(c.client);
  const back = nextWelcome(c.client);
  // Not a valid setup: had it reached the client, parsing it would have failed (a 'rejected' event).
  c.coord.socket().push(SECAGG_EVENTS.setup, { stage: 'setup', runId: RUN, round: roundKeyId({ round: 1, attempt: 1 }) });
  await back;
  expect(c.plan.asked).toEqual([[1, true]]);
  await pushStart(c, 1);
  await until(() => c.rejected.length > 0);
  expect(c.trainer.fits).toBe(1);
  expect(c.rejected).toEqual(['1: simulated dropout (advertise)']);
  // Neither the masked input nor a withdrawal goes out for the attempt it vanished from.
  expect(c.events()).toEqual([EVENTS.challenge, EVENTS.hello, EVENTS.challenge, EVENTS.hello]);
  expect(c.plan.asked).toHaveLength(1);
  await stop(c.client, c.run);
});
