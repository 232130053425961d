/**
 * The `fedlink` backend: tfjs's cpu backend with tensor data kept in the kernels' shared
 * WebAssembly memory, so the hot kernels (convolutions and their gradients, matmul,
 * pooling, elementwise ops) run as SIMD wasm on several threads without copying, while
 * every other op keeps working through the inherited cpu kernels.
 *
 * A tensor's values are either an ordinary typed array or a Float32Array view into the
 * wasm memory ("region"). cpu kernels read both transparently. Values leave the backend
 * (readSync/read) as copies, and a view into the memory that some cpu kernel passes on
 * as another tensor's values (e.g. Slice's subarray) is copied, so a freed region is
 * never visible outside.
 */
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { DataId, DataType, TensorInfo, backend_util } from '@tensorflow/tfjs';
import type { KernelRuntime } from './runtime.js';

export const FEDLINK_BACKEND = 'fedlink';

type BackendValues = backend_util.BackendValues;

export class BackendFedlink extends MathBackendCPU {
  /** dataId -> byte offset of its region in wasm memory. */
  private readonly regions = new Map<DataId, number>();
  /** The region view a kernel is about to hand to write(). */
  private adopting: Float32Array | undefined;
  private adoptingPtr = 0;

  constructor(readonly runtime: KernelRuntime) {
    super();
    // MathBackendCPU prints a "install tfjs-node" banner on first write; library code
    // must not print. The field is private in its typings, hence the cast.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const { stored, ptr } = this.intake(values);
    const id = super.write(stored, shape, dtype);
    if (ptr !== undefined) this.regions.set(id, ptr);
    return id;
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    this.release(dataId);
    const { stored, ptr } = this.intake(values);
    super.move(dataId, stored, shape, dtype, refCount);
    if (ptr !== undefined) this.regions.set(dataId, ptr);
  }

  override readSync(dataId: DataId): BackendValues {
    const values = super.readSync(dataId);
    return this.regions.has(dataId) && values instanceof Float32Array ? values.slice() : values;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const released = super.disposeData(dataId, force);
    if (released && !this.data.has(dataId)) this.release(dataId);
    return released;
  }

  override dispose(): void {
    super.dispose();
    void this.runtime.dispose();
  }

  /**
   * Byte offset of a float32 tensor's values in wasm memory, copying them in on first use
   * (tensors made from JS arrays or by cpu kernels start outside).
   */
  f32Ptr(t: TensorInfo): number {
    const have = this.regions.get(t.dataId);
    if (have !== undefined) return have;
    const entry = this.data.get(t.dataId);
    const values = entry.values as Float32Array;
    const ptr = this.runtime.heap.alloc(values.length * 4);
    const view = this.runtime.heap.f32(ptr, values.length);
    view.set(values);
    entry.values = view;
    this.regions.set(t.dataId, ptr);
    return ptr;
  }

  /** A new float32 tensor whose values live in wasm memory; the kernel fills them. */
  allocF32(shape: number[]): { info: TensorInfo; ptr: number } {
    let n = 1;
    for (const d of shape) n *= d;
    const ptr = this.runtime.heap.alloc(n * 4);
    this.adopting = this.runtime.heap.f32(ptr, n);
    this.adoptingPtr = ptr;
    try {
      return { info: this.makeTensorInfo(shape, 'float32', this.adopting), ptr };
    } finally {
      this.adopting = undefined;
    }
  }

  /** Number of tensors whose values are in wasm memory (for tests). */
  get wasmResidentTensors(): number {
    return this.regions.size;
  }

  private intake(values: BackendValues): { stored: BackendValues; ptr: number | undefined } {
    if (values !== undefined && values === this.adopting) return { stored: values, ptr: this.adoptingPtr };
    if (ArrayBuffer.isView(values) && this.runtime.heap.owns(values.buffer)) {
      return { stored: (values as Float32Array).slice(), ptr: undefined };
    }
    return { stored: values, ptr: undefined };
  }

  private release(dataId: DataId): void {
    const ptr = this.regions.get(dataId);
    if (ptr === undefined) return;
    this.regions.delete(dataId);
    this.runtime.heap.free(ptr);
  }
}
