/**
 * Coordinator at scale: `npm run bench:coordinator -- [--clients 1000] [--repeats 3] [--ingest 1000]
 * [--only transport,ingest,scale] [--intake-workers N] [--receive-budget MiB] [--cold-keys]`.
 *
 * Everything is real and runs over loopback. The server side (a real coordinator, or a plain
 * socket.io echo server) is a forked process (bench/coordinator-host.ts), so its RSS is its own
 * and it has a core to itself as far as the machine allows; the clients run in this process.
 *
 * - joins_per_s: `clients` real socket.io clients connect and do the real hello (auth:challenge,
 *   Ed25519 signature over challenge + connection id + box key; the X25519 shared key waits for
 *   a client's first update on both sides), 128 at a time; joins / seconds from the first connect to the last welcome. Each
 *   client's private keys are imported once before (`--cold-keys`: during the joins).
 * - rss_per_client_KB: the coordinator process's RSS growth from before the first connect to
 *   the moment the round opens (every client joined, nothing sent yet), per client. The
 *   progress lines also give it read after the last welcome (`after joins`), when the round's
 *   sends have begun.
 * - round_s_100, round_s_1000: with every client connected, a coordinator selecting 100 (then
 *   `clients`) of them runs one MLP (2NN) round: round:start with the global weights to each,
 *   each client seals a zero delta (AES-GCM, the real envelope) and sends round:update; the
 *   figure is the coordinator's round record (round:start to aggregate applied and checkpointed).
 *   The progress line adds the most update bytes the coordinator held at once, how often that
 *   passed its receive budget (`--receive-budget`, MiB) and paused reading the sockets, and its
 *   peak RSS.
 * - ingest_MBps: the real update intake of the real round engine, in this process with fake
 *   peers (no sockets): `ingest` updates sealed beforehand are submitted at once, once the
 *   intake's threads (started when the round opens) take updates, and sealed
 *   bytes / seconds until the round ended is the figure (AES-GCM open, decode, finiteness
 *   check, streaming add). Both this and the coordinator process open updates on
 *   `--intake-workers` threads (default: the coordinator's, one per core beyond the first, at most 4;
 *   0: on the event loop).
 * - transport_MBps: a plain socket.io server echoing 0.8 MB binary messages in its ack, 8 in
 *   flight: client-to-server payload MB/s (the echo carries as many bytes back). The transport's
 *   own limit, in the same run.
 * Each figure is the median of `repeats` runs; the breakdown lists per-operation costs.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { Strategy, firstNonFinite } from '@fedlink/core';
import {
  ENVELOPE_CIPHER,
  type Identity,
  clientIdOf,
  curve,
  deferredSharedKey,
  generateIdentity,
  identityFromSeed,
  open,
  seal,
  sharedKey,
  signHello,
  updateContext,
  verifyHello,
} from '@fedlink/crypto';
import { DEFAULT_RUN, ClientRegistry, GlobalModel, InMemoryRunStore, RECEIVE_BUDGET_BYTES, RoundEngine, RunContext, type RunSettings, defaultIntakeWorkers, silentLog } from '@fedlink/coordinator';
import { EVENTS, PROTOCOL_VERSION, type RoundStart, type Update, type Welcome, decodeTensors, encodeTensors, fromBase64, toBase64 } from '@fedlink/protocol';
import type { HostCommand, HostConfig, HostMessage } from './coordinator-host.js';
import { checkFlags } from './lib/cli.js';

const PARTS = ['transport', 'ingest', 'scale'] as const;
type Part = (typeof PARTS)[number];

interface Args {
  clients: number;
  repeats: number;
  ingest: number;
  /** Which measurements to run (`--only ingest`); the headline line needs all three. */
  only: Set<Part>;
  /** Intake worker threads, in the ingest run and the coordinator process. */
  intakeWorkers: number;
  /** `--cold-keys`: leave each client's one-time private-key import inside the timed joins. */
  coldKeys: boolean;
  /** `--receive-budget MiB`: the coordinator's upload backpressure limit (default its own, RECEIVE_BUDGET_BYTES). */
  receiveBudgetBytes: number;
}

const USAGE = 'usage: npm run bench:coordinator -- [--clients 1000] [--repeats 3] [--ingest 1000] [--only transport,ingest,scale] [--intake-workers N] [--receive-budget MiB] [--cold-keys]';

