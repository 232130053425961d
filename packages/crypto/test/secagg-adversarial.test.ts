import {
  combineShares,
  quantizeWeightedUpdate,
  type ShamirShare as Share,
  SecAggClientRound,
  SecAggServerRound,
  weightedSumErrorBound,
  type SecAggClientOptions,
} from '@fedlink/crypto';
import type { SecAggMasked, SecAggRoutedShares, SecAggShares, SecAggUnmask, SecAggUnmaskRequest } from '@fedlink/protocol';
// A malicious client signs content of its choosing: it needs the transcript encoding (internal).
import { bind, resolveParams } from '../src/secagg/params.js';
import { sign } from '../src/signature.js';
import { identities, makeSim, maxAbsDiff, plainWeightedSum, runSim, type Sim } from './secagg-sim.js';

/** Runs a round stage by stage, keeping every message so tests can tamper with or replay them. */
async function toMasked(sim: Sim): Promise<{ routed: Map<string, SecAggRoutedShares>; shares: SecAggShares[] }> {
  const { server, clients } = sim;
  for (const c of clients) await server.receiveAdvertise(await c.advertise());
  const keys = server.closeAdvertise();
  const shares: SecAggShares[] = [];
  for (const c of clients) {
    const m = await c.shareKeys(keys.get(c.clientId));
    shares.push(m);
    await server.receiveShares(m);
  }
  return { routed: server.closeShares(), shares };
}

async function maskedAll(sim: Sim, routed: Map<string, SecAggRoutedShares>): Promise<SecAggMasked[]> {
  return Promise.all(sim.clients.map((c, i) => c.maskInput(routed.get(c.clientId), sim.inputs[i]!)));
}

async function finish(sim: Sim, masked: SecAggMasked[]): Promise<Map<string, SecAggUnmaskRequest>> {
  for (const m of masked) if (sim.server.expected().includes(m.sender)) await sim.server.receiveMasked(m);
  return sim.server.closeMasked();
}

function flipByte<T extends Uint8Array>(b: T, at = 0): Uint8Array {
  const c = b.slice();
  c[at]! ^= 0x01;
  return c;
}

const code = async (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: { code?: string }) => e.code ?? String(e),
  );

