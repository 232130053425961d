import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RUN, type EdgeConfig, type RunningEdge, type RunSettings, silentLog, startEdge } from '@fedlink/coordinator';
import { TEST_TOKEN } from './coordinator.js';

/** An edge aggregator for tests: its own coordinator on a free loopback port and a throwaway state dir, joined to `parent`. */
export async function startTestEdge(
  parent: { url: string; fingerprint: string },
  run: Partial<Omit<RunSettings, 'model' | 'rounds'>> & Pick<RunSettings, 'selection'>,
  extra: Partial<Pick<EdgeConfig, 'onRound' | 'reserveMs'>> & { name?: string } = {},
): Promise<RunningEdge & { cleanup(): Promise<void> }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'fedlink-edge-'));
  const { model: _model, rounds: _rounds, ...defaults } = DEFAULT_RUN;
  const edge = await startEdge(
    {
      upstream: { url: parent.url, token: TEST_TOKEN, serverFingerprint: parent.fingerprint, ...(extra.name !== undefined ? { name: extra.name } : {}) },
      downstream: {
        host: '127.0.0.1',
        port: 0,
        stateDir,
        run: { ...defaults, roundTimeoutMs: 60_000, waitTimeoutMs: 60_000, ...run },
        joinTokens: [TEST_TOKEN],
        open: false,
        maxConnections: 100,
        logLevel: 'silent',
      },
      ...(extra.onRound ? { onRound: extra.onRound } : {}),
      ...(extra.reserveMs ? { reserveMs: extra.reserveMs } : {}),
    },
    { log: silentLog },
  );
  return Object.assign(edge, {
    async cleanup() {
      await edge.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  });
}
