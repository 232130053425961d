// 2-D convolution, NHWC with HWIO filters, as im2col + the packed GEMM, one image per task:
//   forward:        y_img[P x O]   = col(x_img)[P x K] * W[K x O]   (+ bias, relu)
//   input grad:     dx_img         = col2im(dy_img[P x O] * W^T)
//   filter grad:    dW[K x O]      = sum over images of col(x_img)^T * dy_img  (per-thread partials)
// with P = outH*outW output pixels and K = fH*fW*inC. Before it: 5x5 stride-1 convolutions with
// 16+ channels by Winograd (conv_winograd.cc, all three), then the direct kernels (conv_direct.cc).
#include <algorithm>
#include <cstring>
#include <vector>
#include "kernels.h"

namespace fl {
namespace {

long pixels(const ConvDims& d) { return static_cast<long>(d.outH) * d.outW; }
long patch(const ConvDims& d) { return static_cast<long>(d.fH) * d.fW * d.inC; }

void im2col(const ConvDims& d, const float* x, float* col) {
  const long K = patch(d);
  for (int oy = 0; oy < d.outH; oy++) {
    for (int ox = 0; ox < d.outW; ox++) {
      float* row = col + (static_cast<long>(oy) * d.outW + ox) * K;
      for (int fy = 0; fy < d.fH; fy++) {
        int iy = oy * d.strideH + fy * d.dilH - d.padTop;
        for (int fx = 0; fx < d.fW; fx++) {
          int ix = ox * d.strideW + fx * d.dilW - d.padLeft;
          float* dst = row + (static_cast<long>(fy) * d.fW + fx) * d.inC;
          if (iy < 0 || iy >= d.inH || ix < 0 || ix >= d.inW) {
            std::fill(dst, dst + d.inC, 0.f);
          } else {
            std::memcpy(dst, x + (static_cast<long>(iy) * d.inW + ix) * d.inC, d.inC * sizeof(float));
          }
        }
      }
    }
  }
}

void col2im_add(const ConvDims& d, const float* col, float* x) {
  const long K = patch(d);
  for (int oy = 0; oy < d.outH; oy++) {
    for (int ox = 0; ox < d.outW; ox++) {
      const float* row = col + (static_cast<long>(oy) * d.outW + ox) * K;
      for (int fy = 0; fy < d.fH; fy++) {
        int iy = oy * d.strideH + fy * d.dilH - d.padTop;
        if (iy < 0 || iy >= d.inH) continue;
        for (int fx = 0; fx < d.fW; fx++) {
          int ix = ox * d.strideW + fx * d.dilW - d.padLeft;
          if (ix < 0 || ix >= d.inW) continue;
          const float* src = row + (static_cast<long>(fy) * d.fW + fx) * d.inC;
          float* dst = x + (static_cast<long>(iy) * d.inW + ix) * d.inC;
          for (int c = 0; c < d.inC; c++) dst[c] += src[c];
        }
      }
    }
  }
}

}  // namespace

ConvPath conv2d_forward_path(const ConvDims& d) {
  if (winograd_applies(d)) return ConvPath::WINOGRAD;
  return direct_conv_applies(d) ? ConvPath::DIRECT : ConvPath::IM2COL;
}
ConvPath conv2d_backprop_filter_path(const ConvDims& d) { return conv2d_forward_path(d); }
ConvPath conv2d_backprop_input_path(const ConvDims& d) {
  if (input_gradient_is_forward(d) && winograd_applies(input_gradient_as_forward(d))) return ConvPath::WINOGRAD;
  return direct_backprop_input_applies(d) ? ConvPath::DIRECT : ConvPath::IM2COL;
}
const char* conv_path_name(ConvPath p) { return p == ConvPath::WINOGRAD ? "winograd" : p == ConvPath::DIRECT ? "direct" : "im2col"; }

void conv2d_forward(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu) {
  const ConvPath path = conv2d_forward_path(d);
  if (path == ConvPath::WINOGRAD) return conv2d_forward_winograd(d, x, w, y, bias, relu);
  if (path == ConvPath::DIRECT) return conv2d_forward_direct(d, x, w, y, bias, relu);
  const long P = pixels(d), K = patch(d), inImg = static_cast<long>(d.inH) * d.inW * d.inC;
  parallel_for(d.batch, [&](int n) {
    thread_local std::vector<float> col;
    scratch_resize(col, static_cast<size_t>(P * K));
    im2col(d, x + n * inImg, col.data());
    float* yi = y + n * P * d.outC;
    gemm(static_cast<int>(P), d.outC, static_cast<int>(K), col.data(), K, 1, w, d.outC, 1, yi, d.outC, false);
    bias_act(yi, static_cast<int>(P), d.outC, bias, relu);
  });
}

void conv2d_backprop_input(const ConvDims& d, const float* dy, const float* w, float* dx) {
  const ConvPath path = conv2d_backprop_input_path(d);
  if (path == ConvPath::WINOGRAD) return conv2d_backprop_input_winograd(d, dy, w, dx);
  if (path == ConvPath::DIRECT) return conv2d_backprop_input_direct(d, dy, w, dx);
  const long P = pixels(d), K = patch(d), inImg = static_cast<long>(d.inH) * d.inW * d.inC;
  parallel_for(d.batch, [&](int n) {
    thread_local std::vector<float> col;
    scratch_resize(col, static_cast<size_t>(P * K));
    gemm(static_cast<int>(P), static_cast<int>(K), d.outC, dy + n * P * d.outC, d.outC, 1, w, 1, d.outC, col.data(), K,
         false);
    float* dxi = dx + n * inImg;
    std::fill(dxi, dxi + inImg, 0.f);
    col2im_add(d, col.data(), dxi);
  });
}

void conv2d_backprop_filter(const ConvDims& d, const float* x, const float* dy, float* dw) {
  const ConvPath path = conv2d_backprop_filter_path(d);
  if (path == ConvPath::WINOGRAD) return conv2d_backprop_filter_winograd(d, x, dy, dw);
  if (path == ConvPath::DIRECT) return conv2d_backprop_filter_direct(d, x, dy, dw);
  const long P = pixels(d), K = patch(d), inImg = static_cast<long>(d.inH) * d.inW * d.inC;
  const long wSize = K * d.outC;
  int tasks = std::min(pool_threads(), d.batch);
  std::vector<std::vector<float>> partial(tasks);
  parallel_for(tasks, [&](int t) {
    std::vector<float>& acc = partial[t];
    acc.assign(static_cast<size_t>(wSize), 0.f);
    thread_local std::vector<float> col;
    scratch_resize(col, static_cast<size_t>(P * K));
    for (int n = t; n < d.batch; n += tasks) {
      im2col(d, x + n * inImg, col.data());
      gemm(static_cast<int>(K), d.outC, static_cast<int>(P), col.data(), 1, K, dy + n * P * d.outC, d.outC, 1,
           acc.data(), d.outC, true);
    }
  });
  std::memcpy(dw, partial[0].data(), wSize * sizeof(float));
  for (int t = 1; t < tasks; t++)
    for (long i = 0; i < wSize; i++) dw[i] += partial[t][i];
}

}  // namespace fl
