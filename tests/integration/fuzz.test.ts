import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { FedlinkClient } from '@fedlink/client';
import { createRng } from '@fedlink/core';
import { EVENTS, PROTOCOL_VERSION } from '@fedlink/protocol';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { type Proc, freePort, spawnFedlink } from '../helpers/processes.js';

const TOKEN = 'fuzz-test-token-0123456789';
const ROUNDS = 3;
const HONEST = 3;
const MESSAGES = 10_000;
const FUZZERS = 4;

type Rand = () => number;

/** Deltas on a 2^-16 grid: the coordinator's sums are exact, so runs compare bit for bit. */
const gridDelta = (n: number, seed: number) => testVector(n, seed, 0.02).map((x) => Math.round(x * 65536) / 65536);

function rssOf(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return NaN;
  }
  const m = /VmRSS:\s+(\d+) kB/.exec(text);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** One hostile message: an event name and its arguments. */
/** A raw socket.io packet string, bypassing the client's encoder: what a non-socket.io attacker sends. */
function rawPacket(rand: Rand): string {
  const k = Math.floor(rand() * 6);
  const d = 1000 + Math.floor(rand() * 100_000);
  switch (k) {
    case 0:
      return `42["hello",${'['.repeat(d)}${']'.repeat(d)}]`; // JSON nested ~100k deep
    case 1:
      return `42["round:update",{"a":${'{"a":'.repeat(d)}1${'}'.repeat(d)}}]`;
    case 2:
      return `451-["round:update",{"_placeholder":true,"num":0}]`; // promises a binary attachment that never comes
    case 3:
      return `45999999-["hello",{"_placeholder":true,"num":99999}]`;
    case 4:
      return `4${String.fromCharCode(Math.floor(rand() * 256)).repeat(1 + Math.floor(rand() * 1000))}`;
    default:
      return `42[${'"x",'.repeat(Math.floor(rand() * 10_000))}1]`;
  }
}

function hostile(rand: Rand, runId: string): { event: string; args: unknown[] } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (k: number) => Math.floor(rand() * k);
  const bytes = (k: number) => Buffer.from(Array.from({ length: k }, () => int(256)));
  const deep = (depth: number): unknown => {
    let v: unknown = 'bottom';
    for (let i = 0; i < depth; i++) v = rand() < 0.5 ? [v] : { k: v };
    return v;
  };
  const junk = (): unknown =>
    pick<() => unknown>([
      () => null,
      () => int(1e9) - 5e8,
      () => 'x'.repeat(int(200_000)),
      () => bytes(int(65_536)),
      () => deep(50 + int(400)), // deeper nesting goes raw (below): the client's encoder recurses
      () => ({ ['__proto__']: { polluted: true }, constructor: { prototype: { bad: 1 } } }),
      () => Array.from({ length: int(5000) }, () => int(10)),
      () => ({ [`k${int(1e6)}`]: 'unknown key', protocol: PROTOCOL_VERSION }),
      () => -0,
      () => 1e308 * 10,
    ])();
  const forgedUpdate = () => ({
    runId: pick([runId, 'run_000000000000', 'x'.repeat(65)]),
    round: pick([0, 1, 2, 3, 4, -1, 1e9, 2 ** 53, 1.5]),
    numExamples: pick([1, 1e9, 0, -5]),
    metrics: pick([{ loss: 1 }, { loss: 'NaN' }, {}]),
    envelope: { nonce: bytes(pick([24, 23, 0])), ciphertext: bytes(int(4096)) },
    ...(rand() < 0.3 ? { extra: junk() } : {}),
  });
  const forgedHello = () => ({
    protocol: pick([PROTOCOL_VERSION, PROTOCOL_VERSION + 1, 'one']),
    signPublicKey: bytes(32).toString('base64'),
    boxPublicKey: bytes(32).toString('base64'),
    signature: bytes(64).toString('base64'),
    token: pick([TOKEN, 'wrong', 'y'.repeat(300)]),
    platform: pick(['node', 'browser', 'toaster']),
    backend: 'cpu',
    numExamples: pick([1, 100, 1e12]),
    ...(rand() < 0.3 ? { unknown: junk() } : {}),
  });
  const event = pick([EVENTS.update, EVENTS.update, EVENTS.hello, EVENTS.challenge, EVENTS.roundStart, EVENTS.roundEnd, EVENTS.error, 'run:end', `evt-${int(1e6)}`, 'z'.repeat(int(5000))]);
  const body = event === EVENTS.update && rand() < 0.6 ? forgedUpdate() : event === EVENTS.hello && rand() < 0.6 ? forgedHello() : junk();
  const args = rand() < 0.1 ? [body, junk(), junk()] : [body];
  return { event, args };
}

interface RunResult {
  weights: Buffer;
  status: { status: string; round: number };
  rssBaseline: number;
  rssMax: number;
  rssEnd: number;
  sent: number;
}

