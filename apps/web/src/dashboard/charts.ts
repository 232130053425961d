import { fill, h, svg } from '../shared/dom.js';

/**
 * Hand-written SVG charts: a few hundred points at most, redrawn whole on each change. Every point
 * is a circle (line charts) or a rect (bar charts) with `data-point` and a <title>, so pointer and
 * screen-reader users can read exact values, and tests can count them.
 */
export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  /** CSS class that colours it (see styles.css). */
  cls: string;
  points: Point[];
}

export interface ChartSpec {
  title: string;
  kind: 'line' | 'bars';
  series: Series[];
  xLabel: string;
  yFormat: (y: number) => string;
  /** Fixed y range (e.g. 0..1 for accuracy); otherwise from the data, starting at 0. */
  yMax?: number;
  /** Ticks at round numbers of this base's powers (1024 for bytes: 200 KiB, not 195 KiB). */
  yBase?: number;
  empty: string;
}

const W = 480;
const H = 220;
// Room on the left for the widest tick label ("800 KiB") at the larger phone font size.
const M = { left: 76, right: 14, top: 12, bottom: 36 };

/** About `count` round numbers spanning [0, max]. */
export function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

export function ticksFor(max: number, base = 10): number[] {
  if (base === 10 || !(max > 0)) return niceTicks(max);
  let unit = base ** Math.max(0, Math.floor(Math.log(max) / Math.log(base)));
  // A top tick of 1000 KiB reads better (and fits) as 1.0 MiB.
  if (niceTicks(max / unit).at(-1)! >= 1000) unit *= base;
  return niceTicks(max / unit).map((t) => t * unit);
}

/** Integer x ticks (rounds), at most `count` of them. */
export function roundTicks(min: number, max: number, count = 8): number[] {
  const step = Math.max(1, Math.ceil((max - min + 1) / count));
  const ticks: number[] = [];
  for (let x = min; x <= max; x += step) ticks.push(x);
  return ticks;
}

export function renderChart(host: HTMLElement, spec: ChartSpec): void {
  const all = spec.series.flatMap((s) => s.points);
  const legend = h('ul', { class: 'legend' }, ...spec.series.map((s) => h('li', {}, h('span', { class: `swatch ${s.cls}`, 'aria-hidden': 'true' }), s.name)));
  if (all.length === 0) {
    fill(host, h('p', { class: 'chart-empty muted' }, spec.empty));
    return;
  }
  const xs = all.map((p) => p.x);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yTicks = ticksFor(spec.yMax ?? Math.max(...all.map((p) => p.y)), spec.yBase);
  const yTop = spec.yMax ?? yTicks[yTicks.length - 1]!;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const bars = spec.kind === 'bars';
  const slots = xMax - xMin + 1;
  // Lines put rounds on grid points; bars put them in the middle of equal slots.
  const xAt = (x: number) => (bars ? M.left + ((x - xMin + 0.5) / slots) * plotW : M.left + (slots === 1 ? plotW / 2 : ((x - xMin) / (xMax - xMin)) * plotW));
  const yAt = (y: number) => M.top + plotH - (Math.max(0, Math.min(y, yTop)) / (yTop || 1)) * plotH;

  const grid = yTicks.map((t) =>
    svg('g', { class: 'tick' }, svg('line', { x1: M.left, x2: W - M.right, y1: yAt(t), y2: yAt(t) }), svg('text', { x: M.left - 6, y: yAt(t) + 4, 'text-anchor': 'end' }, spec.yFormat(t))),
  );
  const xTicks = roundTicks(xMin, xMax).map((x) => svg('text', { class: 'xtick', x: xAt(x), y: H - M.bottom + 16, 'text-anchor': 'middle' }, String(x)));
  const marks = spec.series.map((s, si) => {
    const title = (p: Point) => svg('title', {}, `${s.name}, round ${p.x}: ${spec.yFormat(p.y)}`);
    if (bars) {
      const slotW = plotW / slots;
      const barW = Math.max(1, (slotW * 0.8) / spec.series.length);
      return svg(
        'g',
        { class: `series ${s.cls}` },
        ...s.points.map((p) =>
          svg('rect', { 'data-point': '', 'data-series': s.name, 'data-x': p.x, x: xAt(p.x) - (slotW * 0.8) / 2 + si * barW, y: yAt(p.y), width: barW, height: Math.max(0, M.top + plotH - yAt(p.y)) }, title(p)),
        ),
      );
    }
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    return svg(
      'g',
      { class: `series ${s.cls}` },
      pts.length > 1 ? svg('polyline', { points: pts.map((p) => `${xAt(p.x).toFixed(1)},${yAt(p.y).toFixed(1)}`).join(' ') }) : null,
      ...pts.map((p) => svg('circle', { 'data-point': '', 'data-series': s.name, 'data-x': p.x, cx: xAt(p.x), cy: yAt(p.y), r: 3.5 }, title(p))),
    );
  });
  const latest = spec.series
    .filter((s) => s.points.length)
    .map((s) => {
      const last = s.points.reduce((a, b) => (b.x > a.x ? b : a));
      return `${s.name} ${spec.yFormat(last.y)} at round ${last.x}`;
    })
    .join('; ');
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${spec.title}: ${all.length} points; latest ${latest}`, preserveAspectRatio: 'xMidYMid meet' },
    ...grid,
    svg('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: M.top + plotH, y2: M.top + plotH }),
    ...xTicks,
    svg('text', { class: 'xlabel', x: M.left + plotW / 2, y: H - 4, 'text-anchor': 'middle' }, spec.xLabel),
    ...marks,
  );
  fill(host, chart, legend);
}
