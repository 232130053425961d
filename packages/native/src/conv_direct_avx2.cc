// The direct convolution kernels for AVX2+FMA (8 floats a vector, 16 ymm registers).
#include <immintrin.h>
#include <algorithm>
#include "conv_direct_isa.h"

#define FL_TARGET __attribute__((target("avx2,fma")))
#define FL_ISA avx2
namespace fl::avx2 {
namespace {
struct S {
  using V = __m256;
  static constexpr int N = 8;
  FL_TARGET static V load(const float* p) { return _mm256_loadu_ps(p); }
  FL_TARGET static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  FL_TARGET static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  FL_TARGET static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  FL_TARGET static V max0(V a) { return _mm256_max_ps(_mm256_setzero_ps(), a); }
  FL_TARGET static V zero() { return _mm256_setzero_ps(); }
};
}  // namespace
}  // namespace fl::avx2
#include "conv_direct_kernels.h"

namespace fl::avx2 {
namespace {
// Register tiles within 16 ymm: R pixels (T taps) x NV vectors of accumulators, NV loaded vectors,
// one broadcast; outC in passes of NV vectors where it has more. Many input channels (a long
// reduction per block, the filter streamed from L2 for every block): 5 pixels x 2 vectors load
// half as much filter per FMA as 3 x 4 (CNN conv2 forward 200-208 -> 221-230 GFLOP/s, input
// gradient 200-209 -> 220-227, 2 threads); the first conv's single channel keeps 3 x 4.
FwdKernel fwd_for(int nv, int inC) {
  switch (nv) {
    case 1: return fwd_kernel<1, 8>();
    case 2: return fwd_kernel<2, 5>();
    case 3: return fwd_kernel<3, 3>();
    case 4: return inC <= 4 ? fwd_kernel<4, 3>() : fwd_kernel<2, 5>();
    case 5: return fwd_kernel<5, 2>();
    case 6: return fwd_kernel<3, 3>();
    case 8: return fwd_kernel<2, 5>();
    default: return {nullptr, 0, false};
  }
}
DwImage dw_for(int nv) {
  switch (nv) {
    case 1: return dw_image<1, 6, 1>;
    case 2: return dw_image<2, 4, 1>;
    case 3: return dw_image<3, 3, 1>;
    case 4: return dw_image<4, 2, 1>;
    case 5: return dw_image<5, 1, 1>;
    case 6: return dw_image<3, 3, 1>;
    case 8: return dw_image<2, 3, 2>;
    default: return nullptr;
  }
}
// Which inC the direct path takes, by vendor, as measured. On AMD (Zen 5 run at AVX2, the CNN's
// conv2: 14x14x32 -> 64, 5x5) it beat im2col + GEMM: filter gradient 153-168 -> 199-202
// GFLOP/s, input gradient and forward the same or better, the fused step at batch 10 5.7-6.1 ->
// 4.3-5.2 ms. On an Intel Xeon run at AVX2 it lost (forward 132.9 against 144.3 GFLOP/s, input
// gradient 133.6 against 165.7), so there it stays for the first conv's few channels.
int max_direct_in_channels() {
  __builtin_cpu_init();
  return __builtin_cpu_is("amd") ? 1 << 20 : 4;
}
}  // namespace
const DirectKernels direct{S::N, max_direct_in_channels(), fwd_for, dw_for};
}  // namespace fl::avx2
