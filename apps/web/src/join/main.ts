import * as tf from '@tensorflow/tfjs';
import { FedlinkClient, TfjsTrainer } from '@fedlink/client';
import type { FedlinkError } from '@fedlink/protocol';
import { initBrowserBackend, isBrowserBackend } from '../backend.js';
import { formatInt } from '../shared/format.js';
import { loadDemoShard } from './data/demo.js';
import { loadIdxFiles } from './data/idx-files.js';
import { loadImageFiles } from './data/image-files.js';
import { DataProblem, type LoadedData, describeSpec } from './data/types.js';
import { installDebugHook, roundEntry } from './debug-hook.js';
import { type RunModel, fetchRunModel } from './model-spec.js';
import { JoinView } from './view.js';

/** Where the page, its assets and the coordinator's API live (the coordinator served this page). */
const BASE = new URL('.', location.href).href;
const params = new URLSearchParams(location.search);
const view = new JoinView();
const hook = installDebugHook();

let model: RunModel | undefined;
let data: LoadedData | undefined;
let client: FedlinkClient | undefined;
let backend = 'cpu';
/** Set when the person clicks Leave, to tell their leaving from the coordinator stopping the run. */
let leaving = false;
/** Bumped by every new pick, so a slow earlier pick can't overwrite a later one. */
let pickSeq = 0;

function readTokenFromUrl(): void {
  const token = params.get('token');
  if (token === null) return;
  view.token.value = token;
  // Keep the token out of the address bar (and so out of screenshots, history and shared links).
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
}

function refreshJoinButton(): void {
  view.joinButton.disabled = !(data && model && !client);
}

async function pick(load: () => Promise<LoadedData>, what: string): Promise<void> {
  const seq = ++pickSeq;
  data = undefined;
  refreshJoinButton();
  view.setProblems([]);
  view.setDataStatus(`Reading ${what}…`);
  try {
    const loaded = await load();
    if (seq !== pickSeq) return;
    data = loaded;
    const ds = loaded.dataset;
    const perClass = new Array<number>(ds.numClasses).fill(0);
    for (const l of ds.labels) perClass[l]!++;
    const classes = perClass.filter((n) => n > 0).length;
    hook.examples = ds.count;
    view.setDataStatus(`Ready: ${loaded.source}: ${formatInt(ds.count)} examples in ${classes} of ${ds.numClasses} classes. They stay in this tab.`, loaded.notes);
  } catch (e) {
    if (seq !== pickSeq) return;
    const problems = e instanceof DataProblem ? e.problems : [e instanceof Error ? e.message : String(e)];
    hook.errors.push(...problems);
    view.setDataStatus('No usable data picked.');
    view.setProblems(problems);
  }
  refreshJoinButton();
}

function filesOf(input: HTMLInputElement): File[] {
  return input.files ? [...input.files] : [];
}

function wireDataChoices(m: RunModel): void {
  const spec = m.spec;
  view.demoButton.addEventListener('click', () => void pick(() => loadDemoShard(BASE, spec), 'the demo digits'));
  view.folderInput.addEventListener('change', () => {
    const files = filesOf(view.folderInput);
    const folder = files[0]?.webkitRelativePath.split('/')[0];
    const what = folder ? `folder ${folder}/` : 'the folder';
    void pick(() => loadImageFiles(files, spec, what, (done, total) => view.setDataStatus(`Decoding images: ${done} of ${total}…`)), what);
  });
  view.filesInput.addEventListener('change', () => {
    const files = filesOf(view.filesInput);
    void pick(() => loadImageFiles(files, spec, `${files.length} picked file${files.length === 1 ? '' : 's'}`, (done, total) => view.setDataStatus(`Decoding images: ${done} of ${total}…`)), 'the files');
  });
  view.idxInput.addEventListener('change', () => void pick(() => loadIdxFiles(filesOf(view.idxInput), spec), 'the IDX files'));
  view.enableDataChoices(true);
}

