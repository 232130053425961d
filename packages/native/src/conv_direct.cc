// Direct (no im2col) convolution. Each image is first copied into a zero-padded buffer (no
// bounds checks in the loops); then the per-ISA kernels (conv_direct_kernels.h) keep a block of
// outputs in registers:
//   forward: R output pixels x a pass of output channels, over all taps and input channels;
//   filter gradient: taps x input channels x a pass of output channels, over all output pixels;
//   input gradient (stride 1): the forward kernel on dy with the filter flipped.
// AVX2+FMA takes it for few input channels (the first conv of an image model: inC = 1, a 5x5
// patch is K = 25, where im2col + GEMM spends more on copies and tile edges than on FMAs);
// AVX-512 for any inC whose filter fits in L2. Otherwise (and on the portable ISA) the im2col
// path in conv.cc runs.
#include <immintrin.h>
#include <algorithm>
#include <cstring>
#include <vector>
#include "conv_direct_isa.h"

namespace fl {
namespace {

struct Padded {
  long h, w;  // padded rows and columns actually read
};

Padded padded_size(const ConvDims& d) {
  return {static_cast<long>(d.outH - 1) * d.strideH + static_cast<long>(d.fH - 1) * d.dilH + 1,
          static_cast<long>(d.outW - 1) * d.strideW + static_cast<long>(d.fW - 1) * d.dilW + 1};
}

// pad[py][px][c] = x[py - padTop][px - padLeft][c], zero outside the image.
void pad_image(const ConvDims& d, const Padded& p, const float* x, float* pad) {
  const long C = d.inC;
  for (long py = 0; py < p.h; py++) {
    float* row = pad + py * p.w * C;
    long iy = py - d.padTop;
    if (iy < 0 || iy >= d.inH) {
      std::fill(row, row + p.w * C, 0.f);
      continue;
    }
    for (long px = 0; px < p.w; px++) {
      long ix = px - d.padLeft;
      float* dst = row + px * C;
      if (ix < 0 || ix >= d.inW) std::fill(dst, dst + C, 0.f);
      else std::memcpy(dst, x + (iy * d.inW + ix) * C, C * sizeof(float));
    }
  }
}

const DirectKernels* direct_kernels() {
  if (simd_avx512()) return &avx512::direct;
  if (simd_avx2()) return &avx2::direct;
  return nullptr;
}

}  // namespace

bool direct_conv_applies(const ConvDims& d) {
  const DirectKernels* k = direct_kernels();
  if (!k || d.outC % k->lanes != 0 || !k->fwd(d.outC / k->lanes, d.inC).run || d.outH <= 0 || d.outW <= 0 || d.batch <= 0) return false;
  // The forward kernel streams all of W for every block of R pixels: W must stay in L2.
  const long wBytes = static_cast<long>(d.fH) * d.fW * d.inC * d.outC * sizeof(float);
  return d.inC <= k->max_in_channels && wBytes <= 512L * 1024;
}

namespace {

// Whether kern reads its filter as one panel per pass (a packed kernel over several passes)
// rather than as HWIO: each pass then reads its part in order (an HWIO row holds every pass's
// output channels).
bool panelled(const ConvDims& d, const FwdKernel& kern, int lanes) {
  return kern.packed && d.outC > static_cast<long>(kern.pass) * lanes;
}

// Writes the filter into out in the layout kern reads: HWIO, or one panel per pass. Row r
// (tap * inC + input channel) of the source starts at src(r) and steps by `step` floats from one
// output channel to the next.
template <class Row>
void lay_out_filter(const ConvDims& d, const FwdKernel& kern, int lanes, Row src, long step, float* out) {
  const long rows = static_cast<long>(d.fH) * d.fW * d.inC;
  const long width = panelled(d, kern, lanes) ? static_cast<long>(kern.pass) * lanes : d.outC;
  for (long p = 0; p < d.outC / width; p++)
    for (long r = 0; r < rows; r++) {
      const float* row = src(r) + p * width * step;
      float* dst = out + (p * rows + r) * width;
      for (long j = 0; j < width; j++) dst[j] = row[j * step];
    }
}

// The forward pass with w already in the layout kern reads.
void run_forward(const ConvDims& d, const FwdKernel& kern, const float* x, const float* w, float* y, const float* bias, bool relu) {
  const Padded p = padded_size(d);
  const long inImg = static_cast<long>(d.inH) * d.inW * d.inC, outImg = static_cast<long>(d.outH) * d.outW * d.outC;
  parallel_for(d.batch, [&](int n) {
    thread_local std::vector<float> pad;
    scratch_resize(pad, static_cast<size_t>(p.h * p.w * d.inC));
    pad_image(d, p, x + n * inImg, pad.data());
    kern.run(d, pad.data(), p.w, w, y + n * outImg, bias, relu);
  });
}

}  // namespace

void conv2d_forward_direct(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu) {
  const DirectKernels* k = direct_kernels();
  const FwdKernel kern = k->fwd(d.outC / k->lanes, d.inC);
  if (!panelled(d, kern, k->lanes)) return run_forward(d, kern, x, w, y, bias, relu);
  thread_local std::vector<float> panels;
  scratch_resize(panels, static_cast<size_t>(d.fH) * d.fW * d.inC * d.outC);
  lay_out_filter(d, kern, k->lanes, [&](long r) { return w + r * d.outC; }, 1, panels.data());
  run_forward(d, kern, x, panels.data(), y, bias, relu);
}

// The input gradient of a stride-1 convolution is a forward convolution of dy with the filter
// flipped in space and its channel axes swapped, padded by fH - 1 - padTop (fW - 1 - padLeft).
ConvDims input_gradient_as_forward(const ConvDims& d) {
  return {d.batch, d.outH, d.outW, d.outC, d.inH, d.inW, d.inC, d.fH, d.fW, 1, 1, 1, 1, d.fH - 1 - d.padTop, d.fW - 1 - d.padLeft};
}

bool input_gradient_is_forward(const ConvDims& d) {
  return d.strideH == 1 && d.strideW == 1 && d.dilH == 1 && d.dilW == 1 && d.padTop <= d.fH - 1 && d.padLeft <= d.fW - 1;
}

bool direct_backprop_input_applies(const ConvDims& d) {
  return input_gradient_is_forward(d) && direct_conv_applies(input_gradient_as_forward(d));
}

void conv2d_backprop_input_direct(const ConvDims& d, const float* dy, const float* w, float* dx) {
  // W'[fy][fx][o][c] = W[fH-1-fy][fW-1-fx][c][o], written straight into the kernel's layout.
  const ConvDims f = input_gradient_as_forward(d);
  const DirectKernels* k = direct_kernels();
  const FwdKernel kern = k->fwd(f.outC / k->lanes, f.inC);
  const long taps = static_cast<long>(d.fH) * d.fW, C = d.inC, O = d.outC;
  thread_local std::vector<float> flipped;
  scratch_resize(flipped, static_cast<size_t>(taps * C * O));
  // Row r of W' is tap t = r / O, original output channel o = r % O; along it, c steps by O.
  lay_out_filter(f, kern, k->lanes, [&](long r) { return w + (taps - 1 - r / O) * C * O + r % O; }, O, flipped.data());
  run_forward(f, kern, dy, flipped.data(), dx, nullptr, false);
}

void conv2d_backprop_filter_direct(const ConvDims& d, const float* x, const float* dy, float* dw) {
  const Padded p = padded_size(d);
  const long inImg = static_cast<long>(d.inH) * d.inW * d.inC, outImg = static_cast<long>(d.outH) * d.outW * d.outC;
  const long wSize = static_cast<long>(d.fH) * d.fW * d.inC * d.outC;
  const DirectKernels* k = direct_kernels();
  DwImage run = k->dw(d.outC / k->lanes);
  int tasks = std::min(pool_threads(), d.batch);
  thread_local std::vector<float> partials;  // tasks - 1 extra accumulators (task 0 writes dw)
  scratch_resize(partials, static_cast<size_t>(std::max(0, tasks - 1) * wSize));
  float* extra = partials.data();  // this (calling) thread's buffer, shared with the workers
  parallel_for(tasks, [&](int t) {
    float* acc = t == 0 ? dw : extra + (t - 1) * wSize;
    std::fill(acc, acc + wSize, 0.f);
    thread_local std::vector<float> pad;
    scratch_resize(pad, static_cast<size_t>(p.h * p.w * d.inC));
    for (int n = t; n < d.batch; n += tasks) {
      pad_image(d, p, x + n * inImg, pad.data());
      run(d, pad.data(), p.w, dy + n * outImg, acc);
    }
  });
  for (int t = 1; t < tasks; t++) {
    const float* part = extra + (t - 1) * wSize;
    for (long i = 0; i < wSize; i++) dw[i] += part[i];
  }
}

}  // namespace fl
