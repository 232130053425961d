// 5x5 stride-1 convolutions by Winograd's minimal filtering, F(2x2, 5x5) (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs of one channel
// pair is read off a 6x6 elementwise product in a transformed space, 36 multiplies where the
// direct sum takes 100. Summed over input channels, each of the 36 positions is a GEMM:
//   U[p][tile][c] = (B^T d B)[p]     the 6x6 input patch of a tile, per input channel
//   V[p][c][o]    = (G g G^T)[p]     the 5x5 filter of (c, o), once per call
//   M[p]          = U[p] V[p]        36 GEMMs of tiles x C times C x O
//   y(tile)       = A^T M A          2x2 outputs per tile and output channel (+ bias, relu)
// Tiles go in blocks small enough that a block's U and M stay in L2 beside V. The points are
// 0, 1, -1, 2, -1/2 and infinity: in float32 they keep the error near the direct sum's (about 7e-6
// of the largest output for 32 channels, against 1.7e-5 for 0, +-1, +-2). The input gradient of a
// stride-1 convolution is a forward one (conv_direct.cc), so it takes this path too.
#include <algorithm>
#include <cstring>
#include <vector>
#include "kernels.h"

// The vector helpers below return vectors by value; they are always inlined into the ISA wrappers,
// so no call ever passes one (GCC's ABI note about such returns does not apply).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fl {
namespace {

constexpr int TILE = 6, TAPS = 5, OUT = 2, POINTS = TILE * TILE;
// Tiles per block: U (36 x 32 x C) and M (36 x 32 x O) are 147 KB and 295 KB for the CNN's conv2.
constexpr int BLOCK = 30;

template <int W>
struct Vec {
  typedef float type __attribute__((vector_size(W * sizeof(float))));
};

template <class V>
__attribute__((always_inline)) inline V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
__attribute__((always_inline)) inline void store(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}

// u = B^T d (one dimension of the input transform).
template <class V>
__attribute__((always_inline)) inline void input_1d(const V* d, V* u) {
  u[0] = d[0] + 1.5f * d[1] - 2.f * d[2] - 1.5f * d[3] + d[4];
  u[1] = d[4] - d[1] - 2.5f * d[2] - 0.5f * d[3];
  u[2] = d[1] + 0.5f * d[2] - 2.5f * d[3] + d[4];
  u[3] = 0.5f * (d[3] - d[1]) - d[2] + d[4];
  u[4] = 2.f * (d[1] - d[3]) - d[2] + d[4];
  u[5] = d[1] + 1.5f * d[2] - 2.f * d[3] - 1.5f * d[4] + d[5];
}
// o = G g (one dimension of the filter transform).
template <class V>
__attribute__((always_inline)) inline void filter_1d(const V* g, V* o) {
  o[0] = g[0];
  o[1] = (g[0] + g[1] + g[2] + g[3] + g[4]) * (-1.f / 3);
  o[2] = (g[0] - g[1] + g[2] - g[3] + g[4]) * (1.f / 3);
  o[3] = (g[0] + 2.f * g[1] + 4.f * g[2] + 8.f * g[3] + 16.f * g[4]) * (1.f / 15);
  o[4] = (8.f * g[1] - 16.f * g[0] - 4.f * g[2] + 2.f * g[3] - g[4]) * (1.f / 15);
  o[5] = g[4];
}
// y = A^T m (one dimension of the output transform).
template <class V>
__attribute__((always_inline)) inline void output_1d(const V* m, V* y) {
  y[0] = m[0] + m[1] + m[2] + m[3] + m[4];
  y[1] = m[1] - m[2] + 2.f * m[3] - 0.5f * m[4] + m[5];
}

struct Geometry {
  int tilesH, tilesW;
  long tiles;  // over the whole batch
};

Geometry geometry(const ConvDims& d) {
  const int th = (d.outH + OUT - 1) / OUT, tw = (d.outW + OUT - 1) / OUT;
  return {th, tw, static_cast<long>(d.batch) * th * tw};
}

// V[p][c][o] from HWIO w, W output channels at a time, for input channels [c0, c1).
template <int W>
__attribute__((always_inline)) inline void filter_transform(const ConvDims& d, const float* w, float* v, int c0, int c1) {
  using V = typename Vec<W>::type;
  const long C = d.inC, O = d.outC;
  for (long c = c0; c < c1; c++)
    for (long o = 0; o < O; o += W) {
      V t[TILE][TAPS];
      for (int b = 0; b < TAPS; b++) {
        V g[TAPS], u[TILE];
        for (int a = 0; a < TAPS; a++) g[a] = load<V>(w + ((a * TAPS + b) * C + c) * O + o);
        filter_1d(g, u);
        for (int i = 0; i < TILE; i++) t[i][b] = u[i];
      }
      for (int i = 0; i < TILE; i++) {
        V u[TILE];
        filter_1d(t[i], u);
        for (int j = 0; j < TILE; j++) store(v + ((i * TILE + j) * C + c) * O + o, u[j]);
      }
    }
}

// M[r][o] = sum over c of U[r][c] V[c][o] for MR rows (tiles) and NV vectors of output channels:
// the accumulators stay in registers over the K = C input channels (no packing: V's rows are
// contiguous, a tile's row of U is one broadcast per channel).
template <class V, int W, int MR, int NV>
__attribute__((always_inline)) inline void micro(int K, const float* a, long ars, const float* b, long brs, float* c, long crs) {
  V acc[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = V{};
  for (int k = 0; k < K; k++) {
    V bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = load<V>(b + k * brs + v * W);
    for (int r = 0; r < MR; r++) {
      const V av = V{} + a[r * ars + k];
      for (int v = 0; v < NV; v++) acc[r][v] += av * bv[v];
    }
  }
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) store(c + r * crs + v * W, acc[r][v]);
}

// Rows of one point's product, MR_MAX at a time, then the rest one by one.
template <class V, int W, int NV>
__attribute__((always_inline)) inline void product_cols(int rows, int K, const float* a, long ars, const float* b, long brs, float* c,
                                                        long crs) {
  constexpr int MR_MAX = 6;
  int r = 0;
  for (; r + MR_MAX <= rows; r += MR_MAX) micro<V, W, MR_MAX, NV>(K, a + r * ars, ars, b, brs, c + r * crs, crs);
  for (; r < rows; r++) micro<V, W, 1, NV>(K, a + r * ars, ars, b, brs, c + r * crs, crs);
}

// One block of tiles [t0, t0 + nt): input transform, the 36 products, output transform. U and M
// are tile-major (U[t][p][c], M[t][p][o]): a tile's transforms touch one contiguous run.
template <int W>
__attribute__((always_inline)) inline void run_block(const ConvDims& d, const Geometry& g, const float* x, const float* v,
                                                     float* y, const float* bias, bool relu, long t0, int nt, float* u,
                                                     float* m, const float* zeros) {
  using V = typename Vec<W>::type;
  const long C = d.inC, O = d.outC, uTile = POINTS * C, mTile = POINTS * O;
  const long perImage = static_cast<long>(g.tilesH) * g.tilesW;
  for (int t = 0; t < nt; t++) {
    const long tile = t0 + t, n = tile / perImage, r = tile % perImage;
    const int iy0 = static_cast<int>(r / g.tilesW) * OUT - d.padTop, ix0 = static_cast<int>(r % g.tilesW) * OUT - d.padLeft;
    const float* px[TILE][TILE];
    for (int i = 0; i < TILE; i++)
      for (int j = 0; j < TILE; j++) {
        const int iy = iy0 + i, ix = ix0 + j;
        px[i][j] = iy < 0 || iy >= d.inH || ix < 0 || ix >= d.inW ? zeros : x + ((n * d.inH + iy) * d.inW + ix) * C;
      }
    float* ut = u + t * uTile;
    for (long c = 0; c < C; c += W) {
      V s[TILE][TILE];
      for (int j = 0; j < TILE; j++) {
        V col[TILE], o[TILE];
        for (int i = 0; i < TILE; i++) col[i] = load<V>(px[i][j] + c);
        input_1d(col, o);
        for (int i = 0; i < TILE; i++) s[i][j] = o[i];
      }
      for (int i = 0; i < TILE; i++) {
        V o[TILE];
        input_1d(s[i], o);
        for (int j = 0; j < TILE; j++) store(ut + (i * TILE + j) * C + c, o[j]);
      }
    }
  }
  constexpr int NV = 2;
  for (int p = 0; p < POINTS; p++) {
    const float* vp = v + p * C * O;
    long o = 0;
    for (; o + NV * W <= O; o += NV * W) product_cols<V, W, NV>(nt, static_cast<int>(C), u + p * C, uTile, vp + o, O, m + p * O + o, mTile);
    for (; o < O; o += W) product_cols<V, W, 1>(nt, static_cast<int>(C), u + p * C, uTile, vp + o, O, m + p * O + o, mTile);
  }
  for (int t = 0; t < nt; t++) {
    const long tile = t0 + t, n = tile / perImage, r = tile % perImage;
    const int oy0 = static_cast<int>(r / g.tilesW) * OUT, ox0 = static_cast<int>(r % g.tilesW) * OUT;
    const float* mt = m + t * mTile;
    for (long o = 0; o < O; o += W) {
      V rows[OUT][TILE];
      for (int j = 0; j < TILE; j++) {
        V col[TILE], out[OUT];
        for (int i = 0; i < TILE; i++) col[i] = load<V>(mt + (i * TILE + j) * O + o);
        output_1d(col, out);
        for (int a = 0; a < OUT; a++) rows[a][j] = out[a];
      }
      const V b = bias ? load<V>(bias + o) : V{};
      for (int a = 0; a < OUT; a++) {
        if (oy0 + a >= d.outH) break;
        V out[OUT];
        output_1d(rows[a], out);
        for (int e = 0; e < OUT; e++) {
          if (ox0 + e >= d.outW) break;
          V val = out[e] + b;
          // relu as tfjs's: x < 0 ? 0 : x (a NaN stays NaN).
          if (relu) val = val < 0 ? V{} : val;
          store(y + ((n * d.outH + oy0 + a) * d.outW + ox0 + e) * O + o, val);
        }
      }
    }
  }
}

// The ISA wrappers compile the same bodies with their own vectors (ymm, zmm; SSE for portable).
void filter_portable(const ConvDims& d, const float* w, float* v, int c0, int c1) { filter_transform<4>(d, w, v, c0, c1); }
__attribute__((target("avx2,fma"))) void filter_avx2(const ConvDims& d, const float* w, float* v, int c0, int c1) {
  filter_transform<8>(d, w, v, c0, c1);
}
__attribute__((target("avx512f,prefer-vector-width=512"))) void filter_avx512(const ConvDims& d, const float* w, float* v, int c0,
                                                                                int c1) {
  filter_transform<16>(d, w, v, c0, c1);
}
void block_portable(const ConvDims& d, const Geometry& g, const float* x, const float* v, float* y, const float* bias, bool relu,
                    long t0, int nt, float* u, float* m, const float* z) {
  run_block<4>(d, g, x, v, y, bias, relu, t0, nt, u, m, z);
}
__attribute__((target("avx2,fma"))) void block_avx2(const ConvDims& d, const Geometry& g, const float* x, const float* v,
                                                    float* y, const float* bias, bool relu, long t0, int nt, float* u,
                                                    float* m, const float* z) {
  run_block<8>(d, g, x, v, y, bias, relu, t0, nt, u, m, z);
}
__attribute__((target("avx512f,prefer-vector-width=512"))) void block_avx512(const ConvDims& d, const Geometry& g,
                                                                               const float* x, const float* v, float* y,
                                                                               const float* bias, bool relu, long t0, int nt,
                                                                               float* u, float* m, const float* z) {
  run_block<16>(d, g, x, v, y, bias, relu, t0, nt, u, m, z);
}

}  // namespace

