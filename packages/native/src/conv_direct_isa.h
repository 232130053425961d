// What each ISA's direct-convolution unit (conv_direct_avx2.cc, conv_direct_avx512.cc) exports:
// per-image kernels for outC = nv vectors of that ISA's width (and the forward's inC), or null
// where it has no tile.
#pragma once
#include "kernels.h"

namespace fl {

// A forward kernel: its passes' width in vectors and whether it takes w in panels of that width
// (conv_direct_kernels.h); run is null where there is no tile.
using FwdImage = void (*)(const ConvDims&, const float* pad, long pw, const float* w, float* y, const float* bias, bool relu);
struct FwdKernel {
  FwdImage run;
  int pass;
  bool packed;
};
using DwImage = void (*)(const ConvDims&, const float* pad, long pw, const float* dy, float* dw);

struct DirectKernels {
  int lanes;            // floats per vector: outC must be a multiple
  int max_in_channels;  // above this, im2col + the GEMM is faster on this ISA
  FwdKernel (*fwd)(int nv, int inC);
  DwImage (*dw)(int nv);
};

namespace avx2 {
extern const DirectKernels direct;
}
namespace avx512 {
extern const DirectKernels direct;
}

}  // namespace fl
