import { subset } from '@fedlink/ml';
import { loadMnistPackage } from '@fedlink/ml/node';
import { type Browser, chromium } from 'playwright-core';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { CHROMIUM, collectPageErrors, describeBrowser, joinWithDemo, openJoinPage, readHook, waitForRunEnd } from './browser.js';

// Headless Chromium exposes WebGPU with --enable-unsafe-webgpu, on its SwiftShader adapter here
// (a real GPU's adapter elsewhere): the join page's first choice, ahead of WebGL and wasm.
describeBrowser('the browser client on WebGPU', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-unsafe-webgpu'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('/join picks webgpu, trains and reports a round with it', async () => {
    const mnist = await loadMnistPackage();
    const coord = await startTestCoordinator(
      { model: 'mlp', rounds: 1, fit: { epochs: 1, batchSize: 20, learningRate: 0.05, proximalMu: 0 }, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } },
      { testData: subset(mnist.test, Array.from({ length: 200 }, (_, i) => i)) },
    );
    const errors: string[] = [];
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      collectPageErrors(tab, errors);
      await openJoinPage(tab, coord.url, TEST_TOKEN);
      expect((await readHook(tab)).backend).toBe('webgpu');
      await joinWithDemo(tab);
      const end = await coord.done;
      expect(end.status).toBe('finished');
      expect(coord.store.rounds.map((r) => [r.status, r.reported])).toEqual([['completed', 1]]);
      await waitForRunEnd(tab, 120_000);
      const hook = await readHook(tab);
      expect(hook.errors).toEqual([]);
      expect(hook.backend).toBe('webgpu');
      expect(hook.runEnd).toMatchObject({ status: 'finished', rounds: 1 });
      expect(hook.rounds[0]).toMatchObject({ round: 1, sealed: true, status: 'completed' });
      await expect(tab.textContent('#backend')).resolves.toMatch(/^webgpu/);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 240_000);
});