function parseArgs(argv: string[]): Args {
  checkFlags(argv, USAGE, ['--clients', '--repeats', '--ingest', '--only', '--intake-workers', '--receive-budget', '--cold-keys']);
  const args: Args = { clients: 1000, repeats: 3, ingest: 1000, only: new Set(PARTS), intakeWorkers: defaultIntakeWorkers(), coldKeys: false, receiveBudgetBytes: RECEIVE_BUDGET_BYTES };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], Number(argv[i + 1])];
    if (flag === '--cold-keys') {
      args.coldKeys = true;
      i -= 1; // takes no value
      continue;
    }
    if (flag === '--only') {
      const parts = argv[i + 1]!.split(',');
      const unknown = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
      if (unknown.length) throw new Error(`--only takes ${PARTS.join(', ')}; not ${unknown.join(', ')}`);
      args.only = new Set(parts as Part[]);
      continue;
    }
    if (flag === '--intake-workers') {
      if (!(Number.isInteger(value) && value >= 0)) throw new Error('--intake-workers needs a whole number >= 0');
      args.intakeWorkers = value;
      continue;
    }
    if (!(value > 0)) throw new Error(`${flag} needs a positive number`);
    if (flag === '--receive-budget') args.receiveBudgetBytes = Math.round(value * 2 ** 20);
    else if (flag === '--clients') args.clients = value;
    else if (flag === '--repeats') args.repeats = value;
    else if (flag === '--ingest') args.ingest = value;
    else throw new Error(`unknown option ${flag}`);
  }
  return args;
}

const HOST = fileURLToPath(new URL('./coordinator-host.js', import.meta.url));
const TOKEN = 'bench-token-0123456789abcdef';
const JOIN_CONCURRENCY = 128;
const MB = 1e6;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number, digits = 1): string => x.toFixed(digits);

/** A forked server process and its IPC messages. */
class Host {
  private readonly waiters: { type: HostMessage['type']; resolve: (m: HostMessage) => void }[] = [];
  private readonly child: ChildProcess;

  constructor(args: string[]) {
    this.child = fork(HOST, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: HostMessage) => {
      const i = this.waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    });
  }

  next<T extends HostMessage['type']>(type: T): Promise<Extract<HostMessage, { type: T }>> {
    return new Promise((resolve) => this.waiters.push({ type, resolve: resolve as (m: HostMessage) => void }));
  }

  send(cmd: HostCommand): void {
    this.child.send(cmd);
  }

  rss(): Promise<Extract<HostMessage, { type: 'rss' }>> {
    const reply = this.next('rss');
    this.send({ type: 'rss' });
    return reply;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.send({ type: 'stop' });
    });
  }
}

/** One benchmark client: the real hello, then a sealed zero delta for each round:start. */
class BenchClient {
  private socket: Socket | undefined;
  private welcome: Welcome | undefined;
  private shared: (() => Promise<Uint8Array>) | undefined;
  /** Settles when the welcome is in: round:start can arrive before the hello's ack. */
  private joined: Promise<void> = Promise.resolve();

  constructor(
    private readonly identity: Identity,
    private readonly payload: () => Uint8Array,
    private readonly onError: (e: Error) => void,
  ) {}

  join(url: string): Promise<void> {
    this.joined = this.hello(url);
    return this.joined;
  }

  private async hello(url: string): Promise<void> {
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    socket.on(EVENTS.roundStart, (msg: RoundStart, ack: (r: unknown) => void) => {
      ack({ ok: true });
      this.report(msg).catch(this.onError);
    });
    const c = (await socket.timeout(600_000).emitWithAck(EVENTS.challenge, {})) as { nonce: string };
    const id = this.identity;
    const signature = await signHello(id.signSecretKey, fromBase64(c.nonce), socket.id!, id.boxPublicKey);
    const reply = (await socket.timeout(600_000).emitWithAck(EVENTS.hello, {
      protocol: PROTOCOL_VERSION,
      signPublicKey: toBase64(id.signPublicKey),
      boxPublicKey: toBase64(id.boxPublicKey),
      signature: toBase64(signature),
      platform: 'node',
      backend: 'bench',
      numExamples: 100,
      token: TOKEN,
    })) as { ok: boolean; welcome?: Welcome; error?: { message: string } };
    if (!reply.ok) throw new Error(`hello refused: ${reply.error?.message}`);
    this.welcome = reply.welcome!;
    // As the client library does: derived at the first update (client.ts).
    this.shared = deferredSharedKey(fromBase64(this.welcome.server.boxPublicKey), id.boxSecretKey);
  }

