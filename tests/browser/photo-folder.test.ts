import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { SHAPE_CLASSES, writeShapeImages } from '@fedlink/ml/node';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { browserAndTempDir, collectPageErrors, describeBrowser, openJoinPage, readHook, screenshot, waitForRunEnd } from './browser.js';

describeBrowser('the join page takes a folder of photos (one sub-folder per class) for an RGB model', () => {
  const env = browserAndTempDir('fedlink-photo-folder-');

  test('RGB photos of several sizes, decoded and resized to 32x32x3 in the tab; a cifar-cnn round trains', async () => {
    const photos = join(env.dir, 'photos');
    // 4 classes x 3 RGB PNGs of 24..40 px (sharp writes them here; the tab decodes them), in
    // sub-folders named by class number, as the join page reads them.
    expect(await writeShapeImages(photos, 3, 5)).toBe(12);
    for (const [i, name] of SHAPE_CLASSES.entries()) await rename(join(photos, name), join(photos, String(i)));
    const coord = await startTestCoordinator({ model: 'cifar-cnn', rounds: 1, fit: { epochs: 1, batchSize: 4, learningRate: 0.05, proximalMu: 0 }, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
    const context = await env.browser.newContext();
    const errors: string[] = [];
    try {
      const page = await context.newPage();
      collectPageErrors(page, errors);
      await openJoinPage(page, coord.url, TEST_TOKEN);
      await page.setInputFiles('#folder-input', photos);
      await page.waitForFunction(() => /Ready: folder photos\/: 12 examples in 4 of 10 classes/.test(document.querySelector('#data-status')?.textContent ?? ''), null, { timeout: 60_000 });
      await page.click('#join');
      await waitForRunEnd(page, 300_000);
      const hook = await readHook(page);
      await screenshot(page, 'join-photo-folder.png');
      expect(hook.errors).toEqual([]);
      expect(hook.examples).toBe(12);
      expect(hook.runEnd?.status).toBe('finished');
      expect(hook.rounds.filter((r) => r.loss !== undefined)).toHaveLength(1);
      expect(Number.isFinite(hook.rounds.find((r) => r.loss !== undefined)!.loss)).toBe(true);
      expect(errors).toEqual([]);
      expect((await coord.done).rounds).toBe(1);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 400_000);
});
