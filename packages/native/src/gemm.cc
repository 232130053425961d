// Packed, register-blocked SGEMM (BLIS-style loops): B is packed into kc x NR panels, A into
// MR x kc panels, and an MR x NR micro-kernel keeps the C tile in registers:
//   avx512: 14 x 32, 28 zmm accumulators (AVX-512F), fewer rows without padding;
//   avx2:    6 x 16, 12 ymm accumulators (AVX2+FMA);
//   portable: 6 x 16 in a plain array the compiler vectorises for the host's baseline ISA.
// The best one the CPU has is picked at load with __builtin_cpu_supports; use_isa() overrides
// it (tests run every kernel the host can).
#include <immintrin.h>
#include <algorithm>
#include <array>
#include <utility>
#include <cstring>
#include <string>
#include <vector>
#include "kernels.h"

namespace fl {
namespace {

constexpr int MR = 6, NR = 16;                // the avx2 and portable tiles
constexpr int MR512 = 14, NR512 = 32;          // the avx512 tile
constexpr int MR_MAX = 14, NR_MAX = 32, KC = 256, MC_TILES = 20, NC = 2048;
// Up to this many rows of A, gemm reads B in place (or as dot products when B is transposed).
constexpr int SMALL_M = 24;
constexpr int KC_IN_PLACE = 64;

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

// The 14 x 32 tile: two zmm of B per k step, each A value broadcast from memory into the FMA.
// M (1 .. 14) rows are computed, a compile-time count: a block of fewer rows (a dense layer's
// forward at batch 10, the last rows of any product) does no FMAs on the panel's zero padding.
// The packed A panel keeps its MR512 stride whatever M is.
template <int M>
__attribute__((target("avx512f"))) void micro_avx512_rows(int kc, const float* pa, const float* pb, long bstride, float* c,
                                                          long ldc, bool add, int nr) {
  __m512 acc[M][2];
#pragma GCC unroll 14
  for (int i = 0; i < M; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
#pragma GCC unroll 14
    for (int i = 0; i < M; i++) {
      const __m512 a = _mm512_set1_ps(pa[i]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
    pa += MR512;
    pb += bstride;
  }
  const __mmask16 m0 = nr >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : static_cast<__mmask16>((1u << (nr - 16)) - 1);
#pragma GCC unroll 14
  for (int i = 0; i < M; i++) {
    float* ci = c + i * ldc;
    if (add) {
      acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(m0, ci));
      acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(m1, ci + 16));
    }
    _mm512_mask_storeu_ps(ci, m0, acc[i][0]);
    _mm512_mask_storeu_ps(ci + 16, m1, acc[i][1]);
  }
}

using RowsKernel = void (*)(int kc, const float* pa, const float* pb, long bstride, float* c, long ldc, bool add, int nr);
template <int... M>
constexpr std::array<RowsKernel, sizeof...(M)> rows_table(std::integer_sequence<int, M...>) {
  return {micro_avx512_rows<M + 1>...};
}

void micro_avx512(int kc, const float* pa, const float* pb, long bstride, float* c, long ldc, bool add, int mr, int nr) {
  static constexpr auto table = rows_table(std::make_integer_sequence<int, MR512>{});
  table[mr - 1](kc, pa, pb, bstride, c, ldc, add, nr);
}

struct Micro {
  MicroKernel fn;
  int mr, nr;
  const char* isa;
};
constexpr Micro kPortable{micro_portable, MR, NR, "portable"};
constexpr Micro kAvx2{micro_avx2, MR, NR, "avx2+fma"};
constexpr Micro kAvx512{micro_avx512, MR512, NR512, "avx512"};

bool has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool has_avx512() { return has_avx2() && __builtin_cpu_supports("avx512f"); }

Micro best() {
  __builtin_cpu_init();
  if (has_avx512()) return kAvx512;
  if (has_avx2()) return kAvx2;
  return kPortable;
}
Micro g_micro = best();

// B block (kc x nc from (p0, j0)) into ceil(nc/nr_) panels of kc x nr_, zero-padded.
void pack_b(int nr_, int kc, int nc, const float* b, long brs, long bcs, float* out) {
  for (int j0 = 0; j0 < nc; j0 += nr_) {
    int nr = std::min(nr_, nc - j0);
    for (int p = 0; p < kc; p++) {
      const float* row = b + p * brs + j0 * bcs;
      if (bcs == 1 && nr == nr_) {
        std::memcpy(out, row, nr_ * sizeof(float));
      } else {
        int j = 0;
        for (; j < nr; j++) out[j] = row[j * bcs];
        for (; j < nr_; j++) out[j] = 0.f;
      }
      out += nr_;
    }
  }
}

// A block (mc x kc) into ceil(mc/mr_) panels of mr_ x kc stored k-major, zero-padded.
void pack_a(int mr_, int mc, int kc, const float* a, long ars, long acs, float* out) {
  for (int i0 = 0; i0 < mc; i0 += mr_) {
    int mr = std::min(mr_, mc - i0);
    if (ars == 1 && mr == mr_) {  // A's columns contiguous (a transposed operand): a copy per k
      for (int p = 0; p < kc; p++, out += mr_) std::memcpy(out, a + i0 + p * acs, mr_ * sizeof(float));
      continue;
    }
    for (int p = 0; p < kc; p++) {
      int i = 0;
      for (; i < mr; i++) out[i] = a[(i0 + i) * ars + p * acs];
      for (; i < mr_; i++) out[i] = 0.f;
      out += mr_;
    }
  }
}

// NJ columns of B at a time share each load of A's MB rows (MB x NJ ymm accumulators, MB a
// compile-time count so they stay in registers); k's tail (under 8) is scalar.
struct DotAvx2 {
  static constexpr int ROWS = 6;
  template <int NJ, int MB>
  __attribute__((target("avx2,fma"))) static void columns(int k, const float* a, long ars, const float* b, long bcs,
                                                          float* c, long ldc, bool accumulate);
};

template <int NJ, int MB>
__attribute__((target("avx2,fma"))) void DotAvx2::columns(int k, const float* a, long ars, const float* b, long bcs,
                                                          float* c, long ldc, bool accumulate) {
  __m256 acc[MB][NJ];
#pragma GCC unroll 6
  for (int i = 0; i < MB; i++)
#pragma GCC unroll 2
    for (int q = 0; q < NJ; q++) acc[i][q] = _mm256_setzero_ps();
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256 bv[NJ];
#pragma GCC unroll 2
    for (int q = 0; q < NJ; q++) bv[q] = _mm256_loadu_ps(b + q * bcs + p);
#pragma GCC unroll 6
    for (int i = 0; i < MB; i++) {
      const __m256 av = _mm256_loadu_ps(a + i * ars + p);
#pragma GCC unroll 2
      for (int q = 0; q < NJ; q++) acc[i][q] = _mm256_fmadd_ps(av, bv[q], acc[i][q]);
    }
  }
  for (int i = 0; i < MB; i++)
    for (int q = 0; q < NJ; q++) {
      __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc[i][q]), _mm256_extractf128_ps(acc[i][q], 1));
      s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
      s4 = _mm_add_ss(s4, _mm_shuffle_ps(s4, s4, 1));
      float sum = _mm_cvtss_f32(s4);
      const float* ai = a + i * ars;
      const float* bj = b + q * bcs;
      for (int r = p; r < k; r++) sum += ai[r] * bj[r];
      float* out = c + i * ldc + q;
      *out = accumulate ? *out + sum : sum;
    }
}

