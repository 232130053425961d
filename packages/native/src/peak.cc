// The machine's fp32 FMA peak as the roofline's ceiling, measured rather than assumed: every pool
// thread runs independent FMA chains (enough to cover the FMA latency on every port) of the ISA
// in use, for about `ms` milliseconds; GFLOP/s over all threads together.
#include <immintrin.h>
#include <atomic>
#include <chrono>
#include "kernels.h"

namespace fl {
namespace {

constexpr int CHAINS = 16;
constexpr long ROUNDS = 1 << 16;

__attribute__((target("avx512f"))) double chains_avx512(float seed) {
  __m512 acc[CHAINS];
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(seed * 1e-7f);
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(seed + i);
  for (long r = 0; r < ROUNDS; r++)
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  float sink = 0;
  for (int i = 0; i < CHAINS; i++) sink += _mm512_reduce_add_ps(acc[i]);
  return sink == 12345.f ? 0 : 2.0 * 16 * CHAINS * ROUNDS;
}

__attribute__((target("avx2,fma"))) double chains_avx2(float seed) {
  __m256 acc[CHAINS];
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(seed * 1e-7f);
  for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps(seed + i);
  for (long r = 0; r < ROUNDS; r++)
#pragma GCC unroll 16
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  alignas(32) float out[8];
  float sink = 0;
  for (int i = 0; i < CHAINS; i++) {
    _mm256_store_ps(out, acc[i]);
    for (float v : out) sink += v;
  }
  return sink == 12345.f ? 0 : 2.0 * 8 * CHAINS * ROUNDS;
}

double chains_portable(float seed) {
  float acc[CHAINS][8];
  for (int i = 0; i < CHAINS; i++)
    for (int j = 0; j < 8; j++) acc[i][j] = seed + i + j;
  for (long r = 0; r < ROUNDS; r++)
    for (int i = 0; i < CHAINS; i++)
      for (int j = 0; j < 8; j++) acc[i][j] = acc[i][j] * 0.999999f + seed * 1e-7f;
  float sink = 0;
  for (auto& row : acc)
    for (float v : row) sink += v;
  return sink == 12345.f ? 0 : 2.0 * 8 * CHAINS * ROUNDS;
}

}  // namespace

double fma_peak_gflops(double ms) {
  double (*chains)(float) = simd_avx512() ? chains_avx512 : simd_avx2() ? chains_avx2 : chains_portable;
  const int threads = pool_threads();
  std::atomic<double> flops{0};
  const auto t0 = std::chrono::steady_clock::now();
  const auto until = t0 + std::chrono::duration<double, std::milli>(ms);
  parallel_for(threads, [&](int t) {
    double done = 0;
    while (std::chrono::steady_clock::now() < until) done += chains(1.0f + t);
    double cur = flops.load();
    while (!flops.compare_exchange_weak(cur, cur + done)) {
    }
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return flops.load() / s / 1e9;
}

}  // namespace fl
