import type { DashboardClient, DashboardRound, DashboardRun, DashboardSnapshot, Phase } from '@fedlink/protocol/dashboard';
import { byId, fill, h } from '../shared/dom.js';
import { formatAgo, formatBytes, formatInt, formatNumber, formatPercent, formatSeconds } from '../shared/format.js';
import { renderChart } from './charts.js';
import type { DashboardState } from './state.js';

/** Every phase in words (a newer coordinator's unknown phase shows without them). */
const PHASE_TEXT: Record<Phase, string> = {
  starting: 'Starting up.',
  waiting: 'Waiting for enough clients to start a round.',
  training: 'Selected clients are training.',
  aggregating: 'Combining the updates.',
  evaluating: 'Testing the new global model.',
  finished: 'The run is finished.',
  stopped: 'The run was stopped.',
};

export function renderAll(state: DashboardState): void {
  const s = state.snap;
  if (!s) return;
  renderPhase(s);
  renderTimeline(s);
  renderCharts(state);
  renderClients(s.clients, Date.now() - state.skewMs);
  renderRoundLog(s.rounds);
  renderConfig(s.run, s);
}

function renderPhase(s: DashboardSnapshot): void {
  const phase = byId('phase');
  phase.dataset.phase = s.phase;
  phase.textContent = s.phase;
  let text = `${PHASE_TEXT[s.phase] ?? ''}`;
  // minAvailable counts leaf clients: an edge stands for the clients it reported.
  const leaves = s.clients.reduce((n, c) => n + (c.edge ? (c.edgeStatus?.clients ?? 0) : 1), 0);
  if (s.phase === 'waiting') text = text.replace(/\.$/, ` (${leaves} of ${s.run.selection.minAvailable} connected).`);
  text += ` Round ${s.round} of ${s.run.rounds} done.`;
  const o = s.openRound;
  if (o && s.phase === 'training') text += ` Round ${o.round}${o.attempt > 1 ? ` (attempt ${o.attempt})` : ''}: ${o.reported} of ${o.target} updates in, ${o.selected} selected${o.rejected ? `, ${o.rejected} rejected` : ''}.`;
  // A cluster node shows the cluster's state; say which node answered and who leads.
  const c = s.cluster;
  if (c) text += ` Cluster of ${c.nodes.length} node${c.nodes.length === 1 ? '' : 's'}, leader ${c.leader?.nodeId ?? 'none yet'}; this page is served by ${c.node}.`;
  byId('phase-text').textContent = text;
}

/** One box per round: done, abandoned attempts marked, the open one highlighted. */
function renderTimeline(s: DashboardSnapshot): void {
  const items: HTMLElement[] = [];
  const abandonedBy = new Map<number, DashboardRound[]>();
  for (const r of s.rounds) if (r.status === 'abandoned') abandonedBy.set(r.round, [...(abandonedBy.get(r.round) ?? []), r]);
  for (let round = 1; round <= s.run.rounds; round++) {
    const done = round <= s.round;
    const open = s.openRound?.round === round || (!done && round === s.round + 1 && s.status === 'running');
    const abandoned = abandonedBy.get(round)?.length ?? 0;
    const status = done ? 'done' : open ? 'open' : 'pending';
    const label = `Round ${round}: ${done ? 'completed' : open ? 'in progress' : 'not started'}${abandoned ? `, ${abandoned} abandoned attempt${abandoned > 1 ? 's' : ''}` : ''}`;
    items.push(h('li', { class: `tl ${status}${abandoned ? ' had-abandoned' : ''}`, 'data-round': round, title: label, 'aria-label': label }, s.run.rounds <= 40 ? String(round) : ''));
  }
  fill(byId('timeline'), ...items);
}

function renderCharts(state: DashboardState): void {
  const done = state.completed();
  const pts = (f: (r: DashboardRound) => number | undefined) =>
    done.flatMap((r) => {
      const y = f(r);
      return y === undefined || !Number.isFinite(y) ? [] : [{ x: r.round, y }];
    });
  renderChart(byId('chart-accuracy'), {
    title: 'Test accuracy per round',
    kind: 'line',
    series: [{ name: 'test accuracy', cls: 's-acc', points: pts((r) => r.testAccuracy) }],
    xLabel: 'round',
    yFormat: (y) => formatPercent(y, 0),
    yMax: 1,
    empty: 'No completed round yet (or the coordinator has no test data).',
  });
  renderChart(byId('chart-loss'), {
    title: 'Loss per round',
    kind: 'line',
    series: [
      { name: 'test loss', cls: 's-loss', points: pts((r) => r.testLoss) },
      { name: 'train loss (clients)', cls: 's-train', points: pts((r) => r.trainLoss) },
    ],
    xLabel: 'round',
    yFormat: (y) => (y >= 10 ? y.toFixed(0) : y.toFixed(2)),
    empty: 'No completed round yet.',
  });
  renderChart(byId('chart-bytes'), {
    title: 'Bytes in and out per round',
    kind: 'bars',
    series: [
      {
        name: state.snap?.run.secureAggregation ? 'in (masked inputs)' : 'in (sealed updates)',
        cls: 's-in',
        points: done.map((r) => ({ x: r.round, y: r.bytesIn })),
      },
      { name: 'out (global model)', cls: 's-out', points: done.map((r) => ({ x: r.round, y: r.bytesOut })) },
    ],
    xLabel: 'round',
    yFormat: formatBytes,
    yBase: 1024,
    empty: 'No completed round yet.',
  });
}