/** Words for a failure the person can act on. */
function explain(err: FedlinkError): string {
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

function join(): void {
  if (!data || !model || client) return;
  const dataset = data.dataset;
  hook.baselineTensors = tf.memory().numTensors;
  hook.rounds = [];
  hook.runEnd = null;
  leaving = false;
  const token = view.token.value.trim();
  const c = new FedlinkClient({
    url: location.origin,
    trainer: new TfjsTrainer(dataset),
    platform: 'browser',
    backend,
    ...(token ? { token } : {}),
    name: `browser (${backend})`,
  });
  client = c;
  view.setJoined(true);
  view.enableDataChoices(false);
  refreshJoinButton();

  c.on('state', (state, detail) => {
    hook.state = state;
    hook.detail = detail ?? null;
    if (state === 'error' || state === 'done') return; // worded by the handlers below
    if (state === 'connecting' && detail) view.setStateText(state, `Connection lost, reconnecting… (${detail})`);
    else view.setState(state, state === 'training' || state === 'uploading' ? detail : undefined);
  });
  c.on('welcome', (w) => {
    view.setFingerprint(w.server.fingerprint);
    view.setModel(`${w.model.name}, ${formatInt(w.model.numParams)} parameters, ${w.rounds} rounds`);
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
    Object.assign(roundEntry(hook, u.round), { bytes: u.bytes, sealed: u.sealed });
    view.updateRound({ round: u.round, bytes: u.bytes, sealed: u.sealed });
  });
  c.on('rejected', (round, e) => {
    hook.errors.push(`round ${round}: ${e.code}: ${e.message}`);
    view.updateRound({ round, status: 'rejected' });
  });
  c.on('roundEnd', (end) => {
    const acc = end.metrics.testAccuracy;
    Object.assign(roundEntry(hook, end.round), { status: end.status, numTensors: tf.memory().numTensors, ...(acc !== undefined ? { testAccuracy: acc } : {}) });
    view.updateRound({ round: end.round, status: end.status, ...(acc !== undefined ? { testAccuracy: acc } : {}) });
    if (acc !== undefined) view.setGlobalLine(`Global model after round ${end.round}: ${(acc * 100).toFixed(1)}% test accuracy (measured by the coordinator on its held-out data).`);
  });
  c.on('error', (e) => hook.errors.push(`${e.code}: ${e.message}`));

  c.run().then(
    (end) => {
      hook.runEnd = end;
      const acc = end.metrics.testAccuracy;
      const final = acc !== undefined ? `; final global accuracy ${(acc * 100).toFixed(1)}%` : '';
      view.setStateText(
        'done',
        end.status === 'finished' ? `The run finished after ${end.rounds} rounds${final}.` : leaving ? 'You left the run.' : `The coordinator stopped the run after ${end.rounds} rounds${final}.`,
      );
      finished();
    },
    (err: FedlinkError) => {
      view.setStateText('error', `Error: ${explain(err)}`);
      finished();
    },
  );
}

function finished(): void {
  client = undefined;
  view.setJoined(false);
  view.enableDataChoices(true);
  refreshJoinButton();
}

async function start(): Promise<void> {
  readTokenFromUrl();
  view.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    join();
  });
  view.leaveButton.addEventListener('click', () => {
    leaving = true;
    client?.stop();
  });

  if (!isSecureContext) {
    // Sealing updates needs WebCrypto, which browsers give only to https and localhost pages.
    view.setModelLine('This page must be opened over https (or on localhost): browsers allow the cryptography that seals updates only there.', true);
    view.setBackend('–');
    return;
  }
  const prefer = params.get('backend');
  try {
    backend = await initBrowserBackend({ ...(isBrowserBackend(prefer) ? { prefer } : {}), wasmPath: new URL('assets/wasm/', BASE).href });
    hook.backend = backend;
    view.setBackend(`${backend}${backend === 'webgpu' || backend === 'webgl' ? ' (your GPU)' : backend === 'wasm' ? ' (WebAssembly on your CPU)' : ' (plain JavaScript, slow)'}`);
  } catch (e) {
    view.setBackend(e instanceof Error ? e.message : String(e));
    view.setModelLine('This browser cannot run TensorFlow.js, so it cannot train.', true);
    return;
  }
  try {
    model = await fetchRunModel(BASE);
    view.setModelLine(`The run trains “${model.name}” on ${describeSpec(model.spec)}. Pick data of that kind.`);
    view.setModel(`${model.name}, ${formatInt(model.numParams)} parameters`);
    wireDataChoices(model);
  } catch (e) {
    view.setModelLine(`Can't read the run's model: ${e instanceof Error ? e.message : String(e)}`, true);
  }
  refreshJoinButton();
}

void start();
