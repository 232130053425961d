import { deferredSharedKey, generateIdentity, seal, updateContext } from '@fedlink/crypto';
import { type ClientSession, DEFAULT_RUN, GlobalModel, OpenRound, RunContext, UpdateIntake, ensureEvalBackend } from '@fedlink/coordinator';
import { type Update, encodeTensors } from '@fedlink/protocol';
import { testVector } from '../helpers/fixed-trainer.js';

// A long run through the real update intake (AES-GCM open, decode, checks): the replay ledger
// holds the open round's envelope nonces only, so 2,000 accepted updates leave it at one round's.
test('2,000 accepted updates over 100 rounds: replay memory stays at one round, replays are still caught', async () => {
  await ensureEvalBackend();
  const clients = 20;
  const rounds = 100;
  const server = generateIdentity();
  const model = new GlobalModel('mlp', 1);
  const settings = { ...DEFAULT_RUN, model: 'mlp' as const, encoding: 'int8' as const };
  const context = new RunContext('run_replay', server, model, settings, 1 << 22);
  let accepted = 0;
  const intake = new UpdateIntake(context, () => accepted++);
  const sessions: ClientSession[] = await Promise.all(Array.from({ length: clients }, async (_, i) => {
    const id = generateIdentity();
    return {
      clientId: `client-${i}`,
      peer: { id: `peer-${i}`, address: '127.0.0.1', emit: () => undefined, request: async () => ({ ok: true }), disconnect: () => undefined },
      signPublicKey: id.signPublicKey,
      boxPublicKey: id.boxPublicKey,
      // The key the client seals with and the coordinator opens with (X25519 is symmetric).
      sharedKey: deferredSharedKey(server.boxPublicKey, id.boxSecretKey),
      numExamples: 10,
      platform: 'node',
      backend: 'test',
      joinedAt: 0,
      lastSeen: 0,
      roundsCompleted: 0,
    };
  }));
  const payloads = sessions.map((_, i) => encodeTensors(model.manifest, testVector(model.numParams, i + 1, 0.01), 'int8'));
  const memory: number[] = [];
  let lastOfPrevious: { session: ClientSession; update: Update } | undefined;
  try {
    for (let round = 1; round <= rounds; round++) {
      const sums = { count: 0, totalExamples: 0 };
      const open = new OpenRound({
        key: { round, attempt: 1 },
        selected: sessions.map((s) => s.clientId),
        target: clients,
        startedAt: Date.now(),
        deadline: Date.now() + 60_000,
        sink: { add: (_d, n) => { sums.count++; sums.totalExamples += n; }, get count() { return sums.count; }, get totalExamples() { return sums.totalExamples; } },
        autoClose: false,
      });
      const position = { completedRound: round - 1, open };
      let last: { session: ClientSession; update: Update } | undefined;
      for (const [i, session] of sessions.entries()) {
        const envelope = await seal(payloads[i]!, await session.sharedKey(), updateContext(context.runId, round, session.clientId));
        const update: Update = { runId: context.runId, round, numExamples: 10, metrics: { loss: 1 }, envelope };
        await intake.receive(session, update, position);
        last = { session, update };
      }
      // The same envelope again in the same round: a replay.
      await expect(intake.receive(last!.session, last!.update, position)).rejects.toMatchObject({ code: 'replay' });
      // An envelope of the previous round: stale (its nonce is no longer held, and need not be).
      if (lastOfPrevious) await expect(intake.receive(lastOfPrevious.session, lastOfPrevious.update, position)).rejects.toMatchObject({ code: 'stale' });
      memory.push(intake.replayMemory);
      expect(sums.count).toBe(clients);
      open.close('target reached');
      lastOfPrevious = last;
    }
  } finally {
    model.dispose();
  }
  expect(accepted).toBe(clients * rounds);
  expect(memory).toHaveLength(rounds);
  expect(memory.every((m) => m === clients)).toBe(true);
}, 120_000);
