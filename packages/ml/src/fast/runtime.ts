/**
 * One running instance of the kernels: shared memory, the main thread's instance, the
 * heap, worker threads and the kernels' workspace.
 */
import { WasmHeap } from './heap.js';
import { compileKernels, instantiateKernels, type KernelExports } from './wasm-kernels.js';

/** Starts worker threads that each run `fl_worker_loop` on the shared memory. */
export interface ThreadSpawner {
  readonly kind: string;
  start(module: WebAssembly.Module, memory: WebAssembly.Memory, workers: readonly WorkerSpec[]): Promise<() => Promise<void>>;
}
export interface WorkerSpec {
  tid: number;
  /** Top of this worker's wasm stack (the stack grows down). */
  stackTop: number;
}

export interface RuntimeOptions {
  /** Threads that run kernels, main thread included (default 1). */
  threads?: number;
  spawner?: ThreadSpawner;
  /** Iterations an idle worker spins before it sleeps; 0 keeps the built-in default. */
  spin?: number;
}

const WORKER_STACK_BYTES = 256 * 1024;
const INITIAL_PAGES = 256; // 16 MiB
const MAX_PAGES = 65536; // 4 GiB, wasm32's limit

export class KernelRuntime {
  private workspacePtr = 0;
  private workspaceBytes = 0;
  private stopWorkers: (() => Promise<void>) | undefined;

  private constructor(
    readonly exports: KernelExports,
    readonly heap: WasmHeap,
    readonly threads: number,
    readonly threadKind: string,
  ) {}

  static async create(options: RuntimeOptions = {}): Promise<KernelRuntime> {
    const module = await compileKernels();
    const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
    const exports = instantiateKernels(module, memory);
    const heap = new WasmHeap(memory, exports.__heap_base.value as number);
    const wanted = Math.max(1, Math.floor(options.threads ?? 1));
    let threads = 1;
    let kind = 'single thread';
    let stop: (() => Promise<void>) | undefined;
    if (wanted > 1 && options.spawner) {
      const specs: WorkerSpec[] = [];
      for (let tid = 1; tid < wanted; tid++) {
        specs.push({ tid, stackTop: heap.alloc(WORKER_STACK_BYTES) + WORKER_STACK_BYTES });
      }
      stop = await options.spawner.start(module, memory, specs);
      // Blocks until every worker is inside fl_worker_loop.
      exports.fl_set_threads(specs.length, options.spin ?? 0);
      threads = wanted;
      kind = options.spawner.kind;
    }
    const rt = new KernelRuntime(exports, heap, threads, kind);
    rt.stopWorkers = stop;
    return rt;
  }

  /**
   * Calls a kernel entry point with the workspace, growing it until the kernel accepts.
   * The workspace is reused across calls: only the main thread calls kernels.
   */
  withWorkspace(call: (ws: number, wsBytes: number) => number): void {
    for (let attempt = 0; attempt < 4; attempt++) {
      const need = call(this.workspacePtr, this.workspaceBytes);
      if (need === 0) return;
      // need is an unsigned byte count returned through an i32.
      const bytes = need >>> 0;
      if (this.workspacePtr !== 0) this.heap.free(this.workspacePtr);
      this.workspaceBytes = Math.ceil(bytes * 1.25);
      this.workspacePtr = this.heap.alloc(this.workspaceBytes);
    }
    throw new Error('fedlink kernels: workspace request did not settle');
  }

  async dispose(): Promise<void> {
    const stop = this.stopWorkers;
    this.stopWorkers = undefined;
    if (stop) await stop();
  }
}