describe('SecAgg+ refuses tampered and replayed messages', () => {
  it('masked input: a flipped bit is refused, the genuine message still counts, a second copy is a replay', async () => {
    const sim = makeSim({ n: 5, vectorLength: 300 });
    const { routed } = await toMasked(sim);
    const masked = await maskedAll(sim, routed);
    const m0 = masked[0]!;
    expect(await code(sim.server.receiveMasked({ ...m0, masked: flipByte(m0.masked, 123) }))).toBe('secagg_failed');
    expect(await code(sim.server.receiveMasked({ ...m0, sender: sim.ids[1]! }))).toBe('secagg_failed');
    expect(await code(sim.server.receiveMasked({ ...m0, masked: m0.masked.subarray(4) }))).toBe('secagg_failed');
    // Two copies racing: exactly one is accepted.
    const race = await Promise.all([code(sim.server.receiveMasked(m0)), code(sim.server.receiveMasked(m0))]);
    expect(race.sort()).toEqual(['accepted', 'replay']);
    expect(await code(sim.server.receiveMasked(m0))).toBe('replay');
    for (const m of masked.slice(1)) await sim.server.receiveMasked(m);
    const req = sim.server.closeMasked();
    for (const c of sim.clients) await sim.server.receiveUnmask(await c.unmask(req.get(c.clientId)));
    const result = await sim.server.unmask();
    const plain = plainWeightedSum(sim, sim.ids);
    expect(result.totalExamples).toBe(plain.totalExamples);
    expect(maxAbsDiff(result.weightedSum, plain.sum)).toBeLessThanOrEqual(weightedSumErrorBound(sim.server.params.scale, 5));
  });

  it('masked input from round 1 is refused in round 2, as is, relabelled, or sent to the wrong stage', async () => {
    const ids = identities(5);
    const r1 = makeSim({ n: 5, vectorLength: 100, round: 1, identities: ids });
    const r2 = makeSim({ n: 5, vectorLength: 100, round: 2, identities: ids });
    const old = (await maskedAll(r1, (await toMasked(r1)).routed))[0]!;
    await toMasked(r2);
    expect(await code(r2.server.receiveMasked(old))).toBe('replay');
    expect(await code(r2.server.receiveMasked({ ...old, round: 2 }))).toBe('secagg_failed'); // signature binds the round
    expect(await code(r2.server.receiveMasked({ ...old, runId: 'other-run' }))).toBe('replay');
    expect(await code(r2.server.receiveShares(old))).toBe('bad_request'); // stage is part of the schema
    expect(await code(r2.server.receiveUnmask({ ...old, stage: 'unmask' }))).toBe('bad_request');
  });

  it('advertise: replays, a swapped key, late arrivals and strangers are refused', async () => {
    const sim = makeSim({ n: 5, vectorLength: 10 });
    const [a, b] = sim.clients;
    const adv = await a!.advertise();
    expect(await code(sim.server.receiveAdvertise({ ...adv, maskPublicKey: flipByte(adv.maskPublicKey) }))).toBe('secagg_failed');
    expect(await code(sim.server.receiveAdvertise(adv))).toBe('accepted');
    expect(await code(sim.server.receiveAdvertise(adv))).toBe('replay');
    expect(await code(sim.server.receiveAdvertise({ ...adv, sender: 'f'.repeat(16) }))).toBe('secagg_failed');
    const late = await b!.advertise();
    for (const c of sim.clients.slice(2)) await sim.server.receiveAdvertise(await c.advertise());
    sim.server.closeAdvertise();
    expect(await code(sim.server.receiveAdvertise(late))).toBe('secagg_failed'); // stage closed
  });

  it('shares: a tampered share is refused by the coordinator (signature) and by the recipient (AEAD)', async () => {
    const sim = makeSim({ n: 5, vectorLength: 10 });
    const { server, clients } = sim;
    for (const c of clients) await server.receiveAdvertise(await c.advertise());
    const keys = server.closeAdvertise();
    const first = await clients[0]!.shareKeys(keys.get(clients[0]!.clientId));
    const bad = { ...first, shares: first.shares.map((s, i) => (i === 0 ? { ...s, ciphertext: flipByte(s.ciphertext, 5) } : s)) };
    expect(await code(server.receiveShares(bad))).toBe('secagg_failed');
    expect(await code(server.receiveShares({ ...first, shares: first.shares.slice(1) }))).toBe('secagg_failed'); // must cover all neighbours
    expect(await code(server.receiveShares(first))).toBe('accepted');
    expect(await code(server.receiveShares(first))).toBe('replay');
    for (const c of clients.slice(1)) await server.receiveShares(await c.shareKeys(keys.get(c.clientId)));
    const routed = server.closeShares();

    // A coordinator (or network) that alters a routed share: the recipient's AEAD check fails and it drops out.
    const victim = clients[1]!;
    const r = routed.get(victim.clientId)!;
    const altered = { ...r, shares: r.shares.map((s, i) => (i === 0 ? { ...s, ciphertext: flipByte(s.ciphertext, 7) } : s)) };
    expect(await code(victim.maskInput(altered, sim.inputs[1]!))).toBe('secagg_failed');
    expect(await code(victim.maskInput(r, sim.inputs[1]!))).toBe('secagg_failed'); // it has left the round
    // A share relabelled as coming from another neighbour fails too (the AEAD binds sender and recipient).
    const other = clients[2]!;
    const r2 = routed.get(other.clientId)!;
    const swapped = { ...r2, shares: r2.shares.map((s, i) => (i === 0 ? { ...s, peer: r2.shares[1]!.peer } : i === 1 ? { ...s, peer: r2.shares[0]!.peer } : s)) };
    expect(await code(other.maskInput(swapped, sim.inputs[2]!))).toBe('secagg_failed');
  });

  it('a coordinator that swaps a neighbour\'s keys for its own is caught by the client', async () => {
    const sim = makeSim({ n: 5, vectorLength: 10 });
    for (const c of sim.clients) await sim.server.receiveAdvertise(await c.advertise());
    const keys = sim.server.closeAdvertise();
    const mine = keys.get(sim.ids[0]!)!;
    const forged = { ...mine, keys: mine.keys.map((k, i) => (i === 0 ? { ...k, maskPublicKey: mine.keys[1]!.maskPublicKey } : k)) };
    expect(await code(sim.clients[0]!.shareKeys(forged))).toBe('secagg_failed');
  });

  it('a coordinator that shows clients different setups is caught: their signatures do not verify for each other', async () => {
    const ids = identities(5);
    const honest = makeSim({ n: 5, vectorLength: 10, identities: ids });
    const forked = new SecAggServerRound({ ...honest.server.setup, participants: honest.server.setup.participants, threshold: 5 });
    const fooled = new SecAggClientRound(ids[0]!, forked.setup);
    expect(await code(honest.server.receiveAdvertise(await fooled.advertise()))).toBe('secagg_failed');
  });

  it('unmask: replays and answers that do not match the request are refused; the client refuses inconsistent requests', async () => {
    const sim = makeSim({ n: 5, vectorLength: 10 });
    const { routed } = await toMasked(sim);
    const masked = await maskedAll(sim, routed);
    for (const m of masked.slice(0, 4)) await sim.server.receiveMasked(m); // client 4 drops
    const req = sim.server.closeMasked();
    const c0 = sim.clients[0]!;
    const r0 = req.get(c0.clientId)!;
    // The request must split exactly our neighbours into survivors and dropped.
    expect(await code(c0.unmask({ ...r0, dropped: [...r0.dropped, r0.survivors[0]!] }))).toBe('secagg_failed');
    expect(await code(c0.unmask({ ...r0, survivors: [...r0.survivors, 'f'.repeat(16)] }))).toBe('secagg_failed');

    const c1 = sim.clients[1]!;
    const u1: SecAggUnmask = await c1.unmask(req.get(c1.clientId));
    expect(await code(sim.server.receiveUnmask({ ...u1, maskKeyShares: [] }))).toBe('secagg_failed');
    const swapped = { ...u1, selfMaskShares: u1.selfMaskShares.map((s, i) => (i === 0 ? { ...s, share: flipByte(s.share, 60) } : s)) };
    expect(await code(sim.server.receiveUnmask(swapped))).toBe('secagg_failed');
    expect(await code(sim.server.receiveUnmask(u1))).toBe('accepted');
    expect(await code(sim.server.receiveUnmask(u1))).toBe('replay');
  });

  it('a coordinator that lies about who dropped cannot collect both secrets of one client (majority t)', async () => {
    const sim = makeSim({ n: 5, vectorLength: 10 }); // complete graph: 5 holders per client, t = 3
    const { routed } = await toMasked(sim);
    await maskedAll(sim, routed); // everyone sent masked input, client 4 included
    const target = sim.ids[4]!;
    const selfMask: Share[] = [];
    const maskKey: Share[] = [];
    for (const [i, c] of sim.clients.entries()) {
      const others = sim.ids.filter((id) => id !== c.clientId);
      const lie = i < 2; // clients 0 and 1 are told the target dropped, the others that it survived
      const u = await c.unmask({
        stage: 'unmask-request',
        runId: 'run-1',
        round: 1,
        recipient: c.clientId,
        survivors: lie ? others.filter((id) => id !== target) : others,
        dropped: lie ? [target] : [],
      });
      const x = sim.server.params.xOf.get(c.clientId)!;
      for (const s of u.selfMaskShares) if (s.owner === target) selfMask.push({ x, y: s.share });
      for (const s of u.maskKeyShares) if (s.owner === target) maskKey.push({ x, y: s.share });
    }
    // Each holder revealed one kind of share for the target, never both: 3 + 2 = 5 holders.
    expect([selfMask.length, maskKey.length]).toEqual([3, 2]);
    expect(() => combineShares(maskKey, 3)).toThrow(expect.objectContaining({ code: 'secagg_failed' }));
  });

  it('a malicious holder that signs a bad share cannot sink the round while more than t shares are available', async () => {
    const sim = makeSim({ n: 6, vectorLength: 200, threshold: 4 });
    const { routed } = await toMasked(sim);
    const req = await finish(sim, await maskedAll(sim, routed));
    const p = resolveParams(sim.server.setup);
    for (const [i, c] of sim.clients.entries()) {
      let msg = await c.unmask(req.get(c.clientId));
      if (i === 0) {
        // Client 0 corrupts its share of client 1's self-mask seed and signs the result properly.
        const selfMaskShares = msg.selfMaskShares.map((s) => (s.owner === sim.ids[1] ? { ...s, share: flipByte(s.share, 65) } : s));
        const signature = await sign(bind.unmask(p, msg.sender, selfMaskShares, msg.maskKeyShares), sim.identities[0]!.signSecretKey);
        msg = { ...msg, selfMaskShares, signature };
      }
      await sim.server.receiveUnmask(msg);
    }
    const result = await sim.server.unmask();
    const plain = plainWeightedSum(sim, sim.ids);
    expect(maxAbsDiff(result.weightedSum, plain.sum)).toBeLessThanOrEqual(weightedSumErrorBound(p.scale, 6));
  });

  it('with exactly t shares, a bad one is detected against the public commitment and the round aborts', async () => {
    const sim = makeSim({ n: 6, vectorLength: 20, threshold: 4 });
    const { routed } = await toMasked(sim);
    const req = await finish(sim, await maskedAll(sim, routed));
    for (const [i, c] of sim.clients.slice(0, 4).entries()) {
      let msg = await c.unmask(req.get(c.clientId));
      if (i === 0) {
        const selfMaskShares = msg.selfMaskShares.map((s) => (s.owner === sim.ids[1] ? { ...s, share: flipByte(s.share, 65) } : s));
        const signature = await sign(bind.unmask(resolveParams(sim.server.setup), msg.sender, selfMaskShares, msg.maskKeyShares), sim.identities[0]!.signSecretKey);
        msg = { ...msg, selfMaskShares, signature };
      }
      await sim.server.receiveUnmask(msg);
    }
    await expect(sim.server.unmask()).rejects.toMatchObject({ code: 'secagg_failed', reason: 'reconstruction_failed' });
  });

  it('clients refuse setups for another round, with a forged roster, or with a minority threshold', () => {
    const ids = identities(5);
    const sim = makeSim({ n: 5, vectorLength: 10, identities: ids });
    const setup = sim.server.setup;
    const make = (s: unknown, o: SecAggClientOptions = {}) => () => new SecAggClientRound(ids[0]!, s, o);
    expect(make(setup, { runId: 'run-1', round: 2 })).toThrow(expect.objectContaining({ code: 'replay' }));
    const forgedRoster = { ...setup, participants: setup.participants.map((p, i) => (i === 1 ? { ...p, signPublicKey: ids[2]!.signPublicKey } : p)) };
    expect(make(forgedRoster)).toThrow(expect.objectContaining({ code: 'secagg_failed' }));
    expect(make({ ...setup, threshold: 3 })).not.toThrow(); // 3 of 5 holders: a majority
    expect(make({ ...setup, threshold: 2 })).toThrow(expect.objectContaining({ code: 'secagg_failed' }));
    expect(make({ ...setup, threshold: 2 }, { minThresholdRatio: 0.3 })).not.toThrow();
    expect(make({ ...setup, participants: setup.participants.slice(1) })).toThrow(expect.objectContaining({ code: 'secagg_failed' }));
    expect(make({ ...setup, graphSeed: [1, 2, 3] })).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });
});

