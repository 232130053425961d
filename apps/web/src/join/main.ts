import { isBrowserBackend } from '@fedlink/ml';
import { initBrowserBackend } from '../backend.js';
import { formatInt } from '../shared/format.js';
import { loadDemoShard } from './data/demo.js';
import { loadIdxFiles } from './data/idx-files.js';
import { loadImageFiles } from './data/image-files.js';
import { loadCsvFile } from './data/csv-file.js';
import { DataProblem, type LoadedData, type LoadedTable, describeSpec } from './data/types.js';
import { installDebugHook } from './debug-hook.js';
import { type RunModel, fetchRunModel } from './model-spec.js';
import { JoinSession } from './session.js';
import { JoinView } from './view.js';

/** Where the page, its assets and the coordinator's API live (the coordinator served this page). */
const BASE = new URL('.', location.href).href;
const params = new URLSearchParams(location.search);
const view = new JoinView();
const hook = installDebugHook();

let model: RunModel | undefined;
let data: LoadedData | LoadedTable | undefined;
let session: JoinSession | undefined;
let backend = 'cpu';
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
  view.joinButton.disabled = !(data && model && !session);
}

async function pick(load: () => Promise<LoadedData | LoadedTable>, what: string): Promise<void> {
  const seq = ++pickSeq;
  data = undefined;
  refreshJoinButton();
  view.setProblems([]);
  view.setDataStatus(`Reading ${what}…`);
  try {
    const loaded = await load();
    if (seq !== pickSeq) return;
    data = loaded;
    if ('table' in loaded) {
      hook.examples = loaded.table.rows.length;
      view.setDataStatus(`Ready: ${loaded.source}: ${formatInt(loaded.table.rows.length)} rows, encoded with the coordinator's statistics when you join. They stay in this tab.`, loaded.notes);
      refreshJoinButton();
      return;
    }
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
  view.csvInput.addEventListener('change', () => void pick(() => loadCsvFile(filesOf(view.csvInput)), 'the CSV file'));
  view.enableDataChoices(true);
}

function join(): void {
  if (!data || !model || session) return;
  const s = new JoinSession({ ...('table' in data ? { table: data.table, tableName: data.name } : { dataset: data.dataset }), backend, token: view.token.value.trim(), view, hook });
  session = s;
  view.setJoined(true);
  view.enableDataChoices(false);
  refreshJoinButton();
  void s.ended.then(() => {
    session = undefined;
    view.setJoined(false);
    view.enableDataChoices(true);
    refreshJoinButton();
  });
}

async function start(): Promise<void> {
  readTokenFromUrl();
  view.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    join();
  });
  view.leaveButton.addEventListener('click', () => session?.leave());

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
