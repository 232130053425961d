import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { computeTabularStats, encodeTable, tableSubset } from '@fedlink/ml';
import { loadTable } from '@fedlink/ml/node';
import { TEST_TOKEN, startTestCoordinator } from '../helpers/coordinator.js';
import { browserAndTempDir, collectPageErrors, describeBrowser, openJoinPage, readHook, waitForRunEnd } from './browser.js';

const toCsv = (header: string[], rows: string[][]) => [header.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';

describeBrowser('the join page trains on a CSV file with the coordinator\'s statistics', () => {
  const env = browserAndTempDir('fedlink-csv-join-');

  test('a CSV file of housing rows: regression rounds with test RMSE falling; a ragged file refused before joining', async () => {
    const { train, test } = await loadTable('housing');
    const stats = computeTabularStats(train, { label: 'price' });
    const coord = await startTestCoordinator(
      { model: 'tabular-mlp', data: stats, rounds: 2, fit: { epochs: 1, batchSize: 32, learningRate: 0.05, proximalMu: 0 }, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } },
      { testData: encodeTable(test, stats) },
    );
    const context = await env.browser.newContext();
    const errors: string[] = [];
    try {
      const page = await context.newPage();
      collectPageErrors(page, errors);
      await openJoinPage(page, coord.url, TEST_TOKEN);
      // A ragged file: refused with the reader's message, no joining.
      await writeFile(join(env.dir, 'ragged.csv'), 'area,price\n1,2\n3\n');
      await page.setInputFiles('#csv-input', join(env.dir, 'ragged.csv'));
      await page.waitForFunction(() => /ragged\.csv: line 3: 1 fields, the header has 2 \(a ragged row\)/.test(document.querySelector('#data-problems')?.textContent ?? ''));
      expect(await page.isDisabled('#join')).toBe(true);

      const mine = tableSubset(train, Array.from({ length: 400 }, (_, i) => i));
      await writeFile(join(env.dir, 'houses.csv'), toCsv(mine.header, mine.rows));
      await page.setInputFiles('#csv-input', join(env.dir, 'houses.csv'));
      await page.waitForFunction(() => /Ready: houses\.csv \(columns area, rooms, age, distance_km, district, price\): 400 rows/.test(document.querySelector('#data-status')?.textContent ?? ''));
      await page.click('#join');
      await waitForRunEnd(page, 120_000);
      const hook = await readHook(page);
      expect(hook.runEnd?.status).toBe('finished');
      expect(hook.examples).toBe(400);
      const rounds = coord.store.rounds.filter((r) => r.status === 'completed');
      expect(rounds).toHaveLength(2);
      expect(rounds.every((r) => r.totalExamples === 400 && r.testRmse! > 0 && r.testAccuracy === undefined)).toBe(true);
      expect(rounds[1]!.testRmse!).toBeLessThan(rounds[0]!.testRmse!);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await coord.cleanup();
    }
  });

  test('a CSV file without the run\'s label column: a typed error at join, shown on the page', async () => {
    const { train } = await loadTable('housing');
    const stats = computeTabularStats(train, { label: 'price' });
    const coord = await startTestCoordinator({ model: 'tabular-mlp', data: stats, rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
    const context = await env.browser.newContext();
    try {
      const page = await context.newPage();
      await openJoinPage(page, coord.url, TEST_TOKEN);
      await writeFile(join(env.dir, 'nolabel.csv'), 'area,rooms,age,distance_km,district\n50,2,10,3.5,A\n');
      await page.setInputFiles('#csv-input', join(env.dir, 'nolabel.csv'));
      await page.waitForSelector('#join:not([disabled])', { timeout: 30_000 });
      await page.click('#join');
      await waitForRunEnd(page, 60_000);
      const hook = await readHook(page);
      expect(hook.state).toBe('error');
      await expect(page.textContent('body')).resolves.toContain("nolabel.csv: no label column 'price'");
    } finally {
      await context.close();
      await coord.cleanup();
    }
  });
});
