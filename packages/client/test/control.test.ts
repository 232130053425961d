import { ClientControl } from '@fedlink/client';

// The client's c_i is committed only once the round its update counted for completes.
const end = (round: number, status: 'completed' | 'abandoned') => ({ runId: 'run_a', round, status, participants: 2, metrics: {} });

test('zeros at a run\'s first round; committed on round:end completed, dropped on abandoned', () => {
  const c = new ClientControl();
  expect(Array.from(c.startRound('run_a', 1, 2))).toEqual([0, 0]);
  c.propose('run_a', 1, Float32Array.of(1, 2));
  expect(c.current('run_a')).toBeUndefined();
  c.roundEnded(end(1, 'completed'));
  expect(Array.from(c.current('run_a')!)).toEqual([1, 2]);
  expect(Array.from(c.startRound('run_a', 2, 2))).toEqual([1, 2]);
  c.propose('run_a', 2, Float32Array.of(3, 4));
  c.roundEnded(end(2, 'abandoned'));
  expect(Array.from(c.startRound('run_a', 2, 2))).toEqual([1, 2]);
});

test('a later round:start commits, the same round (retry, resumed coordinator) drops; a welcome before the round drops; a new run starts at zeros', () => {
  const c = new ClientControl();
  c.propose('run_a', 1, Float32Array.of(1, 1));
  expect(Array.from(c.startRound('run_a', 2, 2))).toEqual([1, 1]);
  c.propose('run_a', 2, Float32Array.of(2, 2));
  expect(Array.from(c.startRound('run_a', 2, 2))).toEqual([1, 1]);
  c.propose('run_a', 2, Float32Array.of(2, 2));
  c.rejoined('run_a', 1);
  expect(Array.from(c.startRound('run_a', 3, 2))).toEqual([1, 1]);
  c.propose('run_a', 3, Float32Array.of(3, 3));
  c.rejoined('run_a', 3);
  expect(Array.from(c.startRound('run_a', 4, 2))).toEqual([3, 3]);
  expect(Array.from(c.startRound('run_b', 1, 2))).toEqual([0, 0]);
  expect(c.current('run_a')).toBeUndefined();
  c.propose('run_b', 1, Float32Array.of(1, 1, 1));
  expect(() => c.startRound('run_b', 2, 2)).toThrow(/3 entries, the model 2/);
});