async function federation(attack: boolean): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'fedlink-fuzz-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // --hello-rate 0: fuzzers and honest clients share the loopback address; the rate limit has its own test.
  const coord: Proc = spawnFedlink([
    'serve', '--port', String(port), '--state-dir', dir, '--model', 'mlp', '--rounds', String(ROUNDS), '--fraction', '1', '--over-select', '0',
    '--min-fit', String(HONEST), '--min-available', String(HONEST), '--token', TOKEN, '--hello-rate', '0', '--log-level', 'error', '--log-format', 'json',
    '--round-timeout', '5m', '--wait-timeout', '5m',
  ]);
  const fuzzers: Socket[] = [];
  const honest: FedlinkClient[] = [];
  let sent = 0;
  let rssMax = 0;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const runId = (await coord.waitFor(/run {10}(run_[0-9a-f]+)/))[1]!;
    const rssBaseline = rssOf(coord.child.pid!);
    sampler = setInterval(() => {
      const rss = coord.child.exitCode === null ? rssOf(coord.child.pid!) : NaN;
      if (rss > rssMax) rssMax = rss;
    }, 100);

    // Round r trains only after the attack has sent r/(ROUNDS+1) of its messages, so every round
    // runs under fire; without the attack the gates are open.
    const progress: { need: number; resolve: () => void }[] = [];
    const gate = (round: number) => () =>
      !attack || sent >= (round * MESSAGES) / (ROUNDS + 1) ? Promise.resolve() : new Promise<void>((resolve) => progress.push({ need: (round * MESSAGES) / (ROUNDS + 1), resolve }));
    const n = 199_210;
    const runs = Array.from({ length: HONEST }, (_, k) => {
      let round = 0;
      const trainer = new FixedDeltaTrainer(100 * (k + 1), (r) => gridDelta(n, 10 * r + k), () => gate(++round)());
      const c = new FedlinkClient({ url, token: TOKEN, trainer, platform: 'node', backend: 'test' });
      honest.push(c);
      return c.run();
    });

    if (attack) {
      const rng = createRng(12345);
      const rand = () => rng.next();
      const connect = () => {
        const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 200 });
        // A refused hello closes the socket from the server side; come straight back.
        s.on('disconnect', (reason) => reason === 'io server disconnect' && s.connect());
        return s;
      };
      for (let i = 0; i < FUZZERS; i++) fuzzers.push(connect());
      while (sent < MESSAGES) {
        const s = fuzzers[sent % FUZZERS]!;
        if (!s.connected) await new Promise<void>((r) => s.once('connect', () => r()));
        if (rand() < 0.05) {
          // engine.io's own `write` sends a message packet whose data is this string, unparsed.
          (s.io.engine as unknown as { write(d: string): void }).write(rawPacket(rand));
        } else {
          const { event, args } = hostile(rand, runId);
          if (rand() < 0.5) s.emit(event, ...args, () => undefined);
          else s.emit(event, ...args);
        }
        sent++;
        for (const p of progress.filter((p) => sent >= p.need)) {
          progress.splice(progress.indexOf(p), 1);
          p.resolve();
        }
        // Back-pressure: a round trip every 25 messages keeps the attack from only filling buffers.
        if (sent % 25 === 0) await s.timeout(10_000).emitWithAck(EVENTS.challenge, {}).catch(() => undefined);
      }
    }
    const ends = await Promise.all(runs);
    for (const e of ends) expect(e.status).toBe('finished');
    const status = (await (await fetch(`${url}/api/status`)).json()) as { status: string; round: number };
    const weights = Buffer.from(await (await fetch(`${url}/api/model/weights.bin`)).arrayBuffer());
    const rssEnd = rssOf(coord.child.pid!);
    clearInterval(sampler);
    expect(coord.child.exitCode).toBeNull(); // never crashed
    coord.kill('SIGTERM');
    expect(await coord.exit(30_000)).toBe(0);
    return { weights, status, rssBaseline, rssMax, rssEnd, sent };
  } finally {
    clearInterval(sampler);
    fuzzers.forEach((s) => s.disconnect());
    honest.forEach((c) => c.stop());
    coord.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

test(`${MESSAGES} hostile socket.io messages from ${FUZZERS} connections while an honest federation trains: no crash, bounded RSS, same result as without the attack`, async () => {
  const attacked = await federation(true);
  const clean = await federation(false);
  process.stdout.write(
    `fuzz: ${attacked.sent} messages; coordinator RSS baseline ${(attacked.rssBaseline / 2 ** 20).toFixed(0)} MiB, max ${(attacked.rssMax / 2 ** 20).toFixed(0)} MiB, end ${(attacked.rssEnd / 2 ** 20).toFixed(0)} MiB (clean run max ${(clean.rssMax / 2 ** 20).toFixed(0)} MiB)\n`,
  );
  expect(attacked.sent).toBe(MESSAGES);
  expect(attacked.status).toMatchObject({ status: 'finished', round: ROUNDS });
  expect(attacked.weights.equals(clean.weights)).toBe(true);
  // Bounded: the attack may cost buffers, never memory that grows with the message count.
  expect(attacked.rssMax).toBeLessThan(attacked.rssBaseline + 512 * 2 ** 20);
}, 300_000);
