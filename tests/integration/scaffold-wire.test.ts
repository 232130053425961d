import { presetSpec } from '@fedlink/core';
import { EVENTS, asBytes, controlManifest, decodeTensors } from '@fedlink/protocol';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { RawClient } from '../helpers/raw-client.js';

// SCAFFOLD on the wire: round:start carries the server control variate c, each sealed update
// [delta y, delta c]; an update without its control half, or with a NaN in it, is refused with
// a typed error and the round goes on; the next round:start carries c + (|S| / N) mean(delta c).
test('scaffold: c travels with round:start, [delta y, delta c] with the update; malformed control halves are refused and the run goes on', async () => {
  const coord = await startTestCoordinator({ rounds: 2, strategy: presetSpec('scaffold'), selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } });
  const a = await RawClient.connect(coord.url);
  const b = await RawClient.connect(coord.url);
  try {
    const welcome = await a.join(TEST_TOKEN);
    await b.join(TEST_TOKEN);
    const d = welcome.model.numParams;
    const [sa, sb] = await Promise.all([a.nextRoundStart(), b.nextRoundStart()]);
    expect(sa.control).toBeDefined();
    const c0 = decodeTensors(asBytes(sa.control)!, welcome.model.manifest).flat;
    expect(c0).toEqual(new Float32Array(d));
    expect(welcome.limits.maxUpdateBytes).toBeGreaterThan(2 * 4 * d);

    const both = (dy: number, dc: number) => Float32Array.from({ length: 2 * d }, (_, j) => (j < d ? dy : dc));
    const send = async (c: RawClient, delta: Float32Array, manifest = controlManifest(welcome.model.manifest)) => c.request(EVENTS.update, await c.update(sa.round, delta, { manifest }));

    // The model's delta alone (no control half): shape_mismatch.
    const short = await send(a, new Float32Array(d), welcome.model.manifest);
    expect(short).toMatchObject({ ok: false, error: { code: 'shape_mismatch' } });
    // A NaN in delta c: non_finite, naming the control half.
    const nan = both(0.001, 0.5);
    nan[d + 7] = Number.NaN;
    expect(await send(a, nan)).toEqual({ ok: false, error: { code: 'non_finite', message: 'control variate delta has a non-finite value at element 7' } });
    // Then good updates from both: the round completes. delta c 0.5 and -0.25 over N = 2 connected: c = (2/2) * 0.125.
    expect(await send(a, both(0.001, 0.5))).toMatchObject({ ok: true, accepted: true });
    expect(sb.round).toBe(sa.round);
    expect(await send(b, both(0.001, -0.25))).toMatchObject({ ok: true, accepted: true });

    const next = await a.nextRoundStart();
    expect(next.round).toBe(2);
    const c1 = decodeTensors(asBytes(next.control)!, welcome.model.manifest).flat;
    expect(c1).toEqual(new Float32Array(d).fill(0.125));
    expect(coord.archive!.rounds(coord.runId).filter((r) => r.status === 'completed').map((r) => r.round)).toEqual([1]);
  } finally {
    a.close();
    b.close();
    await coord.cleanup();
  }
}, 60_000);
