/*
 * Shared definitions for fedlink's WebAssembly kernels.
 *
 * The module is freestanding (no libc): it imports one shared linear memory that the
 * JavaScript backend manages. Tensors live in that memory; JS passes byte offsets as
 * pointers. Only the main thread calls kernel entry points; worker threads run tasks
 * handed out by threadpool.c.
 */
#ifndef FL_COMMON_H
#define FL_COMMON_H

#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

typedef unsigned int u32;
typedef unsigned long long u64;

/* A task is one independent slice of a kernel's work. `tid` names the thread running it
 * (0 = main) so a task can use that thread's slice of the workspace. */
typedef void (*task_fn)(const void *ctx, int task, int tid);

/* Runs fn(ctx, t, tid) for t in [0, ntasks) on the calling thread and any idle workers,
 * and returns when all tasks are done. ctx may point at the caller's stack. `work` is a
 * rough cost (multiply-adds, or elements touched): below fl_tuning[TUNE_MIN_PARALLEL_WORK]
 * the tasks run on the calling thread alone, where a fork-join would cost more than it
 * saves (and, on a loaded machine, risks waiting for a descheduled worker). */
void fl_parallel(task_fn fn, const void *ctx, int ntasks, double work);

/* Number of threads (main + workers) that may run tasks; sizes per-thread workspace. */
int fl_threads(void);

/* Workspace carving: kernels get one scratch region from JS and split it. Each helper
 * returns the offset after `bytes` bytes, 64-byte aligned. */
INLINE u32 fl_align64(u32 n) { return (n + 63u) & ~63u; }

/* Zeroes n floats. */
INLINE void fl_zero(float *p, int n) { __builtin_memset(p, 0, (unsigned long)n * 4u); }

#endif
