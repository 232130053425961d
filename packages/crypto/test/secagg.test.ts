import { StreamingWeightedSum } from '@fedlink/core';
import { SecAggAbortError, weightedSumErrorBound } from '@fedlink/crypto';
import { parseMessage, SecAggAbortSchema } from '@fedlink/protocol';
import { feasibleDrops, makeSim, maxAbsDiff, plainWeightedSum, runSim, type Sim } from './secagg-sim.js';

/** The unmasked sum must be the plain sum over `contributors` within the documented bound. */
function expectExact(sim: Sim, result: Awaited<ReturnType<typeof runSim>>, contributors: readonly string[]): void {
  const plain = plainWeightedSum(sim, contributors);
  expect(result.contributors).toEqual([...contributors].sort());
  expect(result.count).toBe(contributors.length);
  expect(result.totalExamples).toBe(plain.totalExamples);
  const bound = weightedSumErrorBound(sim.server.params.scale, contributors.length);
  expect(maxAbsDiff(result.weightedSum, plain.sum)).toBeLessThanOrEqual(bound);
}

const without = (sim: Sim, gone: Iterable<number>) => {
  const g = new Set(gone);
  return sim.ids.filter((_, i) => !g.has(i));
};

describe('SecAgg+ round: the coordinator gets the weighted sum', () => {
  it('n = 10 (complete graph): sum, example total and count match the plain weighted sum; FedAvg accepts it', async () => {
    const sim = makeSim({ n: 10, vectorLength: 2_000 });
    expect(sim.server.params.graph.degree).toBe(9);
    const result = await runSim(sim);
    expectExact(sim, result, sim.ids);
    expect(sim.server.stage).toBe('done');
    // Some inputs had entries beyond C = 1 and were clipped (the plain sum clips the same way).
    expect(sim.clients.some((c) => c.clipped > 0)).toBe(true);

    const agg = new StreamingWeightedSum(2_000);
    agg.addWeightedSum(result.weightedSum, result.totalExamples, result.count);
    expect(agg.count).toBe(10);
    expect(agg.totalWeight).toBe(result.totalExamples);
  });

  it('n = 50 (k = 12, t = 7): exact within the quantisation bound', async () => {
    const sim = makeSim({ n: 50, vectorLength: 1_000 });
    expect(sim.server.params.graph.degree).toBe(12);
    expect(sim.server.params.threshold).toBe(7);
    expectExact(sim, await runSim(sim), sim.ids);
  });

  it('n = 50: 30% drop after sending masked input; their inputs stay in the sum', async () => {
    const sim = makeSim({ n: 50, vectorLength: 1_000 });
    const gone = feasibleDrops(sim, 15, 11);
    expectExact(sim, await runSim(sim, { unmask: gone }), sim.ids);
  });

  it('n = 50: 30% drop before sending masked input; their pairwise masks are removed, the sum is over the rest', async () => {
    const sim = makeSim({ n: 50, vectorLength: 1_000 });
    const gone = feasibleDrops(sim, 15, 12);
    expectExact(sim, await runSim(sim, { masked: gone }), without(sim, gone));
  });

  it('n = 10: 30% drop before masked input, with the default majority threshold', async () => {
    const sim = makeSim({ n: 10, vectorLength: 500 });
    const gone = [0, 4, 9];
    expectExact(sim, await runSim(sim, { masked: gone }), without(sim, gone));
  });

  it('drops at every stage: before advertising, before sharing, before masked input, before unmasking', async () => {
    const sim = makeSim({ n: 10, vectorLength: 500 });
    const result = await runSim(sim, { advertise: [1], shares: [2], masked: [3], unmask: [4] });
    // 4 sent masked input and is in the sum; 1 and 2 never masked with anyone; 3's masks are removed.
    expectExact(sim, result, without(sim, [1, 2, 3]));
  });

  it('drops before advertising or sharing only shrink the round', async () => {
    const a = makeSim({ n: 10, vectorLength: 300 });
    expectExact(a, await runSim(a, { advertise: [0, 5] }), without(a, [0, 5]));
    const b = makeSim({ n: 10, vectorLength: 300 });
    expectExact(b, await runSim(b, { shares: [3, 7] }), without(b, [3, 7]));
  });
});

describe('SecAgg+ round: aborts cleanly below threshold', () => {
  async function expectAbort(sim: Sim, drops: Parameters<typeof runSim>[1], reason: string): Promise<void> {
    const err = await runSim(sim, drops).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SecAggAbortError);
    expect(err).toMatchObject({ code: 'secagg_failed', reason });
    expect(sim.server.stage).toBe('aborted');
    const msg = parseMessage(SecAggAbortSchema, sim.server.abortMessage(), 'abort');
    expect(msg).toMatchObject({ stage: 'abort', runId: 'run-1', round: 1, reason });
    // Nothing can be extracted from an aborted round.
    await expect(sim.server.unmask()).rejects.toBe(err);
  }

  it('too few clients advertise keys', async () => {
    await expectAbort(makeSim({ n: 10, vectorLength: 10 }), { advertise: [0, 1, 2, 3, 4] }, 'too_few_advertised');
  });

  it('too few clients send shares', async () => {
    await expectAbort(makeSim({ n: 10, vectorLength: 10 }), { shares: [0, 1, 2, 3, 4] }, 'too_few_shared');
  });

  it('too few clients send masked input (t = 6 of 10)', async () => {
    const sim = makeSim({ n: 10, vectorLength: 10 });
    await expectAbort(sim, { masked: [0, 1, 2, 3, 4] }, 'too_few_masked');
  });

  it('too few survivors answer the unmask request', async () => {
    const sim = makeSim({ n: 10, vectorLength: 10 });
    await expectAbort(sim, { unmask: [0, 1, 2, 3, 4] }, 'too_few_unmasked');
  });

  it('canClose() tells the engine in advance whether closing would abort', async () => {
    const sim = makeSim({ n: 5, vectorLength: 10 }); // t = 3
    const [a, b, c] = sim.clients;
    expect(sim.server.canClose()).toBe(false);
    await sim.server.receiveAdvertise(await a!.advertise());
    await sim.server.receiveAdvertise(await b!.advertise());
    expect(sim.server.canClose()).toBe(false);
    expect(sim.server.expected()).toHaveLength(3);
    await sim.server.receiveAdvertise(await c!.advertise());
    expect(sim.server.canClose()).toBe(true);
    expect(sim.server.isComplete()).toBe(false);
    const keys = sim.server.closeAdvertise();
    expect([...keys.keys()].sort()).toEqual([a!.clientId, b!.clientId, c!.clientId].sort());
  });
});
