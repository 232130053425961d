import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CoordinatorConfig, DEFAULT_RUN, type RunningCoordinator, type RunSettings, silentLog, startCoordinator, type StartOptions } from '@fedlink/coordinator';
import { FedlinkClient, type Trainer } from '@fedlink/client';
import type { ImageDataset } from '@fedlink/ml';

export const TEST_TOKEN = 'test-token-0123456789';

/**
 * The config tests start coordinators with: loopback, a free port, `run` over DEFAULT_RUN (mlp,
 * one round, one-minute deadlines), one join token, closed to tokenless joins, silent.
 */
export function testCoordinatorConfig(stateDir: string, run: Partial<RunSettings>, token = TEST_TOKEN): CoordinatorConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    stateDir,
    run: { ...DEFAULT_RUN, model: 'mlp', rounds: 1, roundTimeoutMs: 60_000, waitTimeoutMs: 60_000, ...run },
    joinTokens: [token],
    open: false,
    maxConnections: 100,
    logLevel: 'silent',
  };
}

/** A real coordinator on a free loopback port with a throwaway state dir. */
export async function startTestCoordinator(
  run: Partial<RunSettings> & Pick<RunSettings, 'selection'>,
  extra: { testData?: ImageDataset; options?: StartOptions; config?: Partial<CoordinatorConfig>; stateDir?: string } = {},
): Promise<RunningCoordinator & { stateDir: string; cleanup(): Promise<void> }> {
  const stateDir = extra.stateDir ?? (await mkdtemp(join(tmpdir(), 'fedlink-test-')));
  const coord = await startCoordinator(
    {
      ...testCoordinatorConfig(stateDir, run),
      ...(extra.testData ? { testData: extra.testData } : {}),
      ...extra.config,
    },
    { log: silentLog, ...extra.options },
  );
  return Object.assign(coord, {
    stateDir,
    async cleanup() {
      await coord.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  });
}

/**
 * One client with `trainer` joins `url` (no reconnect) and runs until its run ends; resolves with
 * the error it ended with (a refusal at join, say), undefined when it finished.
 */
export async function runClientUntilEnd(url: string, trainer: Trainer, extra: Partial<ConstructorParameters<typeof FedlinkClient>[0]> = {}): Promise<unknown> {
  const client = new FedlinkClient({ url, token: TEST_TOKEN, trainer, platform: 'node', backend: 'test', reconnect: false, ...extra });
  try {
    await client.run();
    return undefined;
  } catch (e) {
    return e;
  } finally {
    client.stop();
  }
}
