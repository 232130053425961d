import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeIdx } from '@fedlink/ml';
import type { Page } from 'playwright-core';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { browserAndTempDir, collectPageErrors, describeBrowser, joinWithDemo, openJoinPage, screenshot } from './browser.js';
import { encodeGreyPng, strokeImage } from './png.js';

async function writeFiles(root: string, files: Record<string, Uint8Array | string>): Promise<void> {
  for (const [path, data] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), data);
  }
}

/** The problem box shows a message matching `pattern`, and joining stays impossible. */
async function expectRefused(page: Page, pattern: RegExp): Promise<void> {
  await page.waitForFunction(
    (src) => {
      const box = document.querySelector<HTMLElement>('#data-problems');
      return !!box && !box.hidden && new RegExp(src).test(box.textContent ?? '');
    },
    pattern.source,
    { timeout: 30_000 },
  );
  expect(await page.isDisabled('#join')).toBe(true);
  await expect(page.textContent('#data-status')).resolves.toMatch(/No usable data/);
}

describeBrowser('the join page refuses bad data with a message', () => {
  const env = browserAndTempDir('fedlink-join-inputs-');

  test('unreadable image, wrong kind of file, empty folder, labels outside the classes: a message each, and no training', async () => {
    const coord = await startTestCoordinator({ model: 'mlp', rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
    const context = await env.browser.newContext();
    const png = (seed: number) => encodeGreyPng(28, 28, strokeImage(28, seed));
    try {
      const page = await context.newPage();
      await openJoinPage(page, coord.url, TEST_TOKEN);

      // A folder of good images first: the page takes it (so the refusals below are about the data).
      await writeFiles(join(env.dir, 'good'), { '0/a.png': png(1), '0/b.png': png(2), '1/a.png': png(3), '1/.DS_Store': 'x' });
      await page.setInputFiles('#folder-input', join(env.dir, 'good'));
      await page.waitForFunction(() => /Ready: folder good\/: 3 examples in 2 of 10 classes/.test(document.querySelector('#data-status')?.textContent ?? ''));
      await expect(page.textContent('#data-status')).resolves.toMatch(/3 of 3 images had a light background and were inverted/);
      expect(await page.isDisabled('#join')).toBe(false);

      // An unreadable image among good ones.
      await writeFiles(join(env.dir, 'unreadable'), { '3/ok.png': png(4), '3/broken.png': new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5]) });
      await page.setInputFiles('#folder-input', join(env.dir, 'unreadable'));
      await expectRefused(page, /3\/broken\.png: can’t be read as an image|3\/broken\.png: can't be read as an image/);
      await screenshot(page, 'join-bad-input.png');

      // Files of the wrong kind: a text file as an image, an image as an IDX file.
      await page.setInputFiles('#files-input', [{ name: '7_notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') }]);
      await expectRefused(page, /7_notes\.txt: not an image \(text\/plain\)/);
      await page.setInputFiles('#idx-input', [{ name: 'train-images-idx3-ubyte', mimeType: 'application/octet-stream', buffer: Buffer.from(png(5)) }]);
      await expectRefused(page, /train-images-idx3-ubyte: bad magic number \(not an IDX file\)/);

      // An empty folder.
      await mkdir(join(env.dir, 'empty'), { recursive: true });
      await page.setInputFiles('#folder-input', join(env.dir, 'empty'));
      await expectRefused(page, /holds no images/);

      // Labels outside the model's 10 classes: a folder named 12, a name that is no class, an IDX label of 11.
      await writeFiles(join(env.dir, 'outside'), { '12/a.png': png(6), '4/b.png': png(7) });
      await page.setInputFiles('#folder-input', join(env.dir, 'outside'));
      await expectRefused(page, /outside\/12\/a\.png: label 12 is outside the model's 10 classes \(0–9\)/);
      await page.setInputFiles('#files-input', [{ name: 'cat.png', mimeType: 'image/png', buffer: Buffer.from(png(8)) }]);
      await expectRefused(page, /cat\.png: no label/);
      await page.setInputFiles('#idx-input', [
        { name: 'train-images-idx3-ubyte', mimeType: 'application/octet-stream', buffer: Buffer.from(encodeIdx([2, 28, 28], new Uint8Array(2 * 784))) },
        { name: 'train-labels-idx1-ubyte', mimeType: 'application/octet-stream', buffer: Buffer.from(encodeIdx([2], new Uint8Array([3, 11]))) },
      ]);
      await expectRefused(page, /train-labels-idx1-ubyte: label 11 of example 1 is outside 0\.\.9/);

      // Nothing of this ever reached the coordinator: no client joined, no round started.
      await page.click('#join', { force: true });
      expect(await page.evaluate(() => window.__fedlink?.state)).toBe('idle');
      expect(coord.registry.size).toBe(0);
      expect(coord.engine.phase).toBe('waiting');
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 120_000);

  test('?backend=wasm starts the wasm backend from the served binaries, threads allowed', async () => {
    const coord = await startTestCoordinator({ model: 'mlp', rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
    const context = await env.browser.newContext();
    const errors: string[] = [];
    try {
      const page = await context.newPage();
      collectPageErrors(page, errors);
      await page.goto(`${coord.url}/join?backend=wasm`);
      await page.waitForFunction(() => window.__fedlink?.backend, null, { timeout: 60_000 });
      expect(await page.evaluate(() => [window.__fedlink?.backend, crossOriginIsolated])).toEqual(['wasm', true]);
      // A blocked thread worker shows up as a page error (the CSP must let wasm threads start).
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 120_000);

  test('a wrong join token ends in an error state that says why', async () => {
    const coord = await startTestCoordinator({ model: 'mlp', rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
    const context = await env.browser.newContext();
    try {
      const page = await context.newPage();
      await openJoinPage(page, coord.url, 'not-the-token');
      await joinWithDemo(page);
      await page.waitForFunction(() => window.__fedlink?.state === 'error', null, { timeout: 30_000 });
      await expect(page.textContent('#state')).resolves.toMatch(/^Error: the coordinator refused the join token \(join token is not valid for this coordinator\)/);
      // Fatal: the page does not retry, and lets the person fix the token and join again.
      expect(await page.isDisabled('#join')).toBe(false);
      expect(coord.registry.size).toBe(0);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  }, 120_000);
});
