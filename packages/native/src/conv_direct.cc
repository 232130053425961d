// Direct convolution for layers with few input channels (the first conv of an image model:
// inC = 1, a 5x5 patch is K = 25), where im2col + GEMM spends more time on copies and on tile
// edges of a 25-long reduction than on FMAs. Each image is first copied into a zero-padded
// buffer (no bounds checks in the loops); then
//   forward: R output pixels x outC channels stay in ymm accumulators over all K taps;
//   filter gradient: T taps x outC channels stay in registers over all output pixels.
// AVX2+FMA only (the GEMM's dispatch decides: simd_avx2()); otherwise the im2col path runs.
#include <immintrin.h>
#include <algorithm>
#include <cstring>
#include <vector>
#include "kernels.h"

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

// y[oy][ox0 .. ox0+R) = act(bias + sum over taps of pad * w), NV*8 = outC channels.
template <int NV, int R>
__attribute__((target("avx2,fma"))) inline void fwd_block(const ConvDims& d, const float* pad, long pw, const float* w,
                                                          float* y, int oy, int ox0, const float* bias, bool relu) {
  constexpr int OC = NV * 8;
  const int C = d.inC;
  __m256 acc[R][NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; v++) {
    __m256 b = bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[r][v] = b;
  }
  for (int fy = 0; fy < d.fH; fy++) {
    const float* prow = pad + (static_cast<long>(oy) * d.strideH + static_cast<long>(fy) * d.dilH) * pw * C;
    for (int fx = 0; fx < d.fW; fx++) {
      const float* px = prow + (static_cast<long>(ox0) * d.strideW + static_cast<long>(fx) * d.dilW) * C;
      const float* wp = w + static_cast<long>(fy * d.fW + fx) * C * OC;
      for (int c = 0; c < C; c++) {
        __m256 xb[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) xb[r] = _mm256_broadcast_ss(px + static_cast<long>(r) * d.strideW * C + c);
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) {
          __m256 wv = _mm256_loadu_ps(wp + c * OC + 8 * v);
#pragma GCC unroll 8
          for (int r = 0; r < R; r++) acc[r][v] = _mm256_fmadd_ps(xb[r], wv, acc[r][v]);
        }
      }
    }
  }
  const __m256 zero = _mm256_setzero_ps();
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
    float* out = y + (static_cast<long>(oy) * d.outW + ox0 + r) * OC;
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) _mm256_storeu_ps(out + 8 * v, relu ? _mm256_max_ps(zero, acc[r][v]) : acc[r][v]);
  }
}

template <int NV, int R>
void fwd_image(const ConvDims& d, const float* pad, long pw, const float* w, float* y, const float* bias, bool relu) {
  for (int oy = 0; oy < d.outH; oy++) {
    int ox = 0;
    for (; ox + R <= d.outW; ox += R) fwd_block<NV, R>(d, pad, pw, w, y, oy, ox, bias, relu);
    for (; ox < d.outW; ox++) fwd_block<NV, 1>(d, pad, pw, w, y, oy, ox, bias, relu);
  }
}

// acc[tap t0 .. t0+T) x outC += sum over pixels of pad(pixel + tap) * dy(pixel), taps along fx.
template <int NV, int T>
__attribute__((target("avx2,fma"))) inline void dw_block(const ConvDims& d, const float* pad, long pw, const float* dy,
                                                         float* dw, int fy, int fx0, int c) {
  constexpr int OC = NV * 8;
  const int C = d.inC;
  __m256 acc[T][NV];
#pragma GCC unroll 8
  for (int t = 0; t < T; t++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[t][v] = _mm256_loadu_ps(dw + (static_cast<long>(fy * d.fW + fx0 + t) * C + c) * OC + 8 * v);
  for (int oy = 0; oy < d.outH; oy++) {
    const float* prow = pad + (static_cast<long>(oy) * d.strideH + static_cast<long>(fy) * d.dilH) * pw * C + c;
    const float* g = dy + static_cast<long>(oy) * d.outW * OC;
    for (int ox = 0; ox < d.outW; ox++) {
      const float* px = prow + (static_cast<long>(ox) * d.strideW + static_cast<long>(fx0) * d.dilW) * C;
      __m256 gv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; v++) gv[v] = _mm256_loadu_ps(g + static_cast<long>(ox) * OC + 8 * v);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) {
        __m256 xb = _mm256_broadcast_ss(px + static_cast<long>(t) * d.dilW * C);
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[t][v] = _mm256_fmadd_ps(xb, gv[v], acc[t][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; t++)
#pragma GCC unroll 8
    for (int v = 0; v < NV; v++) _mm256_storeu_ps(dw + (static_cast<long>(fy * d.fW + fx0 + t) * C + c) * OC + 8 * v, acc[t][v]);
}

template <int NV, int T>
void dw_image(const ConvDims& d, const float* pad, long pw, const float* dy, float* dw) {
  for (int fy = 0; fy < d.fH; fy++)
    for (int c = 0; c < d.inC; c++) {
      int fx = 0;
      for (; fx + T <= d.fW; fx += T) dw_block<NV, T>(d, pad, pw, dy, dw, fy, fx, c);
      for (; fx < d.fW; fx++) dw_block<NV, 1>(d, pad, pw, dy, dw, fy, fx, c);
    }
}

using FwdImage = void (*)(const ConvDims&, const float*, long, const float*, float*, const float*, bool);
using DwImage = void (*)(const ConvDims&, const float*, long, const float*, float*);

// Register tiles: R pixels (forward) or T taps (filter gradient) times outC/8 vectors, within 16 ymm.
FwdImage fwd_for(int nv) {
  switch (nv) {
    case 1: return fwd_image<1, 8>;
    case 2: return fwd_image<2, 5>;
    case 3: return fwd_image<3, 3>;
    case 4: return fwd_image<4, 3>;
    case 5: return fwd_image<5, 2>;
    case 6: return fwd_image<6, 2>;
    default: return nullptr;
  }
}
DwImage dw_for(int nv) {
  switch (nv) {
    case 1: return dw_image<1, 6>;
    case 2: return dw_image<2, 4>;
    case 3: return dw_image<3, 3>;
    case 4: return dw_image<4, 2>;
    case 5: return dw_image<5, 1>;
    case 6: return dw_image<6, 1>;
    default: return nullptr;
  }
}

}  // namespace

bool direct_conv_applies(const ConvDims& d) {
  return simd_avx2() && d.inC <= 4 && d.outC % 8 == 0 && d.outC / 8 <= 6 && d.outH > 0 && d.outW > 0 && d.batch > 0;
}

void conv2d_forward_direct(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu) {
  const Padded p = padded_size(d);
  const long inImg = static_cast<long>(d.inH) * d.inW * d.inC, outImg = static_cast<long>(d.outH) * d.outW * d.outC;
  FwdImage run = fwd_for(d.outC / 8);
  parallel_for(d.batch, [&](int n) {
    thread_local std::vector<float> pad;
    scratch_resize(pad, static_cast<size_t>(p.h * p.w * d.inC));
    pad_image(d, p, x + n * inImg, pad.data());
    run(d, pad.data(), p.w, w, y + n * outImg, bias, relu);
  });
}

void conv2d_backprop_filter_direct(const ConvDims& d, const float* x, const float* dy, float* dw) {
  const Padded p = padded_size(d);
  const long inImg = static_cast<long>(d.inH) * d.inW * d.inC, outImg = static_cast<long>(d.outH) * d.outW * d.outC;
  const long wSize = static_cast<long>(d.fH) * d.fW * d.inC * d.outC;
  DwImage run = dw_for(d.outC / 8);
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