// The same with AVX-512: NJ columns of B at a time share each load of A's MB rows (MB x NJ
// accumulators, MB a compile-time count so they stay in registers); k's tail is read with
// masked loads.
struct DotAvx512 {
  static constexpr int ROWS = 12;
  template <int NJ, int MB>
  __attribute__((target("avx512f"))) static void columns(int k, const float* a, long ars, const float* b, long bcs,
                                                         float* c, long ldc, bool accumulate);
};

template <int NJ, int MB>
__attribute__((target("avx512f"))) void DotAvx512::columns(int k, const float* a, long ars, const float* b, long bcs,
                                                           float* c, long ldc, bool accumulate) {
  __m512 acc[MB][NJ];
#pragma GCC unroll 12
  for (int i = 0; i < MB; i++)
#pragma GCC unroll 2
    for (int q = 0; q < NJ; q++) acc[i][q] = _mm512_setzero_ps();
  for (int p = 0; p < k; p += 16) {
    const __mmask16 mask = k - p >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (k - p)) - 1);
    __m512 bv[NJ];
#pragma GCC unroll 2
    for (int q = 0; q < NJ; q++) bv[q] = _mm512_maskz_loadu_ps(mask, b + q * bcs + p);
#pragma GCC unroll 12
    for (int i = 0; i < MB; i++) {
      const __m512 av = _mm512_maskz_loadu_ps(mask, a + i * ars + p);
#pragma GCC unroll 2
      for (int q = 0; q < NJ; q++) acc[i][q] = _mm512_fmadd_ps(av, bv[q], acc[i][q]);
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MB; i++)
#pragma GCC unroll 2
    for (int q = 0; q < NJ; q++) {
      const float sum = _mm512_reduce_add_ps(acc[i][q]);
      float* out = c + i * ldc + q;
      *out = accumulate ? *out + sum : sum;
    }
}