function renderClients(clients: DashboardClient[], now: number): void {
  byId('clients-count').textContent = `(${clients.length})`;
  const rows = [...clients].sort((a, b) => a.joinedAt - b.joinedAt);
  fill(
    byId('clients-body'),
    ...(rows.length
      ? rows.flatMap((c) => [
          h(
            'tr',
            { 'data-client': c.clientId, class: c.edge ? 'edge' : undefined },
            h(
              'th',
              { scope: 'row' },
              h('span', { class: 'client-name' }, c.name ?? 'unnamed', c.edge ? ' ' : null, c.edge ? h('span', { class: 'badge edge' }, 'edge') : null, c.node ? ' ' : null, c.node ? h('span', { class: 'badge node', title: 'the cluster node it is connected to' }, c.node) : null),
              h('span', { class: 'mono muted small' }, c.clientId.slice(0, 8)),
            ),
            h('td', {}, c.platform),
            h('td', {}, c.backend),
            h('td', { class: 'num' }, formatInt(c.numExamples)),
            h('td', { class: 'num' }, String(c.roundsCompleted)),
            h('td', { 'data-last-seen': c.lastSeen }, formatAgo(c.lastSeen, now)),
          ),
          c.edgeStatus ? h('tr', { class: 'edge-detail', 'data-edge': c.clientId }, h('td', { colspan: 6 }, edgeLine(c.edgeStatus))) : null,
        ])
      : [h('tr', { class: 'empty' }, h('td', { colspan: 6 }, 'No client connected.'))]),
  );
}

/** An edge's row below its client row: its state here, its group (leaf clients, examples), its last group, a link to its own dashboard, and its own edges. */
function edgeLine(e: NonNullable<DashboardClient['edgeStatus']>): HTMLElement {
  const last = e.lastRound;
  const attempt = last && last.attempt > 1 ? `, attempt ${last.attempt}` : '';
  const lastText = last
    ? `last group: round ${last.round}${attempt}, ${plural(last.contributors, 'leaf client')}, ${formatInt(last.numExamples)} examples, ${formatBytes(last.bytesIn)} in.`
    : 'no group reported yet.';
  return h(
    'div',
    {},
    h('span', { class: 'edge-group' }, `Edge aggregator: ${EDGE_STATE_TEXT[e.state]}; ${plural(e.clients, 'client')}, ${formatInt(e.examples)} examples under it; ${lastText}`),
    dashboardLink(e.dashboardUrl),
    e.edges?.length
      ? h(
          'ul',
          { class: 'edge-children' },
          ...e.edges.map((c) =>
            h(
              'li',
              { 'data-edge-child': c.clientId },
              h('strong', { class: 'edge-child-name' }, c.name ?? 'unnamed'),
              ' ',
              h('span', { class: 'badge edge' }, 'edge'),
              ' ',
              h('span', { class: 'mono muted small' }, c.clientId.slice(0, 8)),
              ` ${EDGE_STATE_TEXT[c.state]}; ${plural(c.clients, 'client')}, ${formatInt(c.examples)} examples`,
              dashboardLink(c.dashboardUrl),
            ),
          ),
        )
      : null,
  );
}

const EDGE_STATE_TEXT = { idle: 'idle', training: 'training (selected)', reported: 'reported this round', dropped: 'dropped from this round' } as const;

function plural(n: number, what: string): string {
  return `${formatInt(n)} ${what}${n === 1 ? '' : 's'}`;
}

/** A link to an edge's own dashboard: http(s) only (the coordinator checked it; the page checks again). */
function dashboardLink(url: string | undefined): HTMLElement | null {
  if (url === undefined) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  return h('span', {}, ' ', h('a', { href: parsed.href, class: 'edge-dashboard', rel: 'noopener noreferrer', target: '_blank' }, 'dashboard'));
}

