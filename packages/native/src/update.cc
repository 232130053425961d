// The SGD weight update in one pass: out = c * g + v (c = -learning rate), the same two float32
// roundings, in the same order, as tfjs's add(mul(c, g), v): a multiply, then an add, never one
// FMA: GCC would contract the intrinsics' mul and add too, so contraction is off for this file.
// Half the memory traffic of the two separate kernels, which matters for the CNN's 3136x512
// dense weights (6.4 MB).
#pragma GCC optimize("fp-contract=off")
#include <immintrin.h>
#include <algorithm>
#include "kernels.h"

namespace fl {

namespace {
void update_scalar(const float* v, const float* g, float* out, long lo, long hi, float c) {
  for (long i = lo; i < hi; i++) {
    float step = c * g[i];
    out[i] = step + v[i];
  }
}

__attribute__((target("avx2"))) void update_avx2(const float* v, const float* g, float* out, long n, float c) {
  const __m256 cv = _mm256_set1_ps(c);
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_add_ps(_mm256_mul_ps(cv, _mm256_loadu_ps(g + i)), _mm256_loadu_ps(v + i));
    const __m256 b = _mm256_add_ps(_mm256_mul_ps(cv, _mm256_loadu_ps(g + i + 8)), _mm256_loadu_ps(v + i + 8));
    _mm256_storeu_ps(out + i, a);
    _mm256_storeu_ps(out + i + 8, b);
  }
  update_scalar(v, g, out, i, n, c);
}

__attribute__((target("avx512f"))) void update_avx512(const float* v, const float* g, float* out, long n, float c) {
  const __m512 cv = _mm512_set1_ps(c);
  long i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_add_ps(_mm512_mul_ps(cv, _mm512_loadu_ps(g + i)), _mm512_loadu_ps(v + i));
    const __m512 b = _mm512_add_ps(_mm512_mul_ps(cv, _mm512_loadu_ps(g + i + 16)), _mm512_loadu_ps(v + i + 16));
    _mm512_storeu_ps(out + i, a);
    _mm512_storeu_ps(out + i + 16, b);
  }
  update_scalar(v, g, out, i, n, c);
}
}  // namespace

void sgd_update_serial(const float* v, const float* g, float* out, long n, float c) {
  if (simd_avx512()) return update_avx512(v, g, out, n, c);
  if (simd_avx2()) return update_avx2(v, g, out, n, c);
  update_scalar(v, g, out, 0, n, c);
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
