import * as tf from '@tensorflow/tfjs';
import { FedlinkClient, TabularTrainer, TfjsTrainer } from '@fedlink/client';
import type { CsvTable, ImageDataset } from '@fedlink/ml';
import type { FedlinkError, RunEnd } from '@fedlink/protocol';
import { formatInt } from '../shared/format.js';
import { type DebugHook, roundEntry } from './debug-hook.js';
import type { JoinView } from './view.js';

export interface SessionOptions {
  /** Images, or (a CSV file) raw rows that TabularTrainer encodes with the welcome's statistics. */
  dataset?: ImageDataset;
  table?: CsvTable;
  /** The CSV file's name, for the errors of its rows. */
  tableName?: string;
  backend: string;
  token: string;
  view: JoinView;
  hook: DebugHook;
}

/**
 * One stay in the run: the same FedlinkClient and TfjsTrainer the Node client uses, with their
 * events shown on the page and recorded on the debug hook. `ended` settles when the run ends,
 * the person leaves, or a fatal error (worded for a person) stops it.
 */
export class JoinSession {
  readonly ended: Promise<void>;
  private readonly client: FedlinkClient;
  private leaving = false;

  constructor(private readonly o: SessionOptions) {
    const { hook } = o;
    hook.baselineTensors = tf.memory().numTensors;
    hook.rounds = [];
    hook.runEnd = null;
    this.client = new FedlinkClient({
      url: location.origin,
      trainer: o.table ? new TabularTrainer(o.table, { source: o.tableName ?? 'csv' }) : new TfjsTrainer(o.dataset!),
      platform: 'browser',
      backend: o.backend,
      ...(o.token ? { token: o.token } : {}),
      name: `browser (${o.backend})`,
    });
    this.wire();
    this.ended = this.client.run().then(
      (end) => this.onEnd(end),
      (err: FedlinkError) => o.view.setStateText('error', `Error: ${explain(err)}`),
    );
  }

  leave(): void {
    this.leaving = true;
    this.client.stop();
  }

  private wire(): void {
    const { view, hook } = this.o;
    const c = this.client;
    c.on('state', (state, detail) => {
      hook.state = state;
      hook.detail = detail ?? null;
      if (state === 'error' || state === 'done') return; // worded when run() settles
      if (state === 'connecting' && detail) view.setStateText(state, `Connection lost, reconnecting… (${detail})`);
      else view.setState(state, state === 'training' || state === 'uploading' ? detail : undefined);
    });
    c.on('welcome', (w) => {
      view.setFingerprint(w.server.fingerprint);
      view.setModel(`${w.model.name}, ${formatInt(w.model.numParams)} parameters, ${w.rounds} rounds`);
      view.setProtection(w.secureAggregation);
    });
    c.on('roundStart', (round) => {
      roundEntry(hook, round);
      view.updateRound({ round });
    });
    c.on('progress', (round, p) => view.setProgress(round, p.epoch, p.batch, p.batches, p.loss));
    c.on('trained', (round, m) => {
      Object.assign(roundEntry(hook, round), { loss: m.loss });
      view.updateRound({ round, trained: true, loss: m.loss });
    });
    c.on('uploaded', (u) => {
      Object.assign(roundEntry(hook, u.round), { bytes: u.bytes, sealed: u.sealed, masked: u.masked });
      view.updateRound({ round: u.round, bytes: u.bytes, sealed: u.sealed, masked: u.masked });
    });
    c.on('rejected', (round, e) => {
      hook.errors.push(`round ${round}: ${e.code}: ${e.message}`);
      view.updateRound({ round, status: 'rejected' });
    });
    c.on('roundEnd', (end) => {
      const acc = end.metrics.testAccuracy;
      // Read at each round's end: a leak would show as a count that grows round after round.
      Object.assign(roundEntry(hook, end.round), { status: end.status, numTensors: tf.memory().numTensors, ...(acc !== undefined ? { testAccuracy: acc } : {}) });
      view.updateRound({ round: end.round, status: end.status, ...(acc !== undefined ? { testAccuracy: acc } : {}) });
      const eps = end.metrics.epsilon;
      const privacy = eps !== undefined ? ` Differential privacy spent so far: ε = ${eps.toFixed(2)} at δ = ${end.metrics.delta ?? '?'}.` : '';
      if (acc !== undefined) view.setGlobalLine(`Global model after round ${end.round}: ${(acc * 100).toFixed(1)}% test accuracy (measured by the coordinator on its held-out data).${privacy}`);
    });
    c.on('error', (e) => hook.errors.push(`${e.code}: ${e.message}`));
  }

  private onEnd(end: RunEnd): void {
    this.o.hook.runEnd = end;
    const acc = end.metrics.testAccuracy;
    const eps = end.metrics.epsilon;
    const final = (acc !== undefined ? `; final global accuracy ${(acc * 100).toFixed(1)}%` : '') + (eps !== undefined ? `; differential privacy ε = ${eps.toFixed(2)} at δ = ${end.metrics.delta ?? '?'}` : '');
    this.o.view.setStateText(
      'done',
      end.status === 'finished'
        ? `The run finished after ${end.rounds} rounds${final}.`
        : this.leaving
          ? 'You left the run.'
          : `The coordinator stopped the run after ${end.rounds} rounds${final}.`,
    );
  }
}

/** Words for a fatal error that say what the person can do. */
export function explain(err: FedlinkError): string {
  switch (err.code) {
    case 'unauthorized':
      return `the coordinator refused the join token (${err.message.replace(/ \(--token\)$/, '')}). Check the token and join again.`;
    case 'protocol_mismatch':
      return `this page and the coordinator speak different protocol versions (${err.message}). Reload the page.`;
    case 'run_finished':
      return 'this run has already ended.';
    default:
      return err.message;
  }
}
