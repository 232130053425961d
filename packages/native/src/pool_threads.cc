// A small persistent thread pool: parallel_for hands out task indices through an atomic
// counter; the caller works too and returns when every task is done. A training step calls it
// tens of times in a row, so a worker that finished spins briefly (SPIN) for the next job, and
// the caller spins briefly for the workers, before either sleeps on a condition variable: a
// futex wake-up costs more than most of the step's kernels.
#include <immintrin.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#include "kernels.h"

namespace fl {
namespace {

constexpr std::chrono::microseconds SPIN{200};

// Spins (with pause) until done() or SPIN has passed; true if done().
template <class Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + SPIN;
  for (int i = 0;; i++) {
    if (done()) return true;
    _mm_pause();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return done();
  }
}

struct Pool {
  std::mutex mu;
  std::condition_variable wake, done;
  std::vector<std::thread> workers;
  const std::function<void(int)>* job = nullptr;  // job and tasks: written under mu before generation moves
  int tasks = 0;
  std::atomic<int> next{0};
  std::atomic<int> busy{0};
  std::atomic<long> generation{0};
  std::atomic<bool> stop{false};

  void run_tasks(const std::function<void(int)>& fn, int n) {
    for (int t; (t = next.fetch_add(1)) < n;) fn(t);
  }
  void worker() {
    long seen = 0;
    for (;;) {
      spin_until([&] { return stop.load(std::memory_order_relaxed) || generation.load(std::memory_order_acquire) != seen; });
      const std::function<void(int)>* fn;
      int n;
      {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait(lock, [&] { return stop.load() || generation.load() != seen; });
        if (stop.load()) return;
        seen = generation.load();
        fn = job;
        n = tasks;
      }
      run_tasks(*fn, n);
      if (busy.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu);
        done.notify_all();
      }
    }
  }
  void resize(int threads) {
    shutdown();
    stop.store(false);
    for (int i = 1; i < threads; i++) workers.emplace_back([this] { worker(); });
  }
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop.store(true);
    }
    wake.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }
  ~Pool() { shutdown(); }
};

Pool& pool() {
  static Pool p;
  return p;
}
int g_threads = 1;

}  // namespace

std::atomic<long long> g_scratch{0};

void scratch_resize(std::vector<float>& v, size_t n) {
  size_t before = v.capacity();
  v.resize(n);
  g_scratch.fetch_add(static_cast<long long>(v.capacity() - before) * static_cast<long long>(sizeof(float)));
}
long long scratch_bytes() { return g_scratch.load(); }

int pool_threads() { return g_threads; }

void set_pool_threads(int n) {
  if (n < 1) n = 1;
  if (n > 64) n = 64;
  if (n == g_threads) return;
  g_threads = n;
  pool().resize(n);
}

void parallel_for(int tasks, const std::function<void(int)>& fn) {
  Pool& p = pool();
  if (tasks <= 0) return;
  if (tasks == 1 || p.workers.empty()) {
    for (int t = 0; t < tasks; t++) fn(t);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(p.mu);
    p.job = &fn;
    p.tasks = tasks;
    p.next.store(0);
    p.busy.store(static_cast<int>(p.workers.size()));
    p.generation.fetch_add(1, std::memory_order_release);
  }
  p.wake.notify_all();
  p.run_tasks(fn, tasks);
  if (spin_until([&] { return p.busy.load(std::memory_order_acquire) == 0; })) return;
  std::unique_lock<std::mutex> lock(p.mu);
  p.done.wait(lock, [&] { return p.busy.load() == 0; });
}

}  // namespace fl
