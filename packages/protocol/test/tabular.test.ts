import { FedlinkError, TabularStatsSchema, parseMessage } from '@fedlink/protocol';

const stats = {
  label: 'price',
  task: 'regression',
  target: { mean: 250, std: 90 },
  features: [
    { name: 'area', kind: 'numeric', mean: 110, std: 49 },
    { name: 'district', kind: 'categorical', categories: ['A', 'B'] },
    { name: 'user', kind: 'id', categories: ['u1'] },
  ],
};

test('welcome.data: valid statistics parse unchanged', () => {
  expect(parseMessage(TabularStatsSchema, stats, 'stats')).toEqual(stats);
});

test('welcome.data: a zero std, a missing target or classes, an unknown kind or key are refused with the field named', () => {
  const bad = (value: unknown): string => {
    try {
      parseMessage(TabularStatsSchema, value, 'stats');
    } catch (e) {
      expect(e).toBeInstanceOf(FedlinkError);
      return (e as Error).message;
    }
    throw new Error('parsed');
  };
  expect(bad({ ...stats, features: [{ name: 'area', kind: 'numeric', mean: 1, std: 0 }] })).toMatch(/features\.0\.std: must be > 0/);
  expect(bad({ ...stats, target: undefined })).toMatch(/regression stats need target/);
  expect(bad({ label: 'y', task: 'classification', features: stats.features })).toMatch(/classification stats need classes/);
  expect(bad({ ...stats, features: [{ name: 'x', kind: 'text' }] })).toMatch(/features\.0/);
  expect(bad({ ...stats, extra: 1 })).toMatch(/extra/);
  expect(bad({ ...stats, features: [] })).toMatch(/features/);
});
