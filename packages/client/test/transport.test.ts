// FedlinkClient through its transport seam: a fake coordinator behind `connect`, no network.
import { FedlinkClient, type UploadInfo } from '@fedlink/client';
import { type Ack, EVENTS, type WireError } from '@fedlink/protocol';
import { RUN, coordinator, fixedTrainer, nextWelcome, roundStart } from './helpers/fake-coordinator.js';

const joined = nextWelcome;
const trainer = fixedTrainer();

test('joins, trains and uploads through the seam; acks are parsed with the contract', async () => {
  const coord = coordinator();
  const client = new FedlinkClient({ url: 'http://coordinator.test', trainer, platform: 'node', backend: 'test', connect: coord.connect, ackTimeoutMs: 1234 });
  const run = client.run();
  await joined(client);
  expect(coord.options()).toMatchObject({ transports: ['websocket'], ackTimeout: 1234 });
  expect(coord.socket().sent.map((s) => s.event)).toEqual([EVENTS.challenge, EVENTS.hello]);

  const uploaded = new Promise<UploadInfo>((resolve) => client.on('uploaded', resolve));
  const acks: Ack<object>[] = [];
  coord.socket().push(EVENTS.roundStart, roundStart(), (reply: Ack<object>) => acks.push(reply));
  expect((await uploaded).sealed).toBe(true);
  expect(acks).toEqual([{ ok: true }]);
  const update = coord.socket().sent.find((s) => s.event === EVENTS.update)!.payload as { round: number; numExamples: number };
  expect(update).toMatchObject({ runId: RUN, round: 1, numExamples: 5 });

  coord.socket().push(EVENTS.runEnd, { runId: RUN, status: 'finished', rounds: 1, metrics: {} });
  await expect(run).resolves.toMatchObject({ status: 'finished' });
  expect(coord.socket().connected).toBe(false);
});

test("a refused update surfaces as the coordinator's typed error; a stale one is not withdrawn", async () => {
  const coord = coordinator({ refuseUpdate: { code: 'stale', message: 'round 1 is closed' } });
  const client = new FedlinkClient({ url: 'http://coordinator.test', trainer, platform: 'node', backend: 'test', connect: coord.connect });
  const run = client.run();
  await joined(client);
  const rejected = new Promise<WireError>((resolve) => client.on('rejected', (_round, e) => resolve(e)));
  coord.socket().push(EVENTS.roundStart, roundStart(), () => undefined);
  expect(await rejected).toEqual({ code: 'stale', message: 'round 1 is closed' });
  expect(coord.socket().sent.map((s) => s.event)).not.toContain(EVENTS.withdraw);
  client.stop();
  await expect(run).resolves.toMatchObject({ status: 'stopped' });
});

test('an update refused for another reason is withdrawn from the attempt it was trained in, by number', async () => {
  const coord = coordinator({ refuseUpdate: { code: 'not_selected', message: 'client was not selected for round 2' } });
  const client = new FedlinkClient({ url: 'http://coordinator.test', trainer, platform: 'node', backend: 'test', connect: coord.connect });
  const run = client.run();
  await joined(client);
  const rejected = new Promise<WireError>((resolve) => client.on('rejected', (_round, e) => resolve(e)));
  coord.socket().push(EVENTS.roundStart, roundStart(2, 3), () => undefined);
  expect((await rejected).code).toBe('not_selected');
  while (!coord.socket().sent.some((s) => s.event === EVENTS.withdraw)) await new Promise((r) => setImmediate(r));
  // The attempt rides along: a later attempt of round 2 that selects this client is not left.
  expect(coord.socket().sent.find((s) => s.event === EVENTS.withdraw)!.payload).toEqual({ runId: RUN, round: 2, attempt: 3, reason: 'client was not selected for round 2' });
  client.stop();
  await expect(run).resolves.toMatchObject({ status: 'stopped' });
});

test('a round:start that is not valid is refused in the ack, and nothing is trained', async () => {
  const coord = coordinator();
  const client = new FedlinkClient({ url: 'http://coordinator.test', trainer, platform: 'node', backend: 'test', connect: coord.connect });
  const run = client.run();
  await joined(client);
  const acks: Ack<object>[] = [];
  coord.socket().push(EVENTS.roundStart, { ...roundStart(), attempt: 0 }, (reply: Ack<object>) => acks.push(reply));
  expect(acks).toMatchObject([{ ok: false, error: { code: 'bad_request' } }]);
  client.stop();
  await run;
  expect(coord.socket().sent.map((s) => s.event)).toEqual([EVENTS.challenge, EVENTS.hello]);
});
