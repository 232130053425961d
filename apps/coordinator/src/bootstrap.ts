import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication, LogLevel as NestLogLevel } from '@nestjs/common';
import { createStrategy } from '@fedlink/core';
import { ENVELOPE_OVERHEAD } from '@fedlink/crypto';
import { encodedSize, type RunEnd } from '@fedlink/protocol';
import { CoordinatorModule } from './app.module.js';
import { ensureEvalBackend } from './backend.js';
import { type CoordinatorConfig, validateRunSettings } from './config.js';
import { Admission } from './federation/admission.js';
import { ClientRegistry } from './federation/client-registry.js';
import { StaticTokenAuthority, type JoinAuthority } from './federation/join-authority.js';
import { RoundEngine } from './federation/round-engine.js';
import { RunContext } from './federation/run-context.js';
import { FedlinkIoAdapter } from './io-adapter.js';
import { type Log, consoleLog } from './log.js';
import { GlobalModel } from './model/global-model.js';
import { InMemoryRunStore, type RunStore } from './state/run-history.js';
import { randomId } from './state/secrets.js';
import { ensureStateDir, loadOrCreateIdentity } from './state/state-dir.js';
import { mountWebPages } from './web/web-pages.js';

export interface RunningCoordinator {
  url: string;
  port: number;
  runId: string;
  fingerprint: string;
  context: RunContext;
  engine: RoundEngine;
  registry: ClientRegistry;
  store: InMemoryRunStore;
  app: INestApplication;
  /** Resolves when the run ends (finished or stopped). */
  done: Promise<RunEnd>;
  /** Stops the run (if still going) and closes the server. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Log;
  /** Extra run stores (persistence) that see every record. */
  stores?: RunStore[];
  authority?: JoinAuthority;
}

/** Transport cap: room for the largest legitimate message, and a margin for framing. */
export function transportLimit(maxUpdateBytes: number, weightsBytes: number): number {
  return Math.max(2 * maxUpdateBytes, weightsBytes) + (1 << 20);
}

export async function startCoordinator(config: CoordinatorConfig, options: StartOptions = {}): Promise<RunningCoordinator> {
  validateRunSettings(config.run);
  const log = options.log ?? consoleLog(config.logLevel);
  await ensureStateDir(config.stateDir);
  const { identity } = await loadOrCreateIdentity(config.stateDir);
  await ensureEvalBackend();

  const settings = config.run;
  const model = new GlobalModel(settings.model, settings.seed);
  const maxUpdateBytes = encodedSize(model.manifest, settings.encoding) + ENVELOPE_OVERHEAD;
  const runId = randomId('run_');
  const context = new RunContext(runId, identity, model, settings, maxUpdateBytes);
  const registry = new ClientRegistry();
  const authority = options.authority ?? new StaticTokenAuthority(config.joinTokens, config.open);
  const admission = new Admission(identity, authority, registry);
  const memory = new InMemoryRunStore();
  const stores: RunStore[] = [memory, ...(options.stores ?? [])];
  const store: RunStore = {
    startRun: async (info, w) => {
      for (const s of stores) await s.startRun(info, w);
    },
    recordRound: async (id, r, w) => {
      for (const s of stores) await s.recordRound(id, r, w);
    },
    finishRun: async (id, st) => {
      for (const s of stores) await s.finishRun(id, st);
    },
  };
  const strategy = createStrategy(
    settings.strategy,
    { selection: settings.selection, fit: settings.fit, seed: settings.seed },
    settings.serverLearningRate,
  );
  const engine = new RoundEngine({
    runId,
    settings,
    strategy,
    model,
    registry,
    store,
    log,
    maxUpdateBytes,
    ...(config.testData ? { testData: config.testData } : {}),
  });

  const nestLevels: NestLogLevel[] = config.logLevel === 'debug' ? ['log', 'error', 'warn', 'debug'] : ['error', 'warn'];
  const app = await NestFactory.create(CoordinatorModule.forRoot({ context, registry, admission, engine, store: memory, log }), {
    logger: config.logLevel === 'silent' ? false : nestLevels,
    cors: true,
  });
  app.useWebSocketAdapter(new FedlinkIoAdapter(app, transportLimit(maxUpdateBytes, model.encodedWeights().length)));
  app.enableShutdownHooks();
  mountWebPages(app);
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address() as { port: number };
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  await store.startRun({ runId, createdAt: Date.now(), settings, status: 'running', round: 0 }, model.weights);
  const done = engine.run();
  let closed = false;
  return {
    url,
    port: address.port,
    runId,
    fingerprint: context.fingerprint,
    context,
    engine,
    registry,
    store: memory,
    app,
    done,
    async close() {
      if (closed) return;
      closed = true;
      engine.stop('coordinator shutting down');
      await done.catch(() => undefined);
      await app.close();
      model.dispose();
    },
  };
}
