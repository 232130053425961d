import { FedlinkClient, TabularTrainer } from '@fedlink/client';
import { baselineOf, computeTabularStats, encodeTable, parseCsv, tableSubset } from '@fedlink/ml';
import { loadTable } from '@fedlink/ml/node';
import { FedlinkError } from '@fedlink/protocol';
import { TEST_TOKEN, runClientUntilEnd, startTestCoordinator } from '../helpers/coordinator.js';

/** Joins with these rows; resolves with the error the client's run ended with (undefined: it finished). */
const joinWith = (url: string, trainer: TabularTrainer): Promise<unknown> => runClientUntilEnd(url, trainer);

describe('csv data: the coordinator fixes the statistics, clients encode their rows with them', () => {
  test('tabular-mlp regression over serve + two joins: stats in the welcome, RMSE recorded and below the mean predictor', async () => {
    const { train, test } = await loadTable('housing');
    const stats = computeTabularStats(train, { label: 'price' });
    const testData = encodeTable(test, stats);
    const coord = await startTestCoordinator(
      { model: 'tabular-mlp', data: stats, rounds: 3, fit: { epochs: 1, batchSize: 32, learningRate: 0.05, proximalMu: 0 }, selection: { fraction: 1, minFit: 2, minAvailable: 2, overSelect: 0 } },
      { testData },
    );
    try {
      const halves = [tableSubset(train, Array.from({ length: 800 }, (_, i) => i)), tableSubset(train, Array.from({ length: 800 }, (_, i) => i + 800))];
      const welcomes: unknown[] = [];
      const clients = halves.map((rows) => {
        const c = new FedlinkClient({ url: coord.url, token: TEST_TOKEN, trainer: new TabularTrainer(rows, { holdout: 0.1 }), platform: 'node', backend: 'test', reconnect: false });
        c.on('welcome', (w) => welcomes.push(w.data));
        return c;
      });
      await Promise.all(clients.map((c) => c.run()));
      expect(welcomes).toEqual([stats, stats]);
      const end = await coord.done;
      expect(end.status).toBe('finished');
      const rounds = coord.store.rounds.filter((r) => r.status === 'completed');
      expect(rounds).toHaveLength(3);
      for (const r of rounds) {
        expect(r.testAccuracy).toBeUndefined();
        expect(r.trainAccuracy).toBeUndefined();
        expect(r.federatedEval?.examples).toBe(160);
        expect(r.federatedEval?.rmse).toBeGreaterThan(0);
      }
      const base = baselineOf(encodeTable(train, stats), testData);
      expect(base.kind).toBe('mean');
      expect(rounds[2]!.testRmse!).toBeLessThan(rounds[0]!.testRmse!);
      expect(rounds[2]!.testRmse!).toBeLessThan((base as { rmse: number }).rmse);
      expect(rounds[2]!.testMae!).toBeLessThan(rounds[2]!.testRmse!);
    } finally {
      await coord.cleanup();
    }
  });

  test('bad rows: typed errors at join (unsupported), and the run goes on for a good client', async () => {
    const table = parseCsv(['size,colour,grade', ...Array.from({ length: 20 }, (_, i) => `${i},${i % 2 ? 'red' : 'blue'},${i % 3 === 0 ? 'a' : 'b'}`)].join('\n'));
    const stats = computeTabularStats(table, { label: 'grade' });
    const coord = await startTestCoordinator({ model: 'tabular-mlp', data: stats, rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
    try {
      const bad = async (csv: string): Promise<FedlinkError> => {
        const e = await joinWith(coord.url, new TabularTrainer(parseCsv(csv), { source: 'mine.csv' }));
        expect(e).toBeInstanceOf(FedlinkError);
        expect((e as FedlinkError).code).toBe('unsupported');
        return e as FedlinkError;
      };
      expect((await bad('size,colour\n1,red\n')).message).toBe("mine.csv: no label column 'grade'; the columns are size, colour");
      expect((await bad('size,colour,grade\n1,red,z\n')).message).toBe("mine.csv: row 1: label 'z' is outside the model's 2 classes (a, b)");
      expect((await bad('size,colour,grade\n1,red,a\nlots,red,b\n')).message).toBe("mine.csv: row 2: column 'size' is numeric but holds 'lots'");
      // An empty shard is refused before connecting.
      expect(() => new TabularTrainer({ header: table.header, rows: [] })).toThrow("no training rows: this client's data (or its shard) is empty");
      // Nothing else broken: a good client still trains the run to its end.
      expect(await joinWith(coord.url, new TabularTrainer(table))).toBeUndefined();
      expect((await coord.done).status).toBe('finished');
      expect(coord.store.rounds.filter((r) => r.status === 'completed')).toHaveLength(1);
    } finally {
      await coord.cleanup();
    }
  });

  test('a client holding csv rows refuses a run that sends no statistics', async () => {
    const coord = await startTestCoordinator({ model: 'mlp', rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } });
    try {
      const e = await joinWith(coord.url, new TabularTrainer(parseCsv('a,b\n1,2\n')));
      expect((e as FedlinkError).message).toBe('this client holds CSV rows, but the coordinator sent no tabular statistics (is it serving csv data?)');
    } finally {
      await coord.cleanup();
    }
  });

  test('a tabular zoo model without statistics is a ModelError at start', async () => {
    await expect(startTestCoordinator({ model: 'recommender', rounds: 1, selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 } })).rejects.toThrow(
      'recommender is a tabular model: it needs csv data (--data csv:<file> --label <column>, or --stats)',
    );
  });
});
