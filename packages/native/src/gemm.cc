// Packed, register-blocked SGEMM (BLIS-style loops): B is packed into kc x 16 panels, A into
// 6 x kc panels, and a 6x16 micro-kernel keeps the C tile in 12 ymm registers (AVX2+FMA) or
// in a plain array the compiler vectorises for the host's baseline ISA (the portable path).
// The micro-kernel is picked once at load with __builtin_cpu_supports.
#include <immintrin.h>
#include <algorithm>
#include <cstring>
#include <vector>
#include "kernels.h"

namespace fl {
namespace {

constexpr int MR = 6, NR = 16, KC = 256, MC = 120, NC = 2048;
// Up to this many rows of A, gemm reads B in place (or as dot products when B is transposed).
constexpr int SMALL_M = 24;

// pb advances by bstride floats per k step: NR for a packed panel, B's row stride when read in place.
using MicroKernel = void (*)(int kc, const float* pa, const float* pb, long bstride, float* c, long ldc, bool add, int mr, int nr);

void micro_portable(int kc, const float* pa, const float* pb, long bstride, float* c, long ldc, bool add, int mr, int nr) {
  float acc[MR][NR] = {};
  for (int p = 0; p < kc; p++) {
    const float* b = pb + p * bstride;
    const float* a = pa + p * MR;
    for (int i = 0; i < MR; i++) {
      float ai = a[i];
      for (int j = 0; j < NR; j++) acc[i][j] += ai * b[j];
    }
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = add ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

__attribute__((target("avx2,fma"))) void micro_avx2(int kc, const float* pa, const float* pb, long bstride, float* c,
                                                     long ldc, bool add, int mr, int nr) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(pb), b1 = _mm256_loadu_ps(pb + 8);
    __m256 a;
    a = _mm256_broadcast_ss(pa + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(pa + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(pa + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(pa + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(pa + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(pa + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    pa += MR;
    pb += bstride;
  }
  __m256 rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; i++) {
      float* ci = c + i * ldc;
      if (add) {
        rows[i][0] = _mm256_add_ps(rows[i][0], _mm256_loadu_ps(ci));
        rows[i][1] = _mm256_add_ps(rows[i][1], _mm256_loadu_ps(ci + 8));
      }
      _mm256_storeu_ps(ci, rows[i][0]);
      _mm256_storeu_ps(ci + 8, rows[i][1]);
    }
    return;
  }
  alignas(32) float tile[MR][NR];
  for (int i = 0; i < MR; i++) {
    _mm256_store_ps(tile[i], rows[i][0]);
    _mm256_store_ps(tile[i] + 8, rows[i][1]);
  }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = add ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}

bool g_force_portable = false;
MicroKernel pick() {
  __builtin_cpu_init();
  if (!g_force_portable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return micro_avx2;
  return micro_portable;
}
MicroKernel g_micro = pick();

// B block (kc x nc from (p0, j0)) into ceil(nc/NR) panels of kc x NR, zero-padded.
void pack_b(int kc, int nc, const float* b, long brs, long bcs, float* out) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    int nr = std::min(NR, nc - j0);
    for (int p = 0; p < kc; p++) {
      const float* row = b + p * brs + j0 * bcs;
      if (bcs == 1 && nr == NR) {
        std::memcpy(out, row, NR * sizeof(float));
      } else {
        int j = 0;
        for (; j < nr; j++) out[j] = row[j * bcs];
        for (; j < NR; j++) out[j] = 0.f;
      }
      out += NR;
    }
  }
}

// A block (mc x kc) into ceil(mc/MR) panels of MR x kc stored k-major, zero-padded.
void pack_a(int mc, int kc, const float* a, long ars, long acs, float* out) {
  for (int i0 = 0; i0 < mc; i0 += MR) {
    int mr = std::min(MR, mc - i0);
    for (int p = 0; p < kc; p++) {
      int i = 0;
      for (; i < mr; i++) out[i] = a[(i0 + i) * ars + p * acs];
      for (; i < MR; i++) out[i] = 0.f;
      out += MR;
    }
  }
}

// C[m x n] (+)= A * B for B stored transposed (B(p, j) at b[j * bcs + p]) and A's rows contiguous:
// every C value is a dot product of an A row with a B column, both contiguous. For few rows
// (the dense layers' input gradient, dy * W^T at batch 10-50) this reads W once, in place, with
// no packing: m accumulators per W row, reduced at the end.
__attribute__((target("avx2,fma"))) void gemm_dot_avx2(int m, int n, int k, const float* a, long ars, const float* b,
                                                       long bcs, float* c, long ldc, bool accumulate) {
  constexpr int MB = 12;
  for (int i0 = 0; i0 < m; i0 += MB) {
    const int mb = std::min(MB, m - i0);
    for (int j = 0; j < n; j++) {
      const float* bj = b + static_cast<long>(j) * bcs;
      __m256 acc[MB];
      for (int i = 0; i < MB; i++) acc[i] = _mm256_setzero_ps();
      int p = 0;
      for (; p + 8 <= k; p += 8) {
        __m256 bv = _mm256_loadu_ps(bj + p);
#pragma GCC unroll 12
        for (int i = 0; i < MB; i++)
          if (i < mb) acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(a + (i0 + i) * ars + p), bv, acc[i]);
      }
      for (int i = 0; i < mb; i++) {
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc[i]), _mm256_extractf128_ps(acc[i], 1));
        s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
        float sum = _mm_cvtss_f32(s4);
        const float* ai = a + (i0 + i) * ars;
        for (int q = p; q < k; q++) sum += ai[q] * bj[q];
        float* out = c + (i0 + i) * ldc + j;
        *out = accumulate ? *out + sum : sum;
      }
    }
  }
}

}  // namespace

bool simd_avx2() { return g_micro == micro_avx2; }
const char* gemm_isa() { return g_micro == micro_avx2 ? "avx2+fma" : "portable"; }
void force_portable(bool on) {
  g_force_portable = on;
  g_micro = pick();
}

void gemm(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs, float* c,
          long ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (int i = 0; i < m; i++) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  MicroKernel micro = g_micro;
  // Few rows, B transposed: dot products over contiguous rows, no packing.
  if (micro == micro_avx2 && m <= SMALL_M && bcs != 1 && brs == 1 && acs == 1 && k >= 32)
    return gemm_dot_avx2(m, n, k, a, ars, b, bcs, c, ldc, accumulate);
  // Few rows: packing B (all of it, for m rows of use) costs more than reading its 16-column
  // panels in place, row after row (they stay in L1 for the kc steps of all m rows).
  const bool inPlaceB = m <= SMALL_M && bcs == 1;
  thread_local std::vector<float> pa, pb;
  scratch_resize(pa, static_cast<size_t>(MC + MR) * KC);
  scratch_resize(pb, static_cast<size_t>(NC + NR) * KC);
  for (int jc = 0; jc < n; jc += NC) {
    int nc = std::min(NC, n - jc);
    for (int pc = 0; pc < k; pc += KC) {
      int kc = std::min(KC, k - pc);
      bool add = accumulate || pc > 0;
      const float* bblock = b + pc * brs + jc * bcs;
      // In place: only a last partial panel is packed (zero-padded to NR columns).
      const int full = inPlaceB ? nc / NR * NR : 0;
      if (full < nc) pack_b(kc, nc - full, bblock + full * bcs, brs, bcs, pb.data());
      for (int ic = 0; ic < m; ic += MC) {
        int mc = std::min(MC, m - ic);
        pack_a(mc, kc, a + ic * ars + pc * acs, ars, acs, pa.data());
        for (int jr = 0; jr < nc; jr += NR) {
          const bool inPlace = jr < full;
          const float* bp = inPlace ? bblock + jr : pb.data() + static_cast<size_t>((jr - full) / NR) * kc * NR;
          const long bstride = inPlace ? brs : NR;
          for (int ir = 0; ir < mc; ir += MR) {
            const float* ap = pa.data() + static_cast<size_t>(ir / MR) * kc * MR;
            micro(kc, ap, bp, bstride, c + (ic + ir) * ldc + jc + jr, ldc, add, std::min(MR, mc - ir), std::min(NR, nc - jr));
          }
        }
      }
    }
  }
}

void gemm_parallel(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs,
                   float* c, long ldc) {
  int threads = pool_threads();
  double flops = 2.0 * m * n * k;
  // Below ~6 MFLOP (the MLP's 784x200 layer at batch 10 is 3.1) waking a second thread costs more than it saves.
  if (threads <= 1 || flops < 6e6) return gemm(m, n, k, a, ars, acs, b, brs, bcs, c, ldc, false);
  if (m >= 4 * MR * threads || m >= n) {
    int chunk = ((m + threads - 1) / threads + MR - 1) / MR * MR;
    int tasks = (m + chunk - 1) / chunk;
    parallel_for(tasks, [&](int t) {
      int i0 = t * chunk, mm = std::min(chunk, m - i0);
      gemm(mm, n, k, a + i0 * ars, ars, acs, b, brs, bcs, c + i0 * ldc, ldc, false);
    });
  } else {
    int chunk = ((n + threads - 1) / threads + NR - 1) / NR * NR;
    int tasks = (n + chunk - 1) / chunk;
    parallel_for(tasks, [&](int t) {
      int j0 = t * chunk, nn = std::min(chunk, n - j0);
      gemm(m, nn, k, a, ars, acs, b + j0 * bcs, brs, bcs, c + j0, ldc, false);
    });
  }
}

void bias_act(float* c, int m, int n, const float* bias, bool relu) {
  if (!bias && !relu) return;
  for (int i = 0; i < m; i++) {
    float* row = c + static_cast<long>(i) * n;
    if (bias)
      for (int j = 0; j < n; j++) row[j] += bias[j];
    if (relu)
      for (int j = 0; j < n; j++) row[j] = row[j] > 0.f ? row[j] : (row[j] != row[j] ? row[j] : 0.f);
  }
}

}  // namespace fl