  private async report(start: RoundStart): Promise<void> {
    await this.joined;
    const w = this.welcome!;
    const envelope = await seal(this.payload(), await this.shared!(), updateContext(w.runId, start.round, w.clientId));
    const update: Update = { runId: w.runId, round: start.round, numExamples: 100, metrics: { loss: 0.5 }, envelope };
    const r = (await this.socket!.timeout(600_000).emitWithAck(EVENTS.update, update)) as { ok: boolean; error?: { message: string } };
    if (!r.ok) throw new Error(`update refused: ${r.error?.message}`);
  }

  close(): void {
    this.socket?.disconnect();
  }
}

/** Whether ws masks and unmasks frames with the native `bufferutil` (as ws decides: it is optional). */
function wsMasking(): string {
  if (process.env.WS_NO_BUFFER_UTIL) return 'in JS (WS_NO_BUFFER_UTIL set)';
  try {
    createRequire(import.meta.url)('bufferutil');
    return 'native (bufferutil)';
  } catch {
    return 'in JS (bufferutil not installed)';
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

interface ScaleResult {
  joinsPerS: number;
  joinS: number;
  /** CPU time (all threads, user + system) per join, from the first connect to the last welcome. */
  coordinatorCpuMsPerJoin: number;
  /** The coordinator's event-loop busy time per join (what one process's joins per second are bound by). */
  coordinatorLoopMsPerJoin: number;
  clientsCpuMsPerJoin: number;
  rssPerClientKB: number;
  /** RSS growth per client read after the last welcome (the round's sends have begun by then). */
  rssAfterJoinsKB: number;
  round: Extract<HostMessage, { type: 'round' }>;
  /** Updates refused because their client had been dropped from the round. */
  late: number;
}

/** A real coordinator in its own process, `clients` real clients, one round of `target` updates. */
async function scaleRun(identities: readonly Identity[], target: number, payload: Uint8Array, args: Args): Promise<ScaleResult> {
  const config: HostConfig = { clients: identities.length, target, token: TOKEN, intakeWorkers: args.intakeWorkers, receiveBudgetBytes: args.receiveBudgetBytes };
  const host = new Host(['coordinator', JSON.stringify(config)]);
  const ready = await host.next('ready');
  const errors: Error[] = [];
  const clients = identities.map((id) => new BenchClient(id, () => payload, (e) => errors.push(e)));
  const roundDone = host.next('round');
  const { rss: rssBefore, cpuMs: hostCpu0, loopMs: hostLoop0 } = await host.rss();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pool(clients, JOIN_CONCURRENCY, (c) => c.join(ready.url));
  const joinS = (performance.now() - t0) / 1000;
  const cpu1 = process.cpuUsage(cpu0);
  const { rss: rssAfter, cpuMs: hostCpu1, loopMs: hostLoop1 } = await host.rss();
  const round = await roundDone;
  await host.stop();
  for (const c of clients) c.close();
  // A client dropped from the round (its round:start ack came later than START_ACK_TIMEOUT_MS, as
  // happens when a loaded machine queues 1,000 copies of the weights) has its update refused as
  // late: counted and shown, not fatal.
  const late = errors.filter((e) => /closed/.test(e.message)).length;
  const other = errors.filter((e) => !/closed/.test(e.message));
  if (other.length) throw new Error(`${other.length} client error(s), first: ${other[0]!.message}`);
  if (round.status !== 'completed') throw new Error(`round ${round.status} with ${round.reported}/${target} updates`);
  const perClientKB = (rss: number) => (rss - rssBefore) / identities.length / 1024;
  return {
    joinsPerS: identities.length / joinS,
    joinS,
    // The coordinator's figure includes the few ms between the last welcome and the rss reply.
    coordinatorCpuMsPerJoin: (hostCpu1 - hostCpu0) / identities.length,
    coordinatorLoopMsPerJoin: (hostLoop1 - hostLoop0) / identities.length,
    clientsCpuMsPerJoin: (cpu1.user + cpu1.system) / 1000 / identities.length,
    rssPerClientKB: perClientKB(round.rssAtStart),
    rssAfterJoinsKB: perClientKB(rssAfter),
    round,
    late,
  };
}

/** A plain socket.io binary echo over loopback: client-to-server payload MB/s. */
async function transportRun(payload: Uint8Array, messages = 200, inFlight = 8): Promise<number> {
  const host = new Host(['echo']);
  const { url } = await host.next('ready');
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const send = async (): Promise<void> => {
    const back = (await socket.timeout(60_000).emitWithAck('echo', payload)) as Uint8Array;
    if (back.byteLength !== payload.byteLength) throw new Error('echo came back short');
  };
  for (let i = 0; i < 8; i++) await send(); // warm-up
  const t0 = performance.now();
  await pool(Array.from({ length: messages }), inFlight, send);
  const s = (performance.now() - t0) / 1000;
  socket.disconnect();
  await host.stop();
  return (messages * payload.byteLength) / s / MB;
}

/** The real round engine and update intake with fake peers (no sockets): sealed MB/s through intake. */
async function ingestRun(n: number, intakeWorkers: number): Promise<{ mbps: number; seconds: number; bytes: number; warmMs: number }> {
  const coordinator = generateIdentity();
  const settings: RunSettings = {
    ...DEFAULT_RUN,
    model: 'mlp',
    rounds: 1,
    roundTimeoutMs: 600_000,
    waitTimeoutMs: 600_000,
    selection: { fraction: 1, minFit: 1, minAvailable: n, overSelect: 0 },
  };
  const model = new GlobalModel(settings.model, settings.seed);
  const context = new RunContext('run_bench', coordinator, model, settings, 4 * model.numParams + 1024);
  const registry = new ClientRegistry();
  const engine = new RoundEngine({ context, strategy: Strategy.fromSpec(settings.strategy), registry, store: new InMemoryRunStore(), log: silentLog, intake: { workers: intakeWorkers } });
  const plaintext = encodeTensors(model.manifest, new Float32Array(model.numParams).fill(1e-3));
  const updates: Update[] = [];
  let submitted = 0;
  let t0 = 0;
  let opened = 0;
  let warmMs = 0;
  // The engine starts the intake's threads when the round opens (clients train meanwhile); the
  // clock starts when they take updates, so the figure is the intake's rate, not a thread's boot
  // (printed beside it as `warm-up`).
  const submitAll = async () => {
    await engine.intakeReady();
    t0 = performance.now();
    warmMs = t0 - opened;
    for (const [i, s] of sessions.entries()) void engine.submitUpdate(s, updates[i]!);
  };
  const sessions = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const identity = identityFromSeed(new Uint8Array(32).map((_, j) => (j < 4 ? (i >> (8 * j)) & 0xff : 7)));
      const clientId = clientIdOf(identity.signPublicKey);
      const key = await sharedKey(coordinator.boxPublicKey, identity.boxSecretKey);
      updates[i] = { runId: context.runId, round: 1, numExamples: 100, metrics: { loss: 0.5 }, envelope: await seal(plaintext, key, updateContext(context.runId, 1, clientId)) };
      return registry.add({
        clientId,
        peer: {
          id: `peer-${i}`,
          address: '127.0.0.1',
          emit: () => undefined,
          request: async (event: string) => {
            if (event === EVENTS.roundStart && submitted++ === 0) opened = performance.now();
            if (event === EVENTS.roundStart && submitted === n) setImmediate(() => void submitAll());
            return { ok: true };
          },
          disconnect: () => undefined,
        },
        signPublicKey: identity.signPublicKey,
        boxPublicKey: identity.boxPublicKey,
        // Derived before the clock starts: ingest is open + check + add. A run derives each
        // client's key once, at its first update (admission.ts), which the round figures include.
        sharedKey: await sharedKey(identity.boxPublicKey, coordinator.boxSecretKey).then((k) => async () => k),
        numExamples: 100,
        platform: 'node',
        backend: 'bench',
        joinedAt: Date.now(),
        lastSeen: Date.now(),
      });
    }),
  );
  const ended = new Promise<number>((resolve) => engine.once('roundEnded', () => resolve(performance.now())));
  const end = await engine.run();
  const t1 = await ended;
  model.dispose();
  if (end.status !== 'finished') throw new Error(`ingest run ended ${end.status}`);
  const bytes = updates.reduce((s, u) => s + u.envelope.ciphertext.byteLength, 0);
  const seconds = (t1 - t0) / 1000;
  return { mbps: bytes / seconds / MB, seconds, bytes, warmMs };
}

