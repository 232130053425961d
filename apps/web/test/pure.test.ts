// The browser pages' pure parts, without a browser: labels, pixels, chart scales, feed merging.
import { niceTicks, roundTicks, ticksFor } from '../src/dashboard/charts.js';
import { DashboardState } from '../src/dashboard/state.js';
import { toPixels } from '../src/join/data/image-files.js';
import { isSystemFile, labelFromPath, looksLikeImage } from '../src/join/data/labels.js';
import type { DashboardRound, DashboardSnapshot } from '@fedlink/protocol';

describe('labels of picked images', () => {
  test('come from the folder name, else a leading number in the file name', () => {
    expect(labelFromPath('digits/7/a.png', 'a.png', 10)).toEqual({ label: 7 });
    expect(labelFromPath('3/a.png', 'a.png', 10)).toEqual({ label: 3 });
    expect(labelFromPath('', '7_001.png', 10)).toEqual({ label: 7 });
    expect(labelFromPath('', '0.png', 10)).toEqual({ label: 0 });
  });

  test('say what is wrong when a label is missing, not a number, or outside the classes', () => {
    expect(labelFromPath('pets/cat/a.png', 'a.png', 10)).toEqual({ problem: "pets/cat/a.png: folder name 'cat' is not a class number (0–9)" });
    expect(labelFromPath('digits/12/a.png', 'a.png', 10)).toEqual({ problem: "digits/12/a.png: label 12 is outside the model's 10 classes (0–9)" });
    expect(labelFromPath('', '12_a.png', 10)).toEqual({ problem: "12_a.png: label 12 is outside the model's 10 classes (0–9)" });
    expect(labelFromPath('', 'cat.png', 10)).toMatchObject({ problem: expect.stringMatching(/^cat\.png: no label/) });
  });

  test('file kinds: images by type or extension; system files are skipped', () => {
    expect(looksLikeImage('a.png', 'image/png')).toBe(true);
    expect(looksLikeImage('a.jpg', '')).toBe(true);
    expect(looksLikeImage('a.png', 'text/plain')).toBe(false);
    expect(looksLikeImage('notes.txt', '')).toBe(false);
    expect(isSystemFile('.DS_Store')).toBe(true);
    expect(isSystemFile('Thumbs.db')).toBe(true);
    expect(isSystemFile('7.png')).toBe(false);
  });
});

describe('pixels for a greyscale model', () => {
  const spec = { height: 3, width: 3, channels: 1 };
  const rgba = (grey: number[]) => Uint8ClampedArray.from(grey.flatMap((g) => [g, g, g, 255]));

  test('a dark stroke on light paper is inverted to a light stroke on dark', () => {
    const out = new Float32Array(9);
    expect(toPixels(rgba([255, 255, 255, 255, 0, 255, 255, 255, 255]), spec, out)).toBe(true);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  });

  test('MNIST-like images (light on dark) are kept as they are', () => {
    const out = new Float32Array(9);
    expect(toPixels(rgba([0, 0, 0, 0, 255, 0, 0, 0, 0]), spec, out)).toBe(false);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  });
});

describe('chart scales', () => {
  test('y ticks are round numbers covering the data', () => {
    expect(niceTicks(1)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(niceTicks(781)).toEqual([0, 200, 400, 600, 800]);
    expect(niceTicks(0)).toEqual([0]);
  });

  test('byte ticks are round in KiB/MiB, and 1000 KiB becomes 1 MiB', () => {
    expect(ticksFor(781 * 1024, 1024)).toEqual([0, 200, 400, 600, 800].map((k) => k * 1024));
    expect(ticksFor(999 * 1024, 1024)).toEqual([0, 0.25, 0.5, 0.75, 1].map((m) => m * 1024 * 1024));
  });

  test('x ticks are whole rounds, at most eight', () => {
    expect(roundTicks(1, 3)).toEqual([1, 2, 3]);
    expect(roundTicks(1, 100).length).toBeLessThanOrEqual(8);
  });
});

describe('dashboard state', () => {
  const round = (n: number, attempt = 1): DashboardRound => ({
    round: n, attempt, status: 'completed', startedAt: 0, endedAt: 1, seconds: 1, selected: 1, target: 1, reported: 1, dropped: 0, rejected: 0, totalExamples: 10, bytesIn: 1, bytesOut: 1,
  });
  const snapshot = (rounds: DashboardRound[]): DashboardSnapshot => ({
    run: {
      runId: 'run_x', model: 'mlp', numParams: 1, dataset: 'mnist', rounds: 5, strategy: 'fedavg', fingerprint: 'f', secureAggregation: false, encoding: 'float32',
      selection: { fraction: 1, minFit: 1, minAvailable: 1, overSelect: 0 }, fit: { epochs: 1, batchSize: 10, learningRate: 0.1, proximalMu: 0 }, roundTimeoutMs: 1000,
    },
    status: 'running', phase: 'training', round: rounds.length, openRound: null, rounds, clients: [], serverTime: Date.now(),
  });

  test('a round already in a reconnect snapshot is not counted twice', () => {
    const s = new DashboardState();
    s.snapshot(snapshot([round(1)]));
    s.round(round(1));
    s.round(round(2));
    expect(s.completed().map((r) => r.round)).toEqual([1, 2]);
    expect(s.snap!.round).toBe(2);
  });

  test('events before the first snapshot are ignored (the snapshot holds them)', () => {
    const s = new DashboardState();
    s.round(round(1));
    expect(s.ready).toBe(false);
  });
});
