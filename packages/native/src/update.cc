// The SGD weight update in one pass: out = c * g + v (c = -learning rate), the same two float32
// roundings, in the same order, as tfjs's add(mul(c, g), v) (this file is built for the
// baseline ISA, so the compiler cannot contract them into one FMA). Half the memory traffic of
// the two separate kernels, which matters for the CNN's 3136x512 dense weights (6.4 MB).
#include <algorithm>
#include "kernels.h"

namespace fl {

void sgd_update_serial(const float* v, const float* g, float* out, long n, float c) {
  for (long i = 0; i < n; i++) {
    float step = c * g[i];
    out[i] = step + v[i];
  }
}

void sgd_update(const float* v, const float* g, float* out, long n, float c) {
  constexpr long CHUNK = 1L << 16;
  const long tasks = n > 4 * CHUNK ? (n + CHUNK - 1) / CHUNK : 1;
  parallel_for(static_cast<int>(tasks), [&](int t) {
    const long lo = t * CHUNK, hi = tasks == 1 ? n : std::min(n, lo + CHUNK);
    for (long i = lo; i < hi; i++) {
      float step = c * g[i];
      out[i] = step + v[i];
    }
  });
}

}  // namespace fl
