// The client's secure-aggregation handlers against the real coordinator-side state machine, with
// every message packed for the wire and parsed at each boundary by the protocol's contract, as the
// client and the coordinator do: the crypto state machines must accept already-parsed messages.
import { ClientSecureAggregation } from '@fedlink/client';
import { type Identity, SecAggServerRound, clientIdOf, generateIdentity } from '@fedlink/crypto';
import {
  FedlinkError,
  SECAGG_EVENTS,
  type SecAggClientMessage,
  SecAggClientMessageSchema,
  type SecAggServerMessage,
  packSmallBinaries,
  parseMessage,
  parseServerPayload,
  roundKeyId,
} from '@fedlink/protocol';

type SecAggServerEvent = (typeof SECAGG_EVENTS)['setup' | 'keys' | 'routedShares' | 'unmaskRequest' | 'abort'];

const RUN = 'run-1';
const ID = roundKeyId({ round: 4, attempt: 2 });
const N = 4;
const LENGTH = 64;

interface Party {
  identity: Identity;
  clientId: string;
  secure: ClientSecureAggregation;
  delta: Float32Array;
  numExamples: number;
}

function setUp() {
  const sent: SecAggClientMessage[] = [];
  const parties: Party[] = Array.from({ length: N }, (_, i) => {
    const identity = generateIdentity();
    const delta = Float32Array.from({ length: LENGTH }, (_, j) => ((i * 31 + j * 7) % 19) / 100 - 0.09);
    const secure = new ClientSecureAggregation(identity, () => RUN, async (msg) => {
      // What reaches the coordinator: packed for the wire, then parsed by stage.
      sent.push(parseMessage(SecAggClientMessageSchema, packSmallBinaries(msg), 'secagg message'));
    });
    return { identity, clientId: clientIdOf(identity.signPublicKey), secure, delta, numExamples: 10 + i };
  });
  const server = new SecAggServerRound({
    runId: RUN,
    round: ID,
    participants: parties.map((p) => ({ clientId: p.clientId, signPublicKey: p.identity.signPublicKey, maxExamples: 100 })),
    vectorLength: LENGTH,
  });
  /** Delivers a coordinator message to a client as FedlinkClient does: packed, parsed with its row. */
  const deliver = (p: Party, event: SecAggServerEvent, msg: SecAggServerMessage) => p.secure.receive(parseServerPayload(event, packSmallBinaries(msg)));
  /** Hands what the clients sent to the coordinator's state machine, by stage. */
  const collect = async () => {
    for (const msg of sent.splice(0)) {
      switch (msg.stage) {
        case 'advertise':
          await server.receiveAdvertise(msg);
          break;
        case 'shares':
          await server.receiveShares(msg);
          break;
        case 'masked':
          await server.receiveMasked(msg);
          break;
        case 'unmask':
          await server.receiveUnmask(msg);
          break;
        default: {
          const _: never = msg;
          throw new Error(`unexpected ${String(_)}`);
        }
      }
    }
  };
  return { parties, server, sent, deliver, collect };
}

test('a whole round: the coordinator gets the weighted sum from messages parsed at both ends', async () => {
  const { parties, server, deliver, collect } = setUp();
  for (const p of parties) await deliver(p, SECAGG_EVENTS.setup, server.setup);
  await collect();
  const keys = server.closeAdvertise();
  for (const p of parties) await deliver(p, SECAGG_EVENTS.keys, keys.get(p.clientId)!);
  await collect();
  const routed = server.closeShares();
  for (const p of parties) await deliver(p, SECAGG_EVENTS.routedShares, routed.get(p.clientId)!);
  const bytes = await Promise.all(parties.map((p) => p.secure.submit(ID, p.delta, p.numExamples, Date.now() + 100)));
  expect(bytes).toEqual(parties.map(() => 4 * (LENGTH + 1)));
  await collect();
  const requests = server.closeMasked();
  for (const p of parties) await deliver(p, SECAGG_EVENTS.unmaskRequest, requests.get(p.clientId)!);
  await collect();
  const result = await server.unmask();

  expect(result.count).toBe(N);
  expect(result.totalExamples).toBe(parties.reduce((s, p) => s + p.numExamples, 0));
  for (let j = 0; j < LENGTH; j++) {
    const expected = parties.reduce((s, p) => s + p.numExamples * p.delta[j]!, 0);
    expect(Math.abs(result.weightedSum[j]! - expected)).toBeLessThan(1e-4);
  }
});

test('an abort makes the client leave the attempt: nothing more is masked or sent for it', async () => {
  const { parties, server, sent, deliver } = setUp();
  const p = parties[0]!;
  await deliver(p, SECAGG_EVENTS.setup, server.setup);
  expect(sent.map((m) => m.stage)).toEqual(['advertise']);
  await deliver(p, SECAGG_EVENTS.abort, { stage: 'abort', runId: RUN, round: ID, reason: 'too_few_advertised', message: 'only 1 advertised' });
  await expect(p.secure.submit(ID, p.delta, p.numExamples, Date.now() + 10_000)).rejects.toThrow(FedlinkError);
  // A late setup for the attempt it left is ignored.
  await deliver(p, SECAGG_EVENTS.setup, server.setup);
  expect(sent).toHaveLength(1);
});
