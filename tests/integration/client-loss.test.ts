import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FedlinkClient } from '@fedlink/client';
import type { RoundRecord } from '@fedlink/coordinator';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';

const SLOW_CLIENT = fileURLToPath(new URL('../helpers/slow-client.mjs', import.meta.url));

/** Starts a client process and resolves once it printed `line`. */
function startSlowClient(url: string): { child: ChildProcess; training: Promise<void>; joined: Promise<void> } {
  const child = spawn(process.execPath, [SLOW_CLIENT, url, TEST_TOKEN, '600000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const seen = (line: string) =>
    new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes(line)) resolve();
      });
      child.on('exit', () => reject(new Error(`slow client exited before printing '${line}'`)));
    });
  return { child, joined: seen('joined'), training: seen('training') };
}

async function runWithLostClient(signal: 'SIGKILL' | 'SIGSTOP', roundTimeoutMs: number): Promise<{ record: RoundRecord; deadline: number }> {
  const coord = await startTestCoordinator({ rounds: 1, roundTimeoutMs, selection: { fraction: 1, minFit: 2, minAvailable: 3, overSelect: 0 } });
  const slow = startSlowClient(coord.url);
  const n = coord.context.model.numParams;
  const clients = [1, 2].map(
    (k) => new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer: new FixedDeltaTrainer(100, () => testVector(n, k)), platform: 'node', backend: 'test' }),
  );
  try {
    let deadline = 0;
    coord.engine.once('roundStarted', (s) => (deadline = s.deadline));
    const ended = new Promise<RoundRecord>((resolve) => coord.engine.once('roundEnded', resolve));
    const runs = clients.map((c) => c.run());
    await slow.joined;
    await slow.training;
    slow.child.kill(signal);
    const record = await ended;
    await coord.done;
    await Promise.all(runs);
    return { record, deadline };
  } finally {
    if (signal === 'SIGSTOP') slow.child.kill('SIGCONT');
    slow.child.kill('SIGKILL');
    for (const c of clients) c.stop();
    await coord.cleanup();
  }
}

test('a client killed mid-round is dropped at once and the round closes with the others', async () => {
  const { record, deadline } = await runWithLostClient('SIGKILL', 60_000);
  expect(record.status).toBe('completed');
  expect(record.reported).toBe(2);
  expect(record.dropped).toBe(1);
  // Closed by the disconnect, well before the 60 s deadline.
  expect(record.endedAt).toBeLessThan(deadline);
});

test('a client that freezes mid-round (socket open, silent) does not hold the round past its deadline', async () => {
  const { record, deadline } = await runWithLostClient('SIGSTOP', 3_000);
  expect(record.status).toBe('completed');
  expect(record.reported).toBe(2);
  expect(record.endedAt).toBeGreaterThanOrEqual(deadline);
});