describe('SecAgg+ hides individual updates', () => {
  const L = 20_000;

  function stats(a: Uint32Array, b: Uint32Array): { equal: number; r: number; meanA: number } {
    let equal = 0;
    let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) equal++;
      const x = a[i]! / 2 ** 32, y = b[i]! / 2 ** 32;
      sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
    }
    const n = a.length;
    const cov = sab / n - (sa / n) * (sb / n);
    const r = cov / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
    return { equal, r, meanA: sa / n };
  }

  it('two clients with identical updates send unrelated, uniform-looking vectors that differ from the plaintext', async () => {
    const delta = new Float32Array(L).map((_, i) => Math.sin(i) * 0.3);
    const sim = makeSim({ n: 5, vectorLength: L, input: () => ({ delta, numExamples: 10 }) });
    const { routed } = await toMasked(sim);
    const masked = await maskedAll(sim, routed);
    const words = masked.map((m) => new Uint32Array(m.masked.slice().buffer));
    const s = stats(words[0]!, words[1]!);
    expect(s.equal).toBeLessThanOrEqual(2); // chance level: L / 2^32 ~ 0
    expect(Math.abs(s.r)).toBeLessThan(0.05); // ~7 standard errors at L = 20,000
    expect(Math.abs(s.meanA - 0.5)).toBeLessThan(0.01);

    const plain = new Uint32Array(L + 1);
    await quantizeWeightedUpdate(delta, 10, sim.server.params.clipRange, sim.server.params.scale, plain);
    const p = stats(words[0]!, plain);
    expect(p.equal).toBeLessThanOrEqual(2);
    expect(Math.abs(p.r)).toBeLessThan(0.05);
    // ...yet together they still sum to the right thing.
    const req = await finish(sim, masked);
    for (const c of sim.clients) await sim.server.receiveUnmask(await c.unmask(req.get(c.clientId)));
    const result = await sim.server.unmask();
    expect(maxAbsDiff(result.weightedSum, plainWeightedSum(sim, sim.ids).sum)).toBeLessThanOrEqual(weightedSumErrorBound(sim.server.params.scale, 5));
  });

  it('the coordinator has no way to take a plaintext update: its API is closed and only sees masked words', async () => {
    expect(Object.getOwnPropertyNames(SecAggServerRound.prototype).sort()).toEqual(
      [
        'abort',
        'abortMessage',
        'accept',
        'canClose',
        'closeAdvertise',
        'closeMasked',
        'closeShares',
        'constructor',
        'expected',
        'fail',
        'isComplete',
        'liveNeighbours',
        'markAborted',
        'maskedShortfall',
        'prune',
        'receiveAdvertise',
        'receiveMasked',
        'receiveShares',
        'receiveUnmask',
        'reconstruct',
        'requireStage',
        'stage',
        'unmask',
        'unmaskShortfall',
      ].sort(),
    );
    // The setup it broadcasts carries no model data, and what clients send it is masked.
    const sim = makeSim({ n: 3, vectorLength: 50 });
    expect(Object.keys(sim.server.setup).sort()).toEqual(
      ['clipRange', 'graphSeed', 'neighbours', 'participants', 'round', 'runId', 'stage', 'threshold', 'vectorLength'].sort(),
    );
    const result = await runSim(sim);
    expect(result.count).toBe(3);
  });
});
