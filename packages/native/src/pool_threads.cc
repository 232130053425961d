// A small persistent thread pool: parallel_for hands out task indices through an atomic
// counter; the caller works too and returns when every task is done.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#include "kernels.h"

namespace fl {
namespace {

struct Pool {
  std::mutex mu;
  std::condition_variable wake, done;
  std::vector<std::thread> workers;
  const std::function<void(int)>* job = nullptr;
  int tasks = 0;
  std::atomic<int> next{0};
  int busy = 0;
  long generation = 0;
  bool stop = false;

  void run_tasks(const std::function<void(int)>& fn, int n) {
    for (int t; (t = next.fetch_add(1)) < n;) fn(t);
  }
  void worker() {
    long seen = 0;
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return stop || generation != seen; });
      if (stop) return;
      seen = generation;
      const auto* fn = job;
      int n = tasks;
      lock.unlock();
      run_tasks(*fn, n);
      lock.lock();
      if (--busy == 0) done.notify_all();
    }
  }
  void resize(int threads) {
    shutdown();
    stop = false;
    for (int i = 1; i < threads; i++) workers.emplace_back([this] { worker(); });
  }
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
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
    p.busy = static_cast<int>(p.workers.size());
    p.generation++;
  }
  p.wake.notify_all();
  p.run_tasks(fn, tasks);
  std::unique_lock<std::mutex> lock(p.mu);
  p.done.wait(lock, [&] { return p.busy == 0; });
}

}  // namespace fl