using DotColumns = void (*)(int k, const float* a, long ars, const float* b, long bcs, float* c, long ldc, bool accumulate);

// D::columns<NJ, mb> for mb = 1 .. D::ROWS, indexed by mb - 1.
template <class D, int NJ, int... MB>
constexpr std::array<DotColumns, sizeof...(MB)> dot_table(std::integer_sequence<int, MB...>) {
  return {D::template columns<NJ, MB + 1>...};
}

// C[m x n] (+)= A * B for B stored transposed (B(p, j) at b[j * bcs + p]) and A's rows contiguous:
// every C value is a dot product of an A row with a B column, both contiguous. For few rows
// (the dense layers' input gradient, dy * W^T at batch 10-50) this reads W once, in place, with
// no packing: column pairs outermost, so a pair's two rows of W stay in L1 for every block of
// D::ROWS rows of A.
template <class D>
void gemm_dot(int m, int n, int k, const float* a, long ars, const float* b, long bcs, float* c, long ldc, bool accumulate) {
  static constexpr auto pairs = dot_table<D, 2>(std::make_integer_sequence<int, D::ROWS>{});
  static constexpr auto singles = dot_table<D, 1>(std::make_integer_sequence<int, D::ROWS>{});
  for (int j = 0; j < n; j += 2) {
    const auto& table = j + 2 <= n ? pairs : singles;
    for (int i0 = 0; i0 < m; i0 += D::ROWS)
      table[std::min(D::ROWS, m - i0) - 1](k, a + i0 * ars, ars, b + j * bcs, bcs, c + i0 * ldc + j, ldc, accumulate);
  }
}

}  // namespace

bool simd_avx2() { return g_micro.fn != micro_portable; }
bool simd_avx512() { return g_micro.fn == micro_avx512; }
const char* gemm_isa() { return g_micro.isa; }
std::vector<const char*> gemm_isas() {
  std::vector<const char*> out;
  if (has_avx512()) out.push_back(kAvx512.isa);
  if (has_avx2()) out.push_back(kAvx2.isa);
  out.push_back(kPortable.isa);
  return out;
}
bool use_isa(const std::string& name) {
  if (name == "auto") {
    g_micro = best();
    return true;
  }
  for (const Micro& m : {kAvx512, kAvx2, kPortable}) {
    if (name != m.isa) continue;
    if ((m.fn == micro_avx512 && !has_avx512()) || (m.fn == micro_avx2 && !has_avx2())) return false;
    g_micro = m;
    return true;
  }
  return false;
}

