/**
 * Worker threads for the kernels in Node (worker_threads). Node-only: imported by the
 * `@fedlink/ml/node` entry, never by browser code paths.
 *
 * Each worker instantiates the same compiled module on the shared memory, sets its own
 * stack and then stays inside the wasm worker loop; workers are unref'd so they never keep
 * a process alive.
 */
import { Worker } from 'node:worker_threads';
import type { ThreadSpawner, WorkerSpec } from './runtime.js';

// CommonJS source run with `eval: true`, so no file path has to be resolved at run time.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, tid, stackTop } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
instance.exports.__stack_pointer.value = stackTop;
parentPort.postMessage('ready');
instance.exports.fl_worker_loop(tid);
`;

export const nodeThreadSpawner: ThreadSpawner = {
  kind: 'worker_threads',
  async start(module: WebAssembly.Module, memory: WebAssembly.Memory, specs: readonly WorkerSpec[]) {
    const workers = specs.map(
      (spec) => new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, tid: spec.tid, stackTop: spec.stackTop } }),
    );
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('message', () => resolve());
            w.once('error', reject);
            w.once('exit', (code) => reject(new Error(`fedlink kernel worker exited with code ${code}`)));
          }),
      ),
    );
    for (const w of workers) {
      w.removeAllListeners();
      w.unref();
    }
    return async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    };
  },
};
