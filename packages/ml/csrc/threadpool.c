/*
 * Fork-join thread pool over shared wasm memory.
 *
 * Workers are wasm instances (one per worker_thread) that sit in fl_worker_loop. A job is
 * published through one 64-bit word: high half = generation, low half = index of the next
 * unclaimed task. Threads claim tasks with compare-and-swap on that word, so a worker that
 * wakes late can only ever claim a task of the job that is current at that moment, and the
 * main thread never waits for a sleeping worker: it runs whatever is left itself and only
 * waits for tasks a worker has actually claimed. Idle workers spin briefly (kernels come
 * in bursts during a training step) and then sleep on the job word.
 */
#include "fl_common.h"
#include "tuning.h"

#define CLOSED 0xffffffffu /* task index meaning "no job open" */
#define WAIT_SPIN 20000    /* ~10-20 us of spinning before the main thread sleeps */

static volatile u64 g_job = CLOSED;    /* (generation << 32) | next task index */
static volatile int g_ntasks;          /* task count of the current job */
static task_fn g_fn;
static const void *g_ctx;
static volatile int g_done;            /* tasks finished in the current job */
static volatile int g_sleepers;        /* workers blocked in wait */
static volatile int g_main_waiting;    /* main thread blocked until g_done changes */
static volatile int g_registered;      /* workers that entered the loop */
static int g_nthreads = 1;
static int g_spin = 1 << 17;           /* idle spins before a worker sleeps */

int fl_threads(void) { return g_nthreads; }

INLINE u64 load64(volatile u64 *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
INLINE int load32(volatile int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }

/* Claims one task of the current job; returns its index or -1 if none is left. */
static int claim(void) {
  for (;;) {
    u64 w = load64(&g_job);
    u32 idx = (u32)w;
    if (idx == CLOSED || (int)idx >= load32(&g_ntasks)) return -1;
    if (__atomic_compare_exchange_n(&g_job, &w, w + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return (int)idx;
  }
}

EXPORT(fl_worker_loop) void fl_worker_loop(int tid) {
  __atomic_fetch_add(&g_registered, 1, __ATOMIC_SEQ_CST);
  __builtin_wasm_memory_atomic_notify((int *)&g_registered, 1);
  for (;;) {
    int t = claim();
    if (t >= 0) {
      /* The job cannot be replaced before this claimed task is counted done. */
      g_fn(g_ctx, t, tid);
      __atomic_fetch_add(&g_done, 1, __ATOMIC_SEQ_CST);
      if (load32(&g_main_waiting)) __builtin_wasm_memory_atomic_notify((int *)&g_done, 1);
      continue;
    }
    u64 seen = load64(&g_job);
    int spins = 0;
    while (load64(&g_job) == seen && ++spins < g_spin) {
    }
    if (load64(&g_job) != seen) continue;
    __atomic_fetch_add(&g_sleepers, 1, __ATOMIC_SEQ_CST);
    __builtin_wasm_memory_atomic_wait64((long long *)&g_job, (long long)seen, -1);
    __atomic_fetch_sub(&g_sleepers, 1, __ATOMIC_SEQ_CST);
  }
}

/* Called by JS on the main thread once `workers` workers were started; blocks until they
 * are all in fl_worker_loop, then lets kernels use them. */
EXPORT(fl_set_threads) void fl_set_threads(int workers, int spin) {
  int r;
  while ((r = load32(&g_registered)) < workers) __builtin_wasm_memory_atomic_wait32((int *)&g_registered, r, -1);
  g_nthreads = workers + 1;
  if (spin > 0) g_spin = spin;
}

void fl_parallel(task_fn fn, const void *ctx, int ntasks, double work) {
  if (ntasks <= 0) return;
  if (g_nthreads == 1 || ntasks == 1 || work < (double)fl_tuning[TUNE_MIN_PARALLEL_WORK]) {
    for (int t = 0; t < ntasks; t++) fn(ctx, t, 0);
    return;
  }
  u64 gen = (load64(&g_job) >> 32) + 1;
  /* Parameters first, then open the job: a worker reads them only after claiming a task. */
  g_fn = fn;
  g_ctx = ctx;
  __atomic_store_n(&g_done, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&g_ntasks, ntasks, __ATOMIC_SEQ_CST);
  __atomic_store_n(&g_job, gen << 32, __ATOMIC_SEQ_CST);
  if (load32(&g_sleepers) > 0) __builtin_wasm_memory_atomic_notify((int *)&g_job, 0x7fffffff);
  int mine = 0;
  for (int t; (t = claim()) >= 0; mine++) fn(ctx, t, 0);
  __atomic_fetch_add(&g_done, mine, __ATOMIC_SEQ_CST);
  /* Only tasks a worker is running remain. They are short, so spin first; but if the
   * worker lost its core (a loaded machine), sleep so it can have ours. */
  int spins = 0, done;
  while ((done = load32(&g_done)) < ntasks) {
    if (++spins < WAIT_SPIN) continue;
    __atomic_store_n(&g_main_waiting, 1, __ATOMIC_SEQ_CST);
    if (load32(&g_done) == done) __builtin_wasm_memory_atomic_wait32((int *)&g_done, done, 1000000 /* 1 ms */);
    __atomic_store_n(&g_main_waiting, 0, __ATOMIC_SEQ_CST);
  }
  /* Close the job before its parameters can be overwritten by the next one. */
  __atomic_store_n(&g_job, (gen << 32) | CLOSED, __ATOMIC_SEQ_CST);
}
