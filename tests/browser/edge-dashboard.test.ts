import { FedlinkClient } from '@fedlink/client';
import type { Browser } from 'playwright-core';
import { FixedDeltaTrainer, testVector } from '../helpers/fixed-trainer.js';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { startTestEdge } from '../helpers/edge.js';
import { collectPageErrors, describeBrowser, launchBrowser, screenshot } from './browser.js';

// The root's dashboard shows the tree: its edges with the leaf clients and examples each reported,
// a link to each edge's own dashboard, and one level further down, the edges of an edge.

const waitFor = { fraction: 1, minFit: 1, overSelect: 0 };

describeBrowser('the root dashboard of a running tree in headless Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  test('shows each edge with its clients and examples, links to its dashboard, and lists the edges of an edge', async () => {
    // The root waits for more leaves than will come, so the tree stands still while the page is read.
    const root = await startTestCoordinator({ rounds: 1, selection: { ...waitFor, minAvailable: 50 } });
    const plain = await startTestEdge(root, { selection: { ...waitFor, minAvailable: 50 } }, { name: 'edge-a' });
    const middle = await startTestEdge(root, { selection: { ...waitFor, minAvailable: 50 } }, { name: 'edge-b' });
    const lower = await startTestEdge(await middle.ready, { selection: { ...waitFor, minAvailable: 50 } }, { name: 'edge-b1' });
    const clients: FedlinkClient[] = [];
    const context = await browser.newContext();
    const errors: string[] = [];
    try {
      const [a, b, b1] = await Promise.all([plain.ready, middle.ready, lower.ready]);
      const join = (at: { url: string; fingerprint: string }, examples: number, name: string) => {
        const c = new FedlinkClient({ url: at.url, token: TEST_TOKEN, trainer: new FixedDeltaTrainer(examples, (r, n) => testVector(n, r, 0.01)), platform: 'node', backend: 'test', serverFingerprint: at.fingerprint, name });
        clients.push(c);
        void c.run().catch(() => undefined);
      };
      // edge-a: 2 leaves (100 + 150 examples); edge-b: no leaf of its own, edge-b1 under it with 3 (3 x 40).
      join(a, 100, 'leaf-a0');
      join(a, 150, 'leaf-a1');
      for (let i = 0; i < 3; i++) join(b1, 40, `leaf-b1-${i}`);

      const dash = await context.newPage();
      collectPageErrors(dash, errors);
      await dash.goto(`${root.url}/`);
      const line = (id: string) => dash.locator(`#clients-body tr.edge-detail[data-edge="${id}"]`);
      const idOf = (name: string) => root.registry.sessions().find((s) => s.name === name)!.clientId;
      // What each edge reported arrives live (edge:summary -> the root's feed).
      await dash.waitForFunction(
        ([ida, idb]) => {
          const text = (id: string) => document.querySelector(`#clients-body tr.edge-detail[data-edge="${id}"] .edge-group`)?.textContent ?? '';
          return text(ida!).includes('2 clients, 250 examples') && text(idb!).includes('3 clients, 120 examples');
        },
        [idOf('edge-a'), idOf('edge-b')],
        { timeout: 30_000 },
      );
      // Each edge's row: its name and the edge badge.
      const names = await dash.locator('#clients-body tr.edge .client-name').allTextContents();
      expect(names.sort()).toEqual(['edge-a edge', 'edge-b edge']);
      await expect(line(idOf('edge-a')).locator('.edge-group').textContent()).resolves.toBe('Edge aggregator: idle; 2 clients, 250 examples under it; no group reported yet.');
      // A link to each edge's own dashboard, the URL it listens on.
      await expect(line(idOf('edge-a')).locator('a.edge-dashboard').getAttribute('href')).resolves.toBe(`${a.url}/`);
      // (the first link on edge-b's line is its own; the one in its list is its edge's)
      await expect(line(idOf('edge-b')).locator('a.edge-dashboard').first().getAttribute('href')).resolves.toBe(`${b.url}/`);
      // edge-b's own edge, one level further down: its name, clients, examples and dashboard link.
      const child = line(idOf('edge-b')).locator('ul.edge-children li');
      await expect(child.count()).resolves.toBe(1);
      await expect(child.textContent()).resolves.toMatch(/^edge-b1 edge [0-9a-z]{8} idle; 3 clients, 120 examples dashboard$/);
      await expect(child.locator('a.edge-dashboard').getAttribute('href')).resolves.toBe(`${b1.url}/`);
      // The waiting line counts leaves, as minAvailable does.
      await expect(dash.textContent('#phase-text')).resolves.toMatch(/\(5 of 50 connected\)/);
      await screenshot(dash, 'dashboard-edge-tree.png');
      // The linked page is the edge's own dashboard, listing its leaves.
      const edgePage = await context.newPage();
      collectPageErrors(edgePage, errors);
      await edgePage.goto(`${a.url}/`);
      await edgePage.waitForFunction(() => document.querySelectorAll('#clients-body tr[data-client]').length === 2, null, { timeout: 30_000 });
      expect((await edgePage.locator('#clients-body tr[data-client] .client-name').allTextContents()).sort()).toEqual(['leaf-a0', 'leaf-a1']);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      for (const c of clients) c.stop();
      await lower.cleanup();
      await Promise.all([plain.cleanup(), middle.cleanup()]);
      await root.cleanup();
    }
  }, 120_000);
});
