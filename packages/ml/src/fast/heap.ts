/**
 * Allocator for the kernels' shared WebAssembly memory.
 *
 * Tensors of a training loop come back with the same sizes every step, so freed blocks
 * go to exact size-class free lists and are reused as they are; nothing is coalesced.
 * Classes are 64-byte multiples up to 4 KiB, then eight steps per power of two (at most
 * 12.5% slack). The memory only grows, like any wasm memory.
 */
const PAGE = 65536;
const ALIGN = 64;

export function sizeClass(bytes: number): number {
  const n = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  if (n <= 4096) return n;
  const step = 2 ** (Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / step) * step;
}

export class WasmHeap {
  private top: number;
  private readonly freeLists = new Map<number, number[]>();
  private readonly blockSize = new Map<number, number>();
  private f32Cache: Float32Array;
  /** Every SharedArrayBuffer this memory has handed out (one per growth). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private liveBytes = 0;

  constructor(
    readonly memory: WebAssembly.Memory,
    heapBase: number,
  ) {
    this.top = Math.ceil(heapBase / ALIGN) * ALIGN;
    this.f32Cache = new Float32Array(memory.buffer);
    this.buffers.add(memory.buffer);
  }

  alloc(bytes: number): number {
    const cls = sizeClass(bytes);
    const reused = this.freeLists.get(cls)?.pop();
    const ptr = reused ?? this.bump(cls);
    this.blockSize.set(ptr, cls);
    this.liveBytes += cls;
    return ptr;
  }

  free(ptr: number): void {
    const cls = this.blockSize.get(ptr);
    if (cls === undefined) throw new Error(`fedlink heap: free of unknown block ${ptr}`);
    this.blockSize.delete(ptr);
    this.liveBytes -= cls;
    let list = this.freeLists.get(cls);
    if (!list) this.freeLists.set(cls, (list = []));
    list.push(ptr);
  }

  /** A Float32Array over [ptr, ptr + 4n). Stays valid after growth: the memory is shared. */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  /** All of memory as floats, for reading scalars at known offsets. */
  get floats(): Float32Array {
    return this.f32Cache;
  }

  /** True if `buf` is (a view's buffer over) this memory. */
  owns(buf: ArrayBufferLike): boolean {
    return this.buffers.has(buf);
  }

  stats(): { heapBytes: number; liveBytes: number } {
    return { heapBytes: this.memory.buffer.byteLength, liveBytes: this.liveBytes };
  }

  private bump(bytes: number): number {
    const ptr = this.top;
    this.top += bytes;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) {
      // Grow by at least 1/4 of the current size so growth is rare.
      const need = Math.ceil((this.top - have) / PAGE);
      this.memory.grow(Math.max(need, Math.ceil(have / PAGE / 4)));
      this.f32Cache = new Float32Array(this.memory.buffer);
      this.buffers.add(this.memory.buffer);
    }
    return ptr;
  }
}
