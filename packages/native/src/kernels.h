// fedlink native kernels: float32, row-major. One header for the addon's C++ units.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
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
// Which micro-kernel gemm runs: "avx512", "avx2+fma" or "portable".
const char* gemm_isa();
// The micro-kernels this CPU can run, best first ("portable" always last).
std::vector<const char*> gemm_isas();
// Runs `name` (one of gemm_isas(), or "auto" for the best) from now on; false if this CPU can't.
bool use_isa(const std::string& name);
// true when the AVX2+FMA kernels (or AVX-512, which implies them) are in use, not portable.
bool simd_avx2();
// true when the AVX-512 kernels are in use.
bool simd_avx512();

// The fp32 FMA throughput of the ISA in use over all pool threads, measured for about ms (peak.cc).
double fma_peak_gflops(double ms);

// c[i*n + j] = act(c[i*n + j] + bias[j]) (bias may be null; relu when relu).
void bias_act(float* c, int m, int n, const float* bias, bool relu);

struct ConvDims {
  int batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, dilH, dilW, padTop, padLeft;
};
void conv2d_forward(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu);
void conv2d_backprop_input(const ConvDims& d, const float* dy, const float* w, float* dx);
void conv2d_backprop_filter(const ConvDims& d, const float* x, const float* dy, float* dw);
// Which algorithm each of the three runs for d on the ISA in use (the dispatch above uses these).
enum class ConvPath { WINOGRAD, DIRECT, IM2COL };
ConvPath conv2d_forward_path(const ConvDims& d);
ConvPath conv2d_backprop_input_path(const ConvDims& d);
ConvPath conv2d_backprop_filter_path(const ConvDims& d);
const char* conv_path_name(ConvPath p);
// Direct (no im2col) forward and filter gradient for few input channels (conv_direct.cc);
// conv2d_forward / conv2d_backprop_filter take this path when direct_conv_applies(d).
bool direct_conv_applies(const ConvDims& d);
void conv2d_forward_direct(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu);
void conv2d_backprop_filter_direct(const ConvDims& d, const float* x, const float* dy, float* dw);
// The input gradient as a direct forward convolution (stride 1, no dilation); conv2d_backprop_input
// takes this path when direct_backprop_input_applies(d).
bool direct_backprop_input_applies(const ConvDims& d);
void conv2d_backprop_input_direct(const ConvDims& d, const float* dy, const float* w, float* dx);
// Whether d's input gradient is a forward convolution over dy (stride 1, no dilation, padding
// below the filter's size), and that convolution's geometry (conv_direct.cc).
bool input_gradient_is_forward(const ConvDims& d);
ConvDims input_gradient_as_forward(const ConvDims& d);
// 5x5 stride-1 convolutions with many channels by Winograd's F(2x2, 5x5) (conv_winograd.cc), on
// AVX2 and AVX-512: conv2d_forward, conv2d_backprop_filter and conv2d_backprop_input take this
// path when winograd_applies (for the input gradient: to input_gradient_as_forward(d)).
bool winograd_applies(const ConvDims& d);
void conv2d_forward_winograd(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu);
void conv2d_backprop_input_winograd(const ConvDims& d, const float* dy, const float* w, float* dx);
void conv2d_backprop_filter_winograd(const ConvDims& d, const float* x, const float* dy, float* dw);

struct PoolDims {
  int batch, inH, inW, ch, outH, outW, fH, fW, strideH, strideW, padTop, padLeft;
};
void maxpool_forward(const PoolDims& d, const float* x, float* y);
void maxpool_backward(const PoolDims& d, const float* dy, const float* x, float* dx);

// out[i] = c * g[i] + v[i], rounded as two float32 operations (update.cc).
void sgd_update(const float* v, const float* g, float* out, long n, float c);
// The same on the calling thread only (for callers already inside a parallel_for task).
void sgd_update_serial(const float* v, const float* g, float* out, long n, float c);

// One layer of a sequential model's fused SGD step (sequential_step.cc). DENSE: din x dout
// weights, dout biases; CONV: `conv` geometry (batch set), fH x fW x inC x outC weights, outC
// biases; POOL: max pooling with `pool` geometry. relu: a relu after the layer (dense, conv).
// out_size: the layer's output elements for the whole batch. New weights go to w_out / b_out.
struct SeqLayer {
  enum Kind { DENSE = 0, CONV = 1, POOL = 2 };
  int kind, relu, din, dout;
  ConvDims conv;
  PoolDims pool;
  long out_size;
  const float* w;
  const float* b;
  float* w_out;
  float* b_out;
};
// x: the batch's input (in_size elements), y: batch x classes labels (one-hot or soft); the last
// layer is dense without relu (the logits). c = -learning rate, each update rounded as
// sgd_update. Returns the mean loss and how many rows' logits peak where y does.
struct SeqStep {
  int batch, layers, classes;
  const SeqLayer* l;
  const float* x;
  long in_size;
  const float* y;
  float c;
};
struct StepResult {
  double loss;
  int hits;
};
StepResult sequential_sgd_step(const SeqStep& s);

}  // namespace fl
