// The SGD weight update in one pass: out = c * g + v (c = -learning rate), the same two float32
// roundings, in the same order, as tfjs's add(mul(c, g), v): a multiply, then an add, never one
// FMA (contraction is off for this file, or GCC would fuse them in the AVX2/AVX-512 builds).
// Half the memory traffic of the two separate kernels, which matters for the CNN's 3136x512
// dense weights (6.4 MB).
#pragma GCC optimize("fp-contract=off")
#include <algorithm>
#include "kernels.h"

namespace fl {

namespace {
// One loop for every ISA: each wrapper below compiles it for its own, and the vectoriser turns the
// multiply and the add into full-width vector ones (not an FMA: contraction is off).
__attribute__((always_inline)) inline void update_range(const float* v, const float* g, float* out, long n, float c) {
  for (long i = 0; i < n; i++) {
    float step = c * g[i];
    out[i] = step + v[i];
  }
}

void update_scalar(const float* v, const float* g, float* out, long n, float c) { update_range(v, g, out, n, c); }
__attribute__((target("avx2"))) void update_avx2(const float* v, const float* g, float* out, long n, float c) {
  update_range(v, g, out, n, c);
}
__attribute__((target("avx512f,prefer-vector-width=512"))) void update_avx512(const float* v, const float* g, float* out,
                                                                                long n, float c) {
  update_range(v, g, out, n, c);
}
}  // namespace

void sgd_update_serial(const float* v, const float* g, float* out, long n, float c) {
  if (simd_avx512()) return update_avx512(v, g, out, n, c);
  if (simd_avx2()) return update_avx2(v, g, out, n, c);
  update_scalar(v, g, out, n, c);
}

void sgd_update(const float* v, const float* g, float* out, long n, float c) {
  constexpr long CHUNK = 1L << 16;
  const long tasks = n > 4 * CHUNK ? (n + CHUNK - 1) / CHUNK : 1;
  parallel_for(static_cast<int>(tasks), [&](int t) {
    const long lo = t * CHUNK, hi = tasks == 1 ? n : std::min(n, lo + CHUNK);
    sgd_update_serial(v + lo, g + lo, out + lo, hi - lo, c);
  });
}

}  // namespace fl