/** Mean milliseconds of `fn` over `n` calls (after a warm-up call). */
async function timeMs(n: number, fn: (i: number) => unknown): Promise<number> {
  await fn(0);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (performance.now() - t0) / n;
}

/**
 * Imports each identity's signing and box secret keys once (a signature and a shared key, results
 * dropped), so the timed joins measure the hello rather than a one-time PKCS#8 import per client.
 */
async function warmKeys(identities: readonly Identity[]): Promise<void> {
  const peer = generateIdentity();
  const challenge = new Uint8Array(32);
  await pool(identities, 64, async (id) => {
    await signHello(id.signSecretKey, challenge, 'warm-up', id.boxPublicKey);
    await sharedKey(peer.boxPublicKey, id.boxSecretKey);
  });
}

/** Per-operation costs behind the headline figures. */
async function breakdown(payload: Uint8Array, numParams: number): Promise<string[]> {
  const a = generateIdentity();
  const b = generateIdentity();
  const challenge = new Uint8Array(32).fill(9);
  const sig = await signHello(a.signSecretKey, challenge, 'conn-1', a.boxPublicKey);
  const key = await sharedKey(b.boxPublicKey, a.boxSecretKey);
  const ctx = updateContext('run', 1, 'client');
  const env = await seal(payload, key, ctx);
  const opened = await open(env, key, ctx);
  const flat = decodeTensors(opened).flat;
  const sum = new Float64Array(numParams);
  const lines = [
    `hello (per join, Ed25519/X25519 by ${(await curve()).name}): signHello ${fmt(await timeMs(200, () => signHello(a.signSecretKey, challenge, 'conn-1', a.boxPublicKey)), 3)} ms, ` +
      `verifyHello ${fmt(await timeMs(200, () => verifyHello(a.signPublicKey, sig, challenge, 'conn-1', a.boxPublicKey)), 3)} ms, ` +
      `sharedKey ${fmt(await timeMs(200, () => sharedKey(b.boxPublicKey, a.boxSecretKey)), 3)} ms (x2: client and coordinator, at its first update, not at the hello), ` +
      `generateIdentity ${fmt(await timeMs(100, () => generateIdentity()), 3)} ms`,
    `update (per ${fmt(payload.byteLength / MB, 2)} MB MLP delta, AES-GCM by ${ENVELOPE_CIPHER.name}): seal ${fmt(await timeMs(50, () => seal(payload, key, ctx)), 2)} ms, ` +
      `open ${fmt(await timeMs(50, () => open(env, key, ctx)), 2)} ms, ` +
      `decode ${fmt(await timeMs(50, () => decodeTensors(opened)), 2)} ms (as a view, the intake's: ${fmt(await timeMs(50, () => decodeTensors(opened, undefined, { shareMemory: true })), 3)} ms), ` +
      `finite check ${fmt(await timeMs(50, () => firstNonFinite(flat)), 2)} ms, ` +
      `float64 add ${fmt(await timeMs(50, () => {
        for (let i = 0; i < numParams; i++) sum[i]! += flat[i]!;
      }), 2)} ms`,
  ];
  return lines;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const model = new GlobalModel('mlp', 1);
  const numParams = model.numParams;
  const payload = encodeTensors(model.manifest, new Float32Array(numParams));
  model.dispose();
  // Identities are made before any timing (a real device has its key already), and, unless
  // --cold-keys, each one's private keys are imported into the platform's crypto once (a real
  // device does that once at start-up, not per join; `@fedlink/crypto` keeps the import per key).
  const identities = Array.from({ length: args.clients }, (_, i) => identityFromSeed(new Uint8Array(32).map((_, j) => (j < 4 ? (i >> (8 * j)) & 0xff : 1))));
  if (!args.coldKeys) await warmKeys(identities);
  const target100 = Math.min(100, args.clients);
  const runs: { transport?: number; ingest?: number; small?: ScaleResult; large?: ScaleResult }[] = [];
  for (let r = 0; r < args.repeats; r++) {
    const step = (what: string) => console.error(`run ${r + 1}/${args.repeats}: ${what}...`);
    const run: (typeof runs)[number] = {};
    const seen: string[] = [];
    if (args.only.has('transport')) {
      step('transport echo');
      run.transport = await transportRun(payload);
      seen.push(`transport ${fmt(run.transport)} MB/s`);
    }
    if (args.only.has('ingest')) {
      step(`ingest of ${args.ingest} updates`);
      const ingest = await ingestRun(args.ingest, args.intakeWorkers);
      run.ingest = ingest.mbps;
      seen.push(`ingest ${fmt(ingest.mbps)} MB/s (${args.ingest} updates in ${fmt(ingest.seconds, 2)} s; intake warm-up ${fmt(ingest.warmMs)} ms after the round opened)`);
    }
    if (args.only.has('scale')) {
      step(`${args.clients} joins and a round of ${target100}`);
      const small = (run.small = await scaleRun(identities, target100, payload, args));
      step(`${args.clients} joins and a round of ${args.clients}`);
      const large = (run.large = await scaleRun(identities, args.clients, payload, args));
      seen.push(
        `joins ${fmt(small.joinsPerS)}/s and ${fmt(large.joinsPerS)}/s (CPU per join: coordinator ${fmt(small.coordinatorCpuMsPerJoin, 2)} and ${fmt(large.coordinatorCpuMsPerJoin, 2)} ms, its event loop ${fmt(small.coordinatorLoopMsPerJoin, 2)} and ${fmt(large.coordinatorLoopMsPerJoin, 2)} ms, ` +
          `clients ${fmt(small.clientsCpuMsPerJoin, 2)} and ${fmt(large.clientsCpuMsPerJoin, 2)} ms), round ${target100}: ${fmt(small.round.seconds, 2)} s (last update accepted at ${fmt(small.round.lastUpdateS, 2)} s), ` +
          `round ${args.clients}: ${fmt(large.round.seconds, 2)} s (first/last update at ${fmt(large.round.firstUpdateS, 2)}/${fmt(large.round.lastUpdateS, 2)} s, coordinator CPU ${fmt(large.round.cpuMs / 1000, 2)} s, ` +
          `${large.round.reported} reported${large.late ? `, ${large.late} dropped for a late round:start ack` : ''}${small.late ? `; round ${target100}: ${small.late} dropped` : ''}; ` +
          `updates held at most ${fmt(large.round.peakHeldBytes / MB)} MB at once, reading paused ${large.round.pauses} time(s), coordinator peak RSS ${fmt(large.round.maxRss / MB)} MB), ` +
          `rss/client at round start ${fmt(small.rssPerClientKB)} and ${fmt(large.rssPerClientKB)} KB, after joins ${fmt(small.rssAfterJoinsKB)} and ${fmt(large.rssAfterJoinsKB)} KB`,
      );
    }
    runs.push(run);
    console.error(`run ${r + 1}/${args.repeats}: ${seen.join(', ')}`);
  }
  /** Median over the runs that measured it, or n/a. */
  const mid = (pick: (r: (typeof runs)[number]) => (number | undefined)[], digits = 1): string => {
    const xs = runs.flatMap(pick).filter((x): x is number => x !== undefined);
    return xs.length ? fmt(median(xs), digits) : 'n/a';
  };
  const clientsNote = args.clients === 1000 ? '' : ` clients=${args.clients}`;
  console.log(
    `joins_per_s=${mid((r) => [r.small?.joinsPerS, r.large?.joinsPerS])} ingest_MBps=${mid((r) => [r.ingest])} round_s_100=${mid((r) => [r.small?.round.seconds], 2)} ` +
      `round_s_1000=${mid((r) => [r.large?.round.seconds], 2)} rss_per_client_KB=${mid((r) => [r.small?.rssPerClientKB, r.large?.rssPerClientKB])} transport_MBps=${mid((r) => [r.transport])}${clientsNote}`,
  );
  console.log(`median of ${args.repeats} run(s); ${args.clients} clients in one process, the coordinator in another; MLP 2NN, ${numParams} params (${fmt(payload.byteLength / MB, 2)} MB per update); ${args.intakeWorkers ? `${args.intakeWorkers} intake worker thread(s)` : 'intake on the event loop'}; receive budget ${fmt(args.receiveBudgetBytes / 2 ** 20)} MiB; ` +
      `clients' private keys ${args.coldKeys ? 'imported during the joins (--cold-keys)' : 'imported before the joins'}; ws frame masking ${wsMasking()}`);
  if (args.only.has('scale')) {
    const perJoin = (pick: (s: ScaleResult) => number) => mid((r) => [r.small, r.large].map((s) => (s ? pick(s) : undefined)), 2);
    console.log(`coordinator CPU time in the round of ${args.clients} (median; all threads, round:start to its end): ${mid((r) => [r.large ? r.large.round.cpuMs / 1000 : undefined], 2)} s`);
    console.log(`CPU per join (median; all threads, first connect to last welcome): coordinator ${perJoin((s) => s.coordinatorCpuMsPerJoin)} ms, clients' process ${perJoin((s) => s.clientsCpuMsPerJoin)} ms; coordinator's event loop busy ${perJoin((s) => s.coordinatorLoopMsPerJoin)} ms per join`);
  }
  if (args.clients !== 1000) console.log(`round_s_1000 is a round of ${args.clients} updates (--clients ${args.clients})`);
  for (const line of await breakdown(payload, numParams)) console.log(line);
}

await main();
process.exit(0);