/** Refreshes only the relative times, from the local clock: no request involved. */
export function refreshAges(state: DashboardState): void {
  const now = Date.now() - state.skewMs;
  for (const td of document.querySelectorAll<HTMLElement>('[data-last-seen]')) td.textContent = formatAgo(Number(td.dataset.lastSeen), now);
}

/** A run stuck waiting abandons an attempt per wait timeout; the table shows the newest ones. */
const MAX_LOG_ROWS = 200;

function renderRoundLog(rounds: DashboardRound[]): void {
  const all = [...rounds].sort((a, b) => b.round - a.round || b.attempt - a.attempt);
  const rows = all.slice(0, MAX_LOG_ROWS);
  fill(
    byId('rounds-body'),
    ...(rows.length
      ? rows.flatMap((r) => {
          const main = h(
            'tr',
            { class: r.status, 'data-round': r.round, 'data-attempt': r.attempt },
            h('th', { scope: 'row' }, `${r.round}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}`),
            h('td', {}, h('span', { class: `badge ${r.status}` }, r.status)),
            h('td', { class: 'num', title: `${r.selected} selected, ${r.reported} reported, ${r.dropped} dropped, ${r.rejected} rejected` }, `${r.reported}/${r.selected}${r.dropped ? ` · ${r.dropped} dropped` : ''}${r.rejected ? ` · ${r.rejected} rejected` : ''}`),
            h('td', { class: 'num' }, formatPercent(r.testAccuracy)),
            h('td', { class: 'num' }, formatNumber(r.testLoss)),
            h('td', { class: 'num' }, formatNumber(r.trainLoss)),
            h('td', { class: 'num' }, `${formatBytes(r.bytesIn)} / ${formatBytes(r.bytesOut)}`),
            h('td', { class: 'num', ...(r.privacy ? { title: `${r.privacy.mode} DP, δ ${r.privacy.delta}, q ${r.privacy.samplingRate.toFixed(3)}, z ${r.privacy.noiseMultiplier.toFixed(3)}, clip ${r.privacy.clip}, order ${r.privacy.order}` } : {}) }, r.privacy ? r.privacy.epsilon.toFixed(2) : '–'),
            h('td', { class: 'num' }, formatSeconds(r.seconds)),
          );
          return r.reason ? [main, h('tr', { class: 'reason' }, h('td', { colspan: 9 }, `Abandoned: ${r.reason}`))] : [main];
        })
      : [h('tr', { class: 'empty' }, h('td', { colspan: 9 }, 'No round has ended yet.'))]),
    all.length > rows.length ? h('tr', { class: 'empty' }, h('td', { colspan: 9 }, `…and ${all.length - rows.length} older attempts (all in /api/rounds).`)) : null,
  );
}

function renderConfig(run: DashboardRun, s: DashboardSnapshot): void {
  const sel = run.selection;
  const facts: [string, string][] = [
    ['Run', run.runId],
    ['Status', s.status],
    ['Model', `${run.model} (${formatInt(run.numParams)} parameters)`],
    ['Data', run.dataset],
    ['Strategy', run.strategy],
    ['Rounds', String(run.rounds)],
    ['Selection', `${formatPercent(sel.fraction, 0)} of clients, at least ${sel.minFit} updates, ${sel.minAvailable} connected to start, over-select ${formatPercent(sel.overSelect, 0)}`],
    ['Local training', `${run.fit.epochs} epoch${run.fit.epochs > 1 ? 's' : ''}, batch ${run.fit.batchSize}, learning rate ${run.fit.learningRate}${run.fit.proximalMu ? `, FedProx μ ${run.fit.proximalMu}` : ''}`],
    ['Round deadline', formatSeconds(run.roundTimeoutMs / 1000)],
    [
      'Updates',
      run.secureAggregation
        ? 'secure aggregation (SecAgg+): masked, the coordinator sees only the sum'
        : `${run.encoding}, sealed to the coordinator`,
    ],
    ['Coordinator key', run.fingerprint],
  ];
  const spent = [...s.rounds].reverse().find((r) => r.privacy)?.privacy;
  if (spent) facts.splice(facts.length - 1, 0, ['Privacy', `${spent.mode} differential privacy: ε = ${spent.epsilon.toFixed(3)} at δ = ${spent.delta} after round ${[...s.rounds].reverse().find((r) => r.privacy)!.round} (noise multiplier ${spent.noiseMultiplier.toFixed(3)}, clip ${spent.clip})`]);
  fill(byId('config'), ...facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', { class: k === 'Coordinator key' || k === 'Run' ? 'mono' : undefined }, v))));
}
