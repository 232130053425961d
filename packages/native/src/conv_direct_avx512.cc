// The direct convolution kernels for AVX-512F (16 floats a vector, 32 zmm registers).
#include <immintrin.h>
#include <algorithm>
#include "conv_direct_isa.h"

#define FL_TARGET __attribute__((target("avx512f")))
#define FL_ISA avx512
namespace fl::avx512 {
namespace {
struct S {
  using V = __m512;
  static constexpr int N = 16;
  FL_TARGET static V load(const float* p) { return _mm512_loadu_ps(p); }
  FL_TARGET static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  FL_TARGET static V bcast(const float* p) { return _mm512_set1_ps(*p); }
  FL_TARGET static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  FL_TARGET static V max0(V a) { return _mm512_max_ps(_mm512_setzero_ps(), a); }
  FL_TARGET static V zero() { return _mm512_setzero_ps(); }
};
}  // namespace
}  // namespace fl::avx512
#include "conv_direct_kernels.h"

namespace fl::avx512 {
namespace {
// Register tiles within 32 zmm: R pixels (T taps x CB channels) x NV vectors of accumulators, NV
// loaded vectors, one broadcast; outC in passes of NV vectors where it has more.
// Few input channels (a short reduction per block): shorter blocks measured faster.
FwdKernel fwd_for(int nv, int inC) {
  switch (nv) {
    case 1: return fwd_kernel<1, 14>();
    case 2: return inC <= 4 ? fwd_kernel<2, 7>() : fwd_kernel<2, 14>();
    case 3: return fwd_kernel<3, 7>();
    case 4: return fwd_kernel<2, 14>();
    default: return {nullptr, 0, false};
  }
}
DwImage dw_for(int nv) {
  switch (nv) {
    case 1: return dw_image<1, 5, 5>;
    case 2: return dw_image<2, 5, 2>;
    case 3: return dw_image<3, 5, 1>;
    case 4: return dw_image<4, 3, 2>;
    default: return nullptr;
  }
}
}  // namespace
const DirectKernels direct{S::N, 1 << 20, fwd_for, dw_for};
}  // namespace fl::avx512
