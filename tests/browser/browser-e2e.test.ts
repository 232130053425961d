import { FedlinkClient, TfjsTrainer } from '@fedlink/client';
import { epsilonOf, presetSpec } from '@fedlink/core';
import { subset } from '@fedlink/ml';
import { type DatasetSplit, loadMnistPackage } from '@fedlink/ml/node';
import type { Browser } from 'playwright-core';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { collectPageErrors, describeBrowser, joinWithDemo, launchBrowser, openJoinPage, readHook, screenshot, waitForRunEnd } from './browser.js';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const FIT = { epochs: 1, batchSize: 20, learningRate: 0.05, proximalMu: 0 };

describeBrowser('browser client (/join) and dashboard (/) in headless Chromium', () => {
  let browser: Browser;
  let mnist: DatasetSplit;

  beforeAll(async () => {
    [browser, mnist] = await Promise.all([launchBrowser(), loadMnistPackage()]);
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('two Node clients and a browser tab on /join complete 3 rounds; the dashboard charts them live', async () => {
    const coord = await startTestCoordinator(
      { model: 'mlp', rounds: 3, fit: FIT, selection: { fraction: 1, minFit: 3, minAvailable: 3, overSelect: 0 } },
      { testData: subset(mnist.test, range(0, 500)) },
    );
    const errors: string[] = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      // The dashboard is open before anything happens: what it ends up showing arrived live.
      const dash = await context.newPage();
      collectPageErrors(dash, errors);
      await dash.goto(`${coord.url}/`);
      await dash.waitForSelector('#live[data-live="live"]');

      const tab = await context.newPage();
      collectPageErrors(tab, errors);
      await openJoinPage(tab, coord.url, TEST_TOKEN);
      // The token moved from the address bar into the field.
      expect(new URL(tab.url()).searchParams.has('token')).toBe(false);
      expect(await tab.inputValue('#token')).toBe(TEST_TOKEN);
      await joinWithDemo(tab);

      const nodes = [0, 1].map(
        (i) =>
          new FedlinkClient({
            url: coord.url,
            token: TEST_TOKEN,
            trainer: new TfjsTrainer(subset(mnist.train, range(1000 + i * 300, 1300 + i * 300))),
            platform: 'node',
            backend: 'test-node',
            serverFingerprint: coord.fingerprint,
            name: `node-${i}`,
          }),
      );
      const runs = nodes.map((c) => c.run());
      const end = await coord.done;
      await Promise.all(runs);
      expect(end.status).toBe('finished');
      expect(coord.store.rounds.map((r) => [r.status, r.reported])).toEqual([
        ['completed', 3],
        ['completed', 3],
        ['completed', 3],
      ]);

      await waitForRunEnd(tab, 60_000);
      const hook = await readHook(tab);
      expect(hook.errors).toEqual([]);
      expect(hook.backend).toBe('webgl');
      expect(hook.runEnd).toMatchObject({ status: 'finished', rounds: 3 });
      expect(hook.rounds.map((r) => [r.round, r.sealed, r.status])).toEqual([
        [1, true, 'completed'],
        [2, true, 'completed'],
        [3, true, 'completed'],
      ]);
      // Sent per round: the sealed delta (codec + GCM tag) and its 24-byte nonce, nothing more.
      expect(hook.rounds.map((r) => r.bytes)).toEqual([1, 2, 3].map(() => coord.context.maxUpdateBytes + 24));
      await expect(tab.textContent('#state')).resolves.toMatch(/finished after 3 rounds/);
      await expect(tab.textContent('#backend')).resolves.toMatch(/^webgl/);
      await expect(tab.locator('#rounds-body tr').count()).resolves.toBe(3);

      // The dashboard got three points per chart, and the facts of every round.
      // The last round's point and the run's end are separate feed events: wait for both (a loaded machine can deliver them apart).
      await dash.waitForFunction(
        () => document.querySelectorAll('[data-chart="accuracy"] [data-point]').length === 3 && document.querySelector('#phase')?.getAttribute('data-phase') === 'finished',
        null,
        { timeout: 30_000, polling: 100 },
      );
      const points = await dash.evaluate(() => ({
        accuracy: document.querySelectorAll('[data-chart="accuracy"] [data-point]').length,
        testLoss: document.querySelectorAll('[data-chart="loss"] [data-point][data-series="test loss"]').length,
        trainLoss: document.querySelectorAll('[data-chart="loss"] [data-point][data-series="train loss (clients)"]').length,
        bytes: document.querySelectorAll('[data-chart="bytes"] [data-point]').length,
        rows: document.querySelectorAll('#rounds-body tr.completed').length,
        phase: document.querySelector('#phase')?.getAttribute('data-phase'),
        done: document.querySelectorAll('#timeline .tl.done').length,
      }));
      expect(points).toEqual({ accuracy: 3, testLoss: 3, trainLoss: 3, bytes: 6, rows: 3, phase: 'finished', done: 3 });

      await screenshot(tab, 'join.png');
      await screenshot(dash, 'dashboard.png');
      for (const page of [tab, dash]) await page.setViewportSize({ width: 390, height: 844 });
      await screenshot(tab, 'join-phone.png');
      await screenshot(dash, 'dashboard-phone.png');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 300_000);

  test('with secure aggregation and distributed DP on, the tab sends only masked input and both pages show epsilon after every round', async () => {
    // Distributed DP: every client (the tab too) clips, quantises with weight 1 and adds its discrete
    // Gaussian share before masking; the accountant charges q = 1, z = 0.8 per round.
    const z = 0.8;
    const delta = 1e-5;
    const strategy = { ...presetSpec('fedavg'), name: 'dp-distributed', wrappers: [{ kind: 'dp' as const, mode: 'distributed' as const, clip: 1, noiseMultiplier: z }] };
    const coord = await startTestCoordinator(
      { model: 'mlp', rounds: 2, fit: FIT, secureAggregation: true, strategy, privacy: { delta }, selection: { fraction: 1, minFit: 3, minAvailable: 3, overSelect: 0 } },
      { testData: subset(mnist.test, range(0, 500)) },
    );
    const errors: string[] = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const dash = await context.newPage();
      collectPageErrors(dash, errors);
      await dash.goto(`${coord.url}/`);
      await dash.waitForSelector('#live[data-live="live"]');
      const tab = await context.newPage();
      collectPageErrors(tab, errors);
      await openJoinPage(tab, coord.url, TEST_TOKEN);
      await joinWithDemo(tab);
      const nodes = [0, 1].map(
        (i) =>
          new FedlinkClient({
            url: coord.url,
            token: TEST_TOKEN,
            trainer: new TfjsTrainer(subset(mnist.train, range(2000 + i * 300, 2300 + i * 300))),
            platform: 'node',
            backend: 'test-node',
          }),
      );
      const runs = nodes.map((c) => c.run());
      const end = await coord.done;
      await Promise.all(runs);
      expect(end.status).toBe('finished');
      // All three, the tab included, are in each round's sum; nobody's update was ever opened.
      expect(coord.store.rounds.map((r) => [r.status, r.reported])).toEqual([
        ['completed', 3],
        ['completed', 3],
      ]);
      expect(coord.engine.plaintextUpdatesOpened).toBe(0);
      await waitForRunEnd(tab, 60_000);
      const hook = await readHook(tab);
      expect(hook.errors).toEqual([]);
      // The masked vector: one uint32 word per parameter plus the example count.
      expect(hook.rounds.map((r) => [r.round, r.masked, r.sealed, r.bytes])).toEqual(
        [1, 2].map((round) => [round, true, false, 4 * (coord.context.model.numParams + 1)]),
      );
      await expect(tab.locator('#rounds-body').textContent()).resolves.toMatch(/masked \(secure aggregation\)/);

      // Epsilon after every round, as the accountant computed it, on the join page and the dashboard.
      const eps = [1, 2].map((t) => epsilonOf(1, z, t, delta).epsilon);
      expect(coord.store.rounds.map((r) => r.privacy?.epsilon)).toEqual(eps.map((e) => expect.closeTo(e, 9)));
      await expect(tab.textContent('#global-line')).resolves.toContain(`Differential privacy spent so far: ε = ${eps[1]!.toFixed(2)} at δ = ${delta}.`);
      await expect(tab.textContent('#state')).resolves.toContain(`differential privacy ε = ${eps[1]!.toFixed(2)} at δ = ${delta}`);
      await dash.waitForFunction(() => document.querySelector('#phase')?.getAttribute('data-phase') === 'finished', null, { timeout: 30_000, polling: 100 });
      await expect(dash.textContent('#config')).resolves.toContain(`distributed differential privacy: ε = ${eps[1]!.toFixed(3)} at δ = ${delta} after round 2`);
      const cells = await dash.$$eval('#rounds-body tr.completed', (rows) => rows.map((tr) => tr.querySelectorAll('td')[6]?.textContent));
      expect(cells).toEqual([eps[1]!.toFixed(2), eps[0]!.toFixed(2)]);
      await screenshot(tab, 'join-secure.png');
      await screenshot(dash, 'dashboard-dp.png');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  });

  test('the dashboard lists connected clients with platform, backend, examples and rounds', async () => {
    const coord = await startTestCoordinator(
      // Two are needed to start, so the tab sits in "waiting" while the dashboard shows it, and
      // attempts are abandoned for want of clients (with their reason on the dashboard).
      { model: 'mlp', rounds: 1, fit: FIT, waitTimeoutMs: 1000, selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } },
    );
    const context = await browser.newContext();
    try {
      const dash = await context.newPage();
      await dash.goto(`${coord.url}/`);
      const tab = await context.newPage();
      await openJoinPage(tab, coord.url, TEST_TOKEN);
      await joinWithDemo(tab);
      await dash.waitForSelector('#clients-body tr[data-client]', { timeout: 30_000 });
      const row = await dash.locator('#clients-body tr[data-client] > *').allTextContents();
      expect(row.slice(1, 5)).toEqual(['browser', 'webgl', '300', '0']);
      await tab.waitForFunction(() => window.__fedlink?.state === 'waiting');
      await expect(tab.textContent('#state')).resolves.toMatch(/Waiting to be selected/);
      await dash.waitForFunction(
        () => [...document.querySelectorAll('#rounds-body tr.reason')].some((tr) => tr.textContent === 'Abandoned: only 1 of 2 required clients connected within 1s'),
        null,
        { timeout: 30_000 },
      );
      await expect(dash.textContent('#phase-text')).resolves.toMatch(/1 of 2 connected/);
      await screenshot(dash, 'dashboard-waiting.png');

      // The coordinator goes away without ending the run (as in a crash): the tab says so and
      // keeps trying to reconnect.
      await coord.app.close();
      await tab.waitForFunction(() => window.__fedlink?.state === 'connecting', null, { timeout: 30_000 });
      await expect(tab.textContent('#state')).resolves.toMatch(/reconnecting/);
      await dash.waitForSelector('#live[data-live="lost"]', { timeout: 30_000 });
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 120_000);

  test('a tab that takes part in 20 rounds ends with as many tensors as it began', async () => {
    const coord = await startTestCoordinator(
      { model: 'mlp', rounds: 20, fit: { ...FIT, batchSize: 50 }, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } },
      { testData: subset(mnist.test, range(0, 200)) },
    );
    const context = await browser.newContext();
    try {
      const tab = await context.newPage();
      await openJoinPage(tab, coord.url, TEST_TOKEN);
      await joinWithDemo(tab);
      await waitForRunEnd(tab, 240_000);
      const hook = await readHook(tab);
      expect(hook.errors).toEqual([]);
      expect(hook.runEnd).toMatchObject({ status: 'finished', rounds: 20 });
      expect(hook.rounds.filter((r) => r.sealed)).toHaveLength(20);
      // While joined the tab holds exactly its model's weights, every round alike...
      const during = hook.rounds.map((r) => r.numTensors);
      expect(new Set(during).size).toBe(1);
      expect(during[0]).toBe(coord.context.model.manifest.length);
      // ...and after the run, what it held before joining.
      expect(hook.baselineTensors).not.toBeNull();
      expect(hook.numTensors).toBe(hook.baselineTensors);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 300_000);
});
