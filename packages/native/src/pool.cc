// Max pooling, NHWC. The backward pass sends each output's gradient to the first maximum of its
// window (the position tfjs's cpu kernel picks), summing where windows overlap.
#include <immintrin.h>
#include <algorithm>
#include <limits>
#include <vector>
#include "kernels.h"

namespace fl {

namespace {
// out = max(out, in) over 8 channels at a time, NaN winning as in the scalar loop below (an input
// NaN replaces out; a NaN already in out stays); the channels past the last multiple of 8 scalar.
__attribute__((target("avx2"))) void window_max_avx2(const float* in, float* out, int C) {
  int c = 0;
  for (; c + 8 <= C; c += 8) {
    __m256 v = _mm256_loadu_ps(in + c), o = _mm256_loadu_ps(out + c);
    __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, o, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    _mm256_storeu_ps(out + c, _mm256_blendv_ps(o, v, take));
  }
  for (; c < C; c++) out[c] = in[c] > out[c] || in[c] != in[c] ? in[c] : out[c];
}
}  // namespace

void maxpool_forward(const PoolDims& d, const float* x, float* y) {
  const long inImg = static_cast<long>(d.inH) * d.inW * d.ch, outImg = static_cast<long>(d.outH) * d.outW * d.ch;
  const bool vec = simd_avx2() && d.ch >= 8;
  parallel_for(d.batch, [&](int n) {
    const float* xi = x + n * inImg;
    float* yi = y + n * outImg;
    for (int oy = 0; oy < d.outH; oy++)
      for (int ox = 0; ox < d.outW; ox++) {
        float* out = yi + (static_cast<long>(oy) * d.outW + ox) * d.ch;
        std::fill(out, out + d.ch, -std::numeric_limits<float>::infinity());
        for (int fy = 0; fy < d.fH; fy++) {
          int iy = oy * d.strideH + fy - d.padTop;
          if (iy < 0 || iy >= d.inH) continue;
          for (int fx = 0; fx < d.fW; fx++) {
            int ix = ox * d.strideW + fx - d.padLeft;
            if (ix < 0 || ix >= d.inW) continue;
            const float* in = xi + (static_cast<long>(iy) * d.inW + ix) * d.ch;
            if (vec) window_max_avx2(in, out, d.ch);
            else
              for (int c = 0; c < d.ch; c++) out[c] = in[c] > out[c] || in[c] != in[c] ? in[c] : out[c];
          }
        }
      }
  });
}

namespace {

// Windows that tile the input without overlap or padding (e.g. 2x2 stride 2 on an even size):
// every input position belongs to at most one window, so each dx value is written once (dy or
// 0) and the first-maximum choice is a branch-free select the compiler vectorises over channels.
bool tiles(const PoolDims& d) {
  return d.strideH == d.fH && d.strideW == d.fW && d.padTop == 0 && d.padLeft == 0 && d.fH * d.fW <= 16 &&
         static_cast<long>(d.outH) * d.fH <= d.inH && static_cast<long>(d.outW) * d.fW <= d.inW;
}

// One window's gradient, 8 channels at a time: the winner's tap index kept as a float vector
// (the first strict maximum, as below), then each tap's output is dy where it won, else 0.
__attribute__((target("avx2"))) void window_grad_avx2(const float* xi, const long* off, int taps, const float* g, float* dxi, int C) {
  for (int c = 0; c < C; c += 8) {
    __m256 best = _mm256_loadu_ps(xi + off[0] + c), sel = _mm256_setzero_ps();
    for (int k = 1; k < taps; k++) {
      __m256 v = _mm256_loadu_ps(xi + off[k] + c);
      __m256 gt = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
      best = _mm256_blendv_ps(best, v, gt);
      sel = _mm256_blendv_ps(sel, _mm256_set1_ps(static_cast<float>(k)), gt);
    }
    __m256 gv = _mm256_loadu_ps(g + c);
    for (int k = 0; k < taps; k++)
      _mm256_storeu_ps(dxi + off[k] + c, _mm256_and_ps(_mm256_cmp_ps(sel, _mm256_set1_ps(static_cast<float>(k)), _CMP_EQ_OQ), gv));
  }
}

void maxpool_backward_tiled(const PoolDims& d, const float* dy, const float* x, float* dx) {
  const long inImg = static_cast<long>(d.inH) * d.inW * d.ch, outImg = static_cast<long>(d.outH) * d.outW * d.ch;
  const int C = d.ch, taps = d.fH * d.fW;
  const bool vec = simd_avx2() && C % 8 == 0;
  parallel_for(d.batch, [&](int n) {
    const float* xi = x + n * inImg;
    const float* dyi = dy + n * outImg;
    float* dxi = dx + n * inImg;
    // Rows and columns no window covers get no gradient.
    if (static_cast<long>(d.outH) * d.fH < d.inH || static_cast<long>(d.outW) * d.fW < d.inW) std::fill(dxi, dxi + inImg, 0.f);
    thread_local std::vector<float> best;
    thread_local std::vector<int> at;
    best.resize(C);
    at.resize(C);
    float* bv = best.data();
    int* av = at.data();
    long off[16];
    for (int oy = 0; oy < d.outH; oy++)
      for (int ox = 0; ox < d.outW; ox++) {
        for (int fy = 0; fy < d.fH; fy++)
          for (int fx = 0; fx < d.fW; fx++)
            off[fy * d.fW + fx] = ((static_cast<long>(oy) * d.fH + fy) * d.inW + static_cast<long>(ox) * d.fW + fx) * C;
        const float* g = dyi + (static_cast<long>(oy) * d.outW + ox) * C;
        if (vec) {
          window_grad_avx2(xi, off, taps, g, dxi, C);
          continue;
        }
        const float* first = xi + off[0];
        for (int c = 0; c < C; c++) {
          bv[c] = first[c];
          av[c] = 0;
        }
        for (int k = 1; k < taps; k++) {
          const float* in = xi + off[k];
          for (int c = 0; c < C; c++) {
            bool gt = in[c] > bv[c];  // strictly greater: the first maximum wins, as in tfjs's cpu kernel
            bv[c] = gt ? in[c] : bv[c];
            av[c] = gt ? k : av[c];
          }
        }
        for (int k = 0; k < taps; k++) {
          float* out = dxi + off[k];
          for (int c = 0; c < C; c++) out[c] = av[c] == k ? g[c] : 0.f;
        }
      }
  });
}

}  // namespace

void maxpool_backward(const PoolDims& d, const float* dy, const float* x, float* dx) {
  if (tiles(d)) return maxpool_backward_tiled(d, dy, x, dx);
  const long inImg = static_cast<long>(d.inH) * d.inW * d.ch, outImg = static_cast<long>(d.outH) * d.outW * d.ch;
  parallel_for(d.batch, [&](int n) {
    const float* xi = x + n * inImg;
    const float* dyi = dy + n * outImg;
    float* dxi = dx + n * inImg;
    std::fill(dxi, dxi + inImg, 0.f);
    // Channels innermost: each window position is one contiguous read of ch values.
    thread_local std::vector<float> best;
    thread_local std::vector<long> at;
    best.resize(d.ch);
    at.resize(d.ch);
    for (int oy = 0; oy < d.outH; oy++)
      for (int ox = 0; ox < d.outW; ox++) {
        std::fill(at.begin(), at.end(), -1L);
        for (int fy = 0; fy < d.fH; fy++) {
          int iy = oy * d.strideH + fy - d.padTop;
          if (iy < 0 || iy >= d.inH) continue;
          for (int fx = 0; fx < d.fW; fx++) {
            int ix = ox * d.strideW + fx - d.padLeft;
            if (ix < 0 || ix >= d.inW) continue;
            const long base = (static_cast<long>(iy) * d.inW + ix) * d.ch;
            const float* in = xi + base;
            for (int c = 0; c < d.ch; c++) {
              // The first maximum wins (strictly greater replaces), as in tfjs's cpu kernel.
              if (at[c] < 0 || in[c] > best[c]) {
                best[c] = in[c];
                at[c] = base + c;
              }
            }
          }
        }
        const float* g = dyi + (static_cast<long>(oy) * d.outW + ox) * d.ch;
        for (int c = 0; c < d.ch; c++)
          if (at[c] >= 0) dxi[at[c]] += g[c];
      }
  });
}

}  // namespace fl
