import type { ClientState } from '@fedlink/client';
import { byId, fill, h } from '../shared/dom.js';
import { formatBytes, formatNumber, formatPercent } from '../shared/format.js';

export interface RoundRow {
  round: number;
  /** Trained locally this round (so it was selected). */
  trained?: boolean;
  loss?: number;
  bytes?: number;
  sealed?: boolean;
  /** Masked for secure aggregation: the coordinator only ever sees the sum. */
  masked?: boolean;
  testAccuracy?: number;
  status?: string;
}

const STATE_TEXT: Record<ClientState, string> = {
  idle: 'Not joined yet.',
  connecting: 'Connecting to the coordinator…',
  joining: 'Joining the run…',
  waiting: 'Joined. Waiting to be selected for a round.',
  training: 'Training on your data…',
  uploading: 'Sending the protected update…',
  done: 'Done.',
  error: 'Error.',
};

/** The join page's DOM: everything it shows, nothing it decides. */
export class JoinView {
  readonly demoButton = byId<HTMLButtonElement>('use-demo');
  readonly folderInput = byId<HTMLInputElement>('folder-input');
  readonly filesInput = byId<HTMLInputElement>('files-input');
  readonly idxInput = byId<HTMLInputElement>('idx-input');
  readonly csvInput = byId<HTMLInputElement>('csv-input');
  readonly form = byId<HTMLFormElement>('join-form');
  readonly token = byId<HTMLInputElement>('token');
  readonly joinButton = byId<HTMLButtonElement>('join');
  readonly leaveButton = byId<HTMLButtonElement>('leave');
  private readonly rows = new Map<number, RoundRow>();

  setModelLine(text: string, isError = false): void {
    const el = byId('model-line');
    el.textContent = text;
    el.classList.toggle('error-text', isError);
  }

  /** Says how this run protects the update: sealed to the coordinator, or masked (secure aggregation). */
  setProtection(secureAggregation: boolean): void {
    const el = byId('protection');
    if (secureAggregation) {
      fill(
        el,
        "the change it made to the model's weights, ",
        h('strong', {}, 'masked'),
        ' with secure aggregation: the coordinator can only ever learn the sum of all participants\' changes, never yours.',
      );
    }
  }

  setModel(text: string): void {
    byId('model').textContent = text;
  }

  setBackend(text: string): void {
    byId('backend').textContent = text;
  }

  setFingerprint(text: string): void {
    byId('fingerprint').textContent = text;
  }

  enableDataChoices(enabled: boolean): void {
    for (const el of [this.demoButton, this.folderInput, this.filesInput, this.idxInput, this.csvInput]) el.disabled = !enabled;
  }

  setDataStatus(text: string, notes: string[] = []): void {
    fill(byId('data-status'), text, ...notes.map((n) => h('span', { class: 'note' }, n)));
  }

  setProblems(problems: string[]): void {
    const box = byId('data-problems');
    box.hidden = problems.length === 0;
    fill(box, problems.length ? h('p', {}, h('strong', {}, 'This data can’t be used, so training won’t start:')) : null, problems.length ? h('ul', {}, ...problems.map((p) => h('li', {}, p))) : null);
  }

  setState(state: ClientState, detail?: string): void {
    const el = byId('state');
    el.dataset.state = state;
    el.textContent = detail ? `${STATE_TEXT[state].replace(/\.$/, '')}: ${detail}` : STATE_TEXT[state];
  }

  setStateText(state: ClientState, text: string): void {
    const el = byId('state');
    el.dataset.state = state;
    el.textContent = text;
  }

  setJoined(joined: boolean): void {
    this.joinButton.hidden = joined;
    this.leaveButton.hidden = !joined;
    this.token.disabled = joined;
  }

  /** Progress within the current epoch (the client's progress events don't carry the epoch count). */
  setProgress(round: number, epoch: number, batch: number, batches: number, loss: number): void {
    const bar = byId<HTMLProgressElement>('batch-progress');
    bar.max = batches;
    bar.value = batch + 1;
    byId('progress-text').textContent = `Round ${round} · epoch ${epoch + 1} · batch ${batch + 1}/${batches} · loss ${formatNumber(loss)}`;
  }

  updateRound(row: RoundRow): void {
    const prev = this.rows.get(row.round) ?? { round: row.round };
    const next = { ...prev, ...row };
    this.rows.set(row.round, next);
    const body = byId('rounds-body');
    const rows = [...this.rows.values()].sort((a, b) => b.round - a.round);
    fill(
      body,
      ...rows.map((r) =>
        h(
          'tr',
          { 'data-round': r.round },
          h('th', { scope: 'row' }, String(r.round)),
          h('td', {}, formatNumber(r.loss)),
          h('td', {}, sentText(r)),
          h('td', {}, r.status === 'abandoned' ? 'round abandoned' : formatPercent(r.testAccuracy)),
        ),
      ),
    );
  }

  setGlobalLine(text: string): void {
    byId('global-line').textContent = text;
  }
}

function sentText(r: RoundRow): string {
  if (r.bytes !== undefined) {
    return `${formatBytes(r.bytes)}, ${r.masked ? 'masked (secure aggregation)' : r.sealed ? 'sealed' : 'NOT sealed'}`;
  }
  if (r.status === 'rejected') return 'not used by the coordinator';
  if (r.trained) return 'sending…';
  return r.status ? 'not selected' : 'training…';
}
