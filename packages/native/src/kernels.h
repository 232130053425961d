// fedlink native kernels: float32, row-major. One header for the addon's C++ units.
#pragma once
#include <cstddef>
#include <functional>
#include <vector>

namespace fl {

// Resizes a scratch buffer, counting what the addon's scratch holds in total (scratch_bytes).
void scratch_resize(std::vector<float>& v, size_t n);
long long scratch_bytes();

// Runs fn(task) for task in [0, tasks) on the pool (the calling thread takes part).
void parallel_for(int tasks, const std::function<void(int)>& fn);
int pool_threads();
void set_pool_threads(int n);

// C[m x n] (+)= op(A)[m x k] * op(B)[k x n]; A element (i,p) at a[i*ars + p*acs], B (p,j) at b[p*brs + j*bcs].
// accumulate=false overwrites C. Single-threaded; callers split work across the pool.
void gemm(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs,
          float* c, long ldc, bool accumulate);
// Like gemm, but splits the rows/columns across the pool when the product is big enough.
void gemm_parallel(int m, int n, int k, const float* a, long ars, long acs, const float* b, long brs, long bcs,
                   float* c, long ldc);
// Which micro-kernel gemm runs: "avx2+fma" or "portable".
const char* gemm_isa();
// true when the AVX2+FMA kernels are in use (not forced portable).
bool simd_avx2();
void force_portable(bool on);

// c[i*n + j] = act(c[i*n + j] + bias[j]) (bias may be null; relu when relu).
void bias_act(float* c, int m, int n, const float* bias, bool relu);

struct ConvDims {
  int batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, dilH, dilW, padTop, padLeft;
};
void conv2d_forward(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu);
void conv2d_backprop_input(const ConvDims& d, const float* dy, const float* w, float* dx);
void conv2d_backprop_filter(const ConvDims& d, const float* x, const float* dy, float* dw);
// Direct (no im2col) forward and filter gradient for few input channels (conv_direct.cc);
// conv2d_forward / conv2d_backprop_filter take this path when direct_conv_applies(d).
bool direct_conv_applies(const ConvDims& d);
void conv2d_forward_direct(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu);
void conv2d_backprop_filter_direct(const ConvDims& d, const float* x, const float* dy, float* dw);

struct PoolDims {
  int batch, inH, inW, ch, outH, outW, fH, fW, strideH, strideW, padTop, padLeft;
};
void maxpool_forward(const PoolDims& d, const float* x, float* y);
void maxpool_backward(const PoolDims& d, const float* dy, const float* x, float* dx);

// out[i] = c * g[i] + v[i], rounded as two float32 operations (update.cc).
void sgd_update(const float* v, const float* g, float* out, long n, float c);

// One SGD step of dense layers on softmax cross-entropy (dense_step.cc). widths has layers + 1
// entries (input width, then each layer's units); w[l] is widths[l] x widths[l+1] row-major,
// b[l] widths[l+1]; relu[l] != 0: relu after layer l (the last is the logits: linear). x is
// batch x widths[0], y batch x widths[layers] (one-hot or soft labels). New weights go to
// w_out/b_out (c = -learning rate, rounded as sgd_update); the result is the mean loss and how
// many rows' logits have their maximum where y has its.
struct DenseStep {
  int batch, layers;
  const int* widths;
  const int* relu;
  const float* x;
  const float* y;
  const float* const* w;
  const float* const* b;
  float* const* w_out;
  float* const* b_out;
  float c;
};
struct DenseStepResult {
  double loss;
  int hits;
};
DenseStepResult dense_sgd_step(const DenseStep& s);

}  // namespace fl
