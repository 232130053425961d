import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { type ClientSession, DEFAULT_RUN, PersistentRunStore, type RegistryEvents, type RoundRecord, RunArchive, findResumePoint, openDatabase } from '@fedlink/coordinator';
import { Strategy, presetSpec } from '@fedlink/core';

const record = (round: number): RoundRecord => ({
  round, attempt: 1, status: 'completed', startedAt: round, endedAt: round + 1, seconds: 1, selected: 2, target: 2, reported: 2, dropped: 0, rejected: 0, totalExamples: 10, bytesIn: 0, bytesOut: 0,
});

function logSink() {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { warnings, log: { debug() {}, info() {}, error() {}, warn: (msg: string, fields?: Record<string, unknown>) => warnings.push({ msg, ...(fields ? { fields } : {}) }) } };
}

describe('run archive and checkpoints', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fedlink-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function runOf(rounds: number, keep: number, state = () => ({ velocity: new Float32Array([7, 8, 9]) })) {
    const db = openDatabase(dir);
    const archive = new RunArchive(db, dir);
    const store = new PersistentRunStore(archive, { keepCheckpoints: keep, serverState: state });
    await store.startRun({ runId: 'run_a', createdAt: 1, settings: DEFAULT_RUN, status: 'running', round: 0 }, new Float32Array([0, 0, 0]));
    for (let r = 1; r <= rounds; r++) await store.recordRound('run_a', record(r), new Float32Array([r, r, r]));
    return { db, archive };
  }

  test('resume picks the newest checkpoint with its weights and server state', async () => {
    const { db, archive } = await runOf(3, 0);
    const { log, warnings } = logSink();
    const p = (await findResumePoint(archive, log))!;
    expect(p.round).toBe(3);
    expect(Array.from(p.weights!)).toEqual([3, 3, 3]);
    expect(Array.from(p.serverState.velocity!)).toEqual([7, 8, 9]);
    expect(warnings).toEqual([]);
    db.close();
  });

  test('a corrupt checkpoint falls back to the previous one, says so, and rewinds the rounds after it', async () => {
    const { db, archive } = await runOf(3, 0);
    const newest = archive.checkpointPath(archive.checkpoints('run_a')[0]!);
    const bytes = await readFile(newest);
    bytes[bytes.length - 1]! ^= 0xff; // one flipped bit in the weights
    await writeFile(newest, bytes);
    const { log, warnings } = logSink();
    const p = (await findResumePoint(archive, log))!;
    expect(p.round).toBe(2);
    expect(Array.from(p.weights!)).toEqual([2, 2, 2]);
    expect(warnings[0]).toMatchObject({ msg: expect.stringMatching(/falling back/), fields: { round: 3, reason: expect.stringMatching(/sha256/) } });
    expect(archive.run('run_a')!.round).toBe(2);
    expect(archive.rounds('run_a').map((r) => r.round)).toEqual([1, 2]);
    db.close();
  });

  test('client joins and leaves are written together: none before the flush, all of them (in order) by the next recorded round', async () => {
    const db = openDatabase(dir);
    const archive = new RunArchive(db, dir);
    const store = new PersistentRunStore(archive, { keepCheckpoints: 0, serverState: () => ({}) });
    await store.startRun({ runId: 'run_a', createdAt: 1, settings: DEFAULT_RUN, status: 'running', round: 0 }, new Float32Array([0, 0, 0]));
    const registry = new EventEmitter<RegistryEvents>();
    store.trackClients(registry);
    const session = (i: number, joinedAt: number) =>
      ({ clientId: `c${i}`, signPublicKey: new Uint8Array(32).fill(i), platform: 'node', backend: 'cpu', peer: { address: '127.0.0.1' }, joinedAt }) as unknown as ClientSession;
    for (let i = 0; i < 300; i++) registry.emit('joined', session(i, 1000 + i));
    registry.emit('joined', session(7, 5000)); // c7 again: a refresh, not a second row
    registry.emit('left', session(3, 1003), 'disconnected');
    const rows = () => db.prepare('SELECT client_id, first_seen, last_seen FROM clients ORDER BY first_seen').all() as { client_id: string; first_seen: number; last_seen: number }[];
    expect(rows()).toEqual([]);
    const participation = Array.from({ length: 300 }, (_, i) => ({ clientId: `c${i}`, outcome: 'reported' as const }));
    await store.recordRound('run_a', record(1), new Float32Array([1, 1, 1]), participation);
    const after = rows();
    expect(after).toHaveLength(300);
    expect(after.find((r) => r.client_id === 'c7')).toEqual({ client_id: 'c7', first_seen: 1007, last_seen: 5000 });
    expect(after.find((r) => r.client_id === 'c3')!.last_seen).toBeGreaterThan(1003);
    expect(archive.clients('run_a')).toHaveLength(300);
    db.close();
  });

  test('retention keeps the newest N checkpoint files', async () => {
    const { db, archive } = await runOf(6, 3);
    expect(archive.checkpoints('run_a').map((c) => c.round)).toEqual([6, 5, 4]);
    expect((await readdir(join(dir, 'checkpoints', 'run_a'))).sort()).toEqual(['round-000004.ckpt', 'round-000005.ckpt', 'round-000006.ckpt']);
    db.close();
  });
});

test('FedAvgM and FedAdam server state round-trips: a restored strategy continues exactly', () => {
  for (const make of [() => Strategy.fromSpec(presetSpec('fedavgm', { serverLearningRate: 1 })), () => Strategy.fromSpec(presetSpec('fedadam', { serverLearningRate: 0.01 }))]) {
    const a = make();
    let w: Float32Array = new Float32Array([1, 2, 3]);
    const step = (s: typeof a, g: Float32Array, k: number) => {
      const agg = s.beginRound(g);
      agg.add(new Float32Array([0.1 * k, -0.2, 0.05]), 1);
      return agg.finish().weights;
    };
    w = step(a, w, 1);
    w = step(a, w, 2);
    const b = make();
    b.restoreServerState(Object.fromEntries(Object.entries(a.serverState()).map(([k, v]) => [k, v.slice()])));
    expect(Array.from(step(b, w, 3))).toEqual(Array.from(step(a, w, 3)));
    expect(() => b.restoreServerState({ bogus: new Float32Array(3) })).toThrow(RangeError);
  }
});