void gemm(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs, float* c,
          long ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (int i = 0; i < m; i++) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
    return;
  }
  const Micro micro = g_micro;
  const int MRk = micro.mr, NRk = micro.nr, MC = MC_TILES * micro.mr;
  // Few rows, B transposed: dot products over contiguous rows, no packing.
  if (micro.fn != micro_portable && m <= SMALL_M && bcs != 1 && brs == 1 && acs == 1 && k >= 32)
    return micro.fn == micro_avx512 ? gemm_dot<DotAvx512>(m, n, k, a, ars, b, bcs, c, ldc, accumulate)
                                    : gemm_dot<DotAvx2>(m, n, k, a, ars, b, bcs, c, ldc, accumulate);
  // Few rows: packing B (all of it, for m rows of use) costs more than reading its 16-column
  // panels in place, row after row (they stay in L1 for the kc steps of all m rows).
  const bool inPlaceB = m <= SMALL_M && bcs == 1;
  thread_local std::vector<float> pa, pb;
  scratch_resize(pa, static_cast<size_t>(MC_TILES + 1) * MR_MAX * KC);
  scratch_resize(pb, static_cast<size_t>(NC + NR_MAX) * KC);
  for (int jc = 0; jc < n; jc += NC) {
    int nc = std::min(NC, n - jc);
    // B in place: short k blocks, so that the 16-row panels of one block sweep its rows' memory
    // nearly in order (long blocks walk 128 bytes of each of KC rows far apart, latency-bound).
    const int kcMax = inPlaceB ? KC_IN_PLACE : KC;
    for (int pc = 0; pc < k; pc += kcMax) {
      int kc = std::min(kcMax, k - pc);
      bool add = accumulate || pc > 0;
      const float* bblock = b + pc * brs + jc * bcs;
      // In place: only a last partial panel is packed (zero-padded to NR columns).
      const int full = inPlaceB ? nc / NRk * NRk : 0;
      if (full < nc) pack_b(NRk, kc, nc - full, bblock + full * bcs, brs, bcs, pb.data());
      for (int ic = 0; ic < m; ic += MC) {
        int mc = std::min(MC, m - ic);
        pack_a(MRk, mc, kc, a + ic * ars + pc * acs, ars, acs, pa.data());
        for (int jr = 0; jr < nc; jr += NRk) {
          const bool inPlace = jr < full;
          const float* bp = inPlace ? bblock + jr : pb.data() + static_cast<size_t>((jr - full) / NRk) * kc * NRk;
          const long bstride = inPlace ? brs : NRk;
          for (int ir = 0; ir < mc; ir += MRk) {
            const float* ap = pa.data() + static_cast<size_t>(ir / MRk) * kc * MRk;
            micro.fn(kc, ap, bp, bstride, c + (ic + ir) * ldc + jc + jr, ldc, add, std::min(MRk, mc - ir),
                     std::min(NRk, nc - jr));
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
  const int MRk = g_micro.mr, NRk = g_micro.nr;
  // Few rows and B read in place (a dense layer's forward at a small batch): each thread takes a
  // contiguous run of B's rows (k) into its own partial C, summed at the end, so that each
  // streams its own part of B in order instead of every thread striding over all of it.
  if (m <= SMALL_M && bcs == 1 && k >= 64 * threads) {
    const int chunk = (k + threads - 1) / threads;
    const int tasks = (k + chunk - 1) / chunk;
    thread_local std::vector<float> partials;
    const size_t tile = static_cast<size_t>(m) * n;
    scratch_resize(partials, (tasks - 1) * tile);
    float* extra = partials.data();
    parallel_for(tasks, [&](int t) {
      const int p0 = t * chunk, kk = std::min(chunk, k - p0);
      float* out = t == 0 ? c : extra + (t - 1) * tile;
      gemm(m, n, kk, a + p0 * acs, ars, acs, b + p0 * brs, brs, bcs, out, t == 0 ? ldc : n, false);
    });
    for (int t = 1; t < tasks; t++) {
      const float* part = extra + (t - 1) * tile;
      for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[i * ldc + j] += part[static_cast<size_t>(i) * n + j];
    }
    return;
  }
  if (m >= 4 * MRk * threads || m >= n) {
    int chunk = ((m + threads - 1) / threads + MRk - 1) / MRk * MRk;
    int tasks = (m + chunk - 1) / chunk;
    parallel_for(tasks, [&](int t) {
      int i0 = t * chunk, mm = std::min(chunk, m - i0);
      gemm(mm, n, k, a + i0 * ars, ars, acs, b, brs, bcs, c + i0 * ldc, ldc, false);
    });
  } else {
    int chunk = ((n + threads - 1) / threads + NRk - 1) / NRk * NRk;
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
