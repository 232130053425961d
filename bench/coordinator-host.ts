/**
 * The server side of `npm run bench:coordinator`, forked by bench/coordinator.ts so the server
 * has its own process (and its own RSS): either a real coordinator (`coordinator <json>`) or a
 * plain socket.io server that echoes binary messages (`echo`). It reports over IPC.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance as nodePerformance } from 'node:perf_hooks';
import { Server } from 'socket.io';
import { DEFAULT_RUN, silentLog, startCoordinator } from '@fedlink/coordinator';

export interface HostConfig {
  clients: number;
  /** Updates a round waits for (selection fraction = target / clients, no over-selection). */
  target: number;
  token: string;
  /** The coordinator's intake worker threads (0: on the event loop). */
  intakeWorkers: number;
  /** The coordinator's receive budget in bytes (upload backpressure; rounds/receive-budget.ts). */
  receiveBudgetBytes: number;
}

export type HostMessage =
  | { type: 'ready'; url: string; runId: string; rss: number }
  /** RSS, the process's CPU time so far (all its threads: user + system, ms), and its event loop's busy time so far (ms). */
  | { type: 'rss'; rss: number; cpuMs: number; loopMs: number }
  | {
      type: 'round';
      status: string;
      seconds: number;
      reported: number;
      firstUpdateS: number;
      lastUpdateS: number;
      bytesIn: number;
      /** RSS when the round opened: every client joined, nothing sent yet. */
      rssAtStart: number;
      /** The process's CPU time (all threads, ms) from round:start to the round's end. */
      cpuMs: number;
      /** Most update bytes held at once in the round (the receive budget's peak), and how often reading paused. */
      peakHeldBytes: number;
      pauses: number;
      /** The process's peak RSS so far (bytes). */
      maxRss: number;
    }
  | { type: 'done' };

export type HostCommand = { type: 'rss' } | { type: 'stop' };

const send = (m: HostMessage): void => {
  process.send!(m);
};

async function coordinator(config: HostConfig): Promise<void> {
  const stateDir = await mkdtemp(join(tmpdir(), 'fedlink-bench-'));
  const coord = await startCoordinator(
    {
      host: '127.0.0.1',
      port: 0,
      stateDir,
      run: {
        ...DEFAULT_RUN,
        model: 'mlp',
        rounds: 1,
        roundTimeoutMs: 600_000,
        waitTimeoutMs: 600_000,
        selection: { fraction: config.target / config.clients, minFit: 1, minAvailable: config.clients, overSelect: 0 },
      },
      joinTokens: [config.token],
      open: false,
      maxConnections: config.clients + 16,
      maxPending: config.clients + 16,
      maxPerAddress: 0,
      handshakeTimeoutMs: 600_000,
      logLevel: 'silent',
      intakeWorkers: config.intakeWorkers,
      receiveBudgetBytes: config.receiveBudgetBytes,
    },
    { log: silentLog },
  );
  let startedAt = 0;
  let first = 0;
  let last = 0;
  let rssAtStart = 0;
  let cpuAtStart = 0;
  coord.engine.on('roundStarted', () => {
    startedAt = performance.now();
    rssAtStart = process.memoryUsage().rss;
    cpuAtStart = cpuMs();
  });
  coord.engine.on('updateAccepted', () => {
    last = performance.now();
    first ||= last;
  });
  coord.engine.on('roundEnded', (r) => {
    send({ type: 'round', status: r.status, seconds: r.seconds, reported: r.reported, firstUpdateS: (first - startedAt) / 1000, lastUpdateS: (last - startedAt) / 1000, bytesIn: r.bytesIn, rssAtStart, cpuMs: cpuMs() - cpuAtStart,
      peakHeldBytes: coord.receiveBudget.peakHeldBytes, pauses: coord.receiveBudget.pauses, maxRss: process.resourceUsage().maxRSS * 1024 });
  });
  process.on('message', (cmd: HostCommand) => {
    if (cmd.type === 'rss') send({ type: 'rss', rss: process.memoryUsage().rss, cpuMs: cpuMs(), loopMs: nodePerformance.eventLoopUtilization().active });
    else if (cmd.type === 'stop') {
      void coord
        .close()
        .then(() => rm(stateDir, { recursive: true, force: true }))
        .then(() => process.exit(0));
    }
  });
  send({ type: 'ready', url: coord.url, runId: coord.runId, rss: process.memoryUsage().rss });
  await coord.done;
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** socket.io with the coordinator's transport settings, echoing each binary message in its ack. */
async function echo(): Promise<void> {
  const http = createServer();
  const io = new Server(http, { maxHttpBufferSize: 64 * 1024 * 1024, pingInterval: 25_000, pingTimeout: 60_000 });
  io.on('connection', (socket) => {
    socket.on('echo', (payload: Uint8Array, ack: (p: Uint8Array) => void) => ack(payload));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as { port: number };
  process.on('message', (cmd: HostCommand) => {
    if (cmd.type === 'stop') io.close(() => process.exit(0));
  });
  send({ type: 'ready', url: `http://127.0.0.1:${port}`, runId: '', rss: process.memoryUsage().rss });
}

const [mode, json] = process.argv.slice(2);
if (mode === 'echo') await echo();
else await coordinator(JSON.parse(json!) as HostConfig);