bool winograd_applies(const ConvDims& d) {
  return simd_avx2() && d.fH == TAPS && d.fW == TAPS && d.strideH == 1 && d.strideW == 1 && d.dilH == 1 && d.dilW == 1 &&
         d.inC % 8 == 0 && d.outC % 8 == 0 && d.inC >= 16 && d.outH >= OUT && d.outW >= OUT;
}

void conv2d_forward_winograd(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu) {
  const bool wide = simd_avx512() && d.inC % 16 == 0 && d.outC % 16 == 0;
  const long C = d.inC, O = d.outC;
  thread_local std::vector<float> v;
  scratch_resize(v, static_cast<size_t>(POINTS * C * O));
  float* vp = v.data();  // this (calling) thread's buffer, shared with the workers
  constexpr int FILTER_CHANNELS = 8;
  parallel_for(static_cast<int>((C + FILTER_CHANNELS - 1) / FILTER_CHANNELS), [&](int t) {
    const int c0 = t * FILTER_CHANNELS, c1 = std::min<int>(static_cast<int>(C), c0 + FILTER_CHANNELS);
    if (wide) filter_avx512(d, w, vp, c0, c1);
    else if (simd_avx2()) filter_avx2(d, w, vp, c0, c1);
    else filter_portable(d, w, vp, c0, c1);
  });
  const Geometry g = geometry(d);
  parallel_for(static_cast<int>((g.tiles + BLOCK - 1) / BLOCK), [&](int b) {
    const long t0 = static_cast<long>(b) * BLOCK;
    const int nt = static_cast<int>(std::min<long>(BLOCK, g.tiles - t0));
    thread_local std::vector<float> u, m, zeros;
    scratch_resize(u, static_cast<size_t>(POINTS) * BLOCK * C);
    scratch_resize(m, static_cast<size_t>(POINTS) * BLOCK * O);
    if (zeros.size() < static_cast<size_t>(C)) {
      scratch_resize(zeros, static_cast<size_t>(C));
      std::fill(zeros.begin(), zeros.end(), 0.f);
    }
    if (wide) block_avx512(d, g, x, vp, y, bias, relu, t0, nt, u.data(), m.data(), zeros.data());
    else if (simd_avx2()) block_avx2(d, g, x, vp, y, bias, relu, t0, nt, u.data(), m.data(), zeros.data());
    else block_portable(d, g, x, vp, y, bias, relu, t0, nt, u.data(), m.data(), zeros.data());
  });
}

void conv2d_backprop_input_winograd(const ConvDims& d, const float* dy, const float* w, float* dx) {
  // W'[fy][fx][o][c] = W[fH-1-fy][fW-1-fx][c][o]: the input gradient as a forward convolution of dy.
  const ConvDims f = input_gradient_as_forward(d);
  const long taps = static_cast<long>(d.fH) * d.fW, C = d.inC, O = d.outC;
  thread_local std::vector<float> flipped;
  scratch_resize(flipped, static_cast<size_t>(taps * C * O));
  float* wf = flipped.data();
  for (long t = 0; t < taps; t++) {
    const float* src = w + (taps - 1 - t) * C * O;
    float* dst = wf + t * O * C;
    for (long c = 0; c < C; c++)
      for (long o = 0; o < O; o++) dst[o * C + c] = src[c * O + o];
  }
  conv2d_forward_winograd(f, dy, wf, dx, nullptr, false);
}

}  // namespace fl
