// The direct convolution's register-blocked inner kernels, written once over a SIMD traits type
// S and compiled once per ISA (conv_direct_avx2.cc, conv_direct_avx512.cc). Each including unit
// defines FL_TARGET (the function target attribute) and FL_ISA (its namespace) and a struct S:
//   S::V the vector type, S::N its lanes, S::load/store/bcast/fmadd/max0/zero.
// Layouts: pad is one zero-padded NHWC image (pw columns), y and dy NHWC, dw HWIO; the forward's
// w is HWIO, or with PACKED HWIO cut into panels of NV vectors of output channels, panel after
// panel ([outC / (NV N)][fH][fW][inC][NV N]; conv_direct.cc packs it), so that a pass reads its
// part of the filter in order instead of part of every row.
//   forward:         R output pixels x NV vectors of output channels stay in registers over all
//                    taps and input channels;
//   filter gradient: T taps (along fx) x NV vectors stay in registers over all output pixels.
// Not a standalone header: include it only from those units, after <immintrin.h>.

namespace fl {
namespace FL_ISA {

// Output channels [S::N v0, S::N (v0 + NV)) of the R pixels from (oy, ox0) on; w points at their
// filter (the first of its input channels' rows, wrs floats apart).
template <int NV, int R>
FL_TARGET inline void fwd_block(const ConvDims& d, const float* pad, long pw, const float* w, long wrs, float* y, int oy,
                                int ox0, int v0, const float* bias, bool relu) {
  const int C = d.inC;
  const long OC = d.outC;
  typename S::V acc[R][NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; v++) {
    const typename S::V b = bias ? S::load(bias + S::N * (v0 + v)) : S::zero();
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) acc[r][v] = b;
  }
  const long step = static_cast<long>(d.strideW) * C;
  for (int fy = 0; fy < d.fH; fy++) {
    const float* prow = pad + (static_cast<long>(oy) * d.strideH + static_cast<long>(fy) * d.dilH) * pw * C;
    for (int fx = 0; fx < d.fW; fx++) {
      const float* px = prow + (static_cast<long>(ox0) * d.strideW + static_cast<long>(fx) * d.dilW) * C;
      const float* wp = w + static_cast<long>(fy * d.fW + fx) * C * wrs;
      for (int c = 0; c < C; c++) {
        typename S::V wv[NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; v++) wv[v] = S::load(wp + c * wrs + S::N * v);
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
          const typename S::V xb = S::bcast(px + r * step + c);
#pragma GCC unroll 16
          for (int v = 0; v < NV; v++) acc[r][v] = S::fmadd(xb, wv[v], acc[r][v]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
    float* out = y + (static_cast<long>(oy) * d.outW + ox0 + r) * OC + S::N * v0;
#pragma GCC unroll 16
    for (int v = 0; v < NV; v++) S::store(out + S::N * v, relu ? S::max0(acc[r][v]) : acc[r][v]);
  }
}

// The last rem (< R) pixels of a row, as one block of exactly rem.
template <int NV, int R>
FL_TARGET inline void fwd_tail(int rem, const ConvDims& d, const float* pad, long pw, const float* w, long wrs, float* y,
                               int oy, int ox0, int v0, const float* bias, bool relu) {
  if constexpr (R > 1) {
    if (rem == R - 1) return fwd_block<NV, R - 1>(d, pad, pw, w, wrs, y, oy, ox0, v0, bias, relu);
    return fwd_tail<NV, R - 1>(rem, d, pad, pw, w, wrs, y, oy, ox0, v0, bias, relu);
  }
}

// outC in passes of NV vectors (outC / S::N must be a multiple of NV), R pixels at a time.
template <int NV, int R, bool PACKED>
FL_TARGET void fwd_image(const ConvDims& d, const float* pad, long pw, const float* w, float* y, const float* bias,
                         bool relu) {
  const long panel = static_cast<long>(d.fH) * d.fW * d.inC * NV * S::N;
  const long wrs = PACKED ? NV * S::N : d.outC;
  for (int v0 = 0; v0 < d.outC / S::N; v0 += NV) {
    const float* wp = PACKED ? w + v0 / NV * panel : w + S::N * v0;
    for (int oy = 0; oy < d.outH; oy++) {
      int ox = 0;
      for (; ox + R <= d.outW; ox += R) fwd_block<NV, R>(d, pad, pw, wp, wrs, y, oy, ox, v0, bias, relu);
      if (ox < d.outW) fwd_tail<NV, R>(d.outW - ox, d, pad, pw, wp, wrs, y, oy, ox, v0, bias, relu);
    }
  }
}

// A forward kernel for w as given, or (pack) for w in panels of NV vectors. A block of few
// pixels reads the filter often, so its passes take it packed: AVX2's 3 pixels x 4 vectors for
// the CNN's conv2 (2 passes) went from 174-177 to 200-211 GFLOP/s; AVX-512's 14-pixel blocks
// read it a fifth as often and lost more to the copy than they gained (473-486 -> 440-468).
template <int NV, int R>
constexpr FwdKernel fwd_kernel() {
  constexpr bool pack = R < 8;
  return {pack ? fwd_image<NV, R, true> : fwd_image<NV, R, false>, NV, pack};
}

// acc[taps fx0 .. fx0+T) x channels [c0, c0+CB) x output vectors [v0, v0+NV)
//   += sum over pixels of pad(pixel + tap, channel) * dy(pixel, output channels).
template <int NV, int T, int CB>
FL_TARGET inline void dw_block(const ConvDims& d, const float* pad, long pw, const float* dy, float* dw, int oy0, int oy1,
                               int fy, int fx0, int c0, int v0) {
  const int C = d.inC;
  const long OC = d.outC;
  typename S::V acc[T][CB][NV];
  auto at = [&](int t, int cb) { return dw + (static_cast<long>(fy * d.fW + fx0 + t) * C + c0 + cb) * OC + S::N * v0; };
#pragma GCC unroll 16
  for (int t = 0; t < T; t++)
#pragma GCC unroll 16
    for (int cb = 0; cb < CB; cb++)
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++) acc[t][cb][v] = S::load(at(t, cb) + S::N * v);
  const long tap = static_cast<long>(d.dilW) * C;
  for (int oy = oy0; oy < oy1; oy++) {
    const float* prow = pad + (static_cast<long>(oy) * d.strideH + static_cast<long>(fy) * d.dilH) * pw * C + c0;
    const float* g = dy + static_cast<long>(oy) * d.outW * OC + S::N * v0;
    for (int ox = 0; ox < d.outW; ox++) {
      const float* px = prow + (static_cast<long>(ox) * d.strideW + static_cast<long>(fx0) * d.dilW) * C;
      typename S::V gv[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++) gv[v] = S::load(g + static_cast<long>(ox) * OC + S::N * v);
#pragma GCC unroll 16
      for (int t = 0; t < T; t++)
#pragma GCC unroll 16
        for (int cb = 0; cb < CB; cb++) {
          const typename S::V xb = S::bcast(px + t * tap + cb);
#pragma GCC unroll 16
          for (int v = 0; v < NV; v++) acc[t][cb][v] = S::fmadd(xb, gv[v], acc[t][cb][v]);
        }
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; t++)
#pragma GCC unroll 16
    for (int cb = 0; cb < CB; cb++)
#pragma GCC unroll 16
      for (int v = 0; v < NV; v++) S::store(at(t, cb) + S::N * v, acc[t][cb][v]);
}

template <int NV, int T, int CB>
FL_TARGET inline void dw_tail(int rem, const ConvDims& d, const float* pad, long pw, const float* dy, float* dw, int oy0,
                              int oy1, int fy, int fx0, int c0, int v0) {
  if constexpr (T > 1) {
    if (rem == T - 1) return dw_block<NV, T - 1, CB>(d, pad, pw, dy, dw, oy0, oy1, fy, fx0, c0, v0);
    return dw_tail<NV, T - 1, CB>(rem, d, pad, pw, dy, dw, oy0, oy1, fy, fx0, c0, v0);
  }
}

// Taps along fx in runs of T, for CB channels at a time (the rest one by one), outC in passes of NV vectors.
template <int NV, int T, int CB>
FL_TARGET void dw_channels(const ConvDims& d, const float* pad, long pw, const float* dy, float* dw, int oy0, int oy1,
                           int fy, int c0, int v0) {
  int fx = 0;
  for (; fx + T <= d.fW; fx += T) dw_block<NV, T, CB>(d, pad, pw, dy, dw, oy0, oy1, fy, fx, c0, v0);
  if (fx < d.fW) dw_tail<NV, T, CB>(d.fW - fx, d, pad, pw, dy, dw, oy0, oy1, fy, fx, c0, v0);
}

template <int NV, int T, int CB>
// dy by chunks of rows that stay in L1 (~16 KB) while every block passes over them.
FL_TARGET void dw_image(const ConvDims& d, const float* pad, long pw, const float* dy, float* dw) {
  const int rows = std::max(1, static_cast<int>(16384 / (static_cast<long>(d.outW) * d.outC * sizeof(float))));
  for (int oy0 = 0; oy0 < d.outH; oy0 += rows) {
    const int oy1 = std::min(d.outH, oy0 + rows);
    for (int v0 = 0; v0 < d.outC / S::N; v0 += NV)
      for (int fy = 0; fy < d.fH; fy++) {
        int c = 0;
        for (; c + CB <= d.inC; c += CB) dw_channels<NV, T, CB>(d, pad, pw, dy, dw, oy0, oy1, fy, c, v0);
        for (; c < d.inC; c++) dw_channels<NV, T, 1>(d, pad, pw, dy, dw, oy0, oy1, fy, c, v0);
      }
  }
}

}  // namespace FL_ISA
}  // namespace fl
