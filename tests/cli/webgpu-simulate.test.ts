import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subset } from '@fedlink/ml';
import { findSwiftShaderIcd, isDawnInstalled, loadMnistPackage } from '@fedlink/ml/node';
import { FEDLINK_BIN } from '../helpers/processes.js';
import { writeIdx } from '../helpers/idx.js';

const dawn = isDawnInstalled();
const describeWebgpu: jest.Describe = findSwiftShaderIcd() && dawn ? describe : describe.skip;

describeWebgpu('fedlink simulate --backend webgpu (Node, SwiftShader adapter here)', () => {
  test('2 clients train a round on webgpu; the coordinator evaluates on a CPU backend', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fedlink-webgpu-sim-'));
    try {
      const mnist = await loadMnistPackage();
      const range = (n: number) => Array.from({ length: n }, (_, i) => i);
      await writeIdx(dir, subset(mnist.train, range(200)), subset(mnist.test, range(100)));
      const json = join(dir, 'results.json');
      // tests/global-setup.js put the SwiftShader driver and FEDLINK_WEBGPU_SOFTWARE=1 in the environment.
      const r = spawnSync(process.execPath, [FEDLINK_BIN, 'simulate', '--clients', '2', '--rounds', '1', '--model', 'mlp', '--data', `idx:${dir}`, '--batch-size', '20', '--backend', 'webgpu', '--workers', '1', '--json', json], { encoding: 'utf8', timeout: 240_000 });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/clients training on backend webgpu/);
      const results = JSON.parse(await readFile(json, 'utf8')) as { config: { backend: string }; rounds: { status: string; reported: number; totalExamples: number; testLoss: number; trainLoss: number }[] };
      expect(results.config.backend).toBe('webgpu');
      expect(results.rounds).toHaveLength(1);
      expect(results.rounds[0]).toMatchObject({ status: 'completed', reported: 2, totalExamples: 200 });
      expect(Number.isFinite(results.rounds[0]!.trainLoss) && Number.isFinite(results.rounds[0]!.testLoss)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
