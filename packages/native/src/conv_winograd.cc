// 5x5 stride-1 convolutions by Winograd's minimal filtering, F(2x2, 5x5) (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs of one channel
// pair is read off a 6x6 elementwise product in a transformed space, 36 multiplies where the
// direct sum takes 100. Summed over input channels, each of the 36 positions is a GEMM:
//   U[tile][p][c] = (B^T d B)[p]     the 6x6 input patch of a tile, per input channel
//   V[p][c][o]    = (G g G^T)[p]     the 5x5 filter of (c, o), once per call
//   M[p]          = U[p] V[p]        36 GEMMs of tiles x C times C x O
//   y(tile)       = A^T M A          2x2 outputs per tile and output channel (+ bias, relu)
// The filter gradient runs the same tiles the other way (the transposition principle): with
// Z[t][p][o] = (A z A^T)[p] for the 2x2 block z of dy a tile produced, S[p] = sum over tiles of
// U[p]^T Z[p] and dW = G^T S G (per-task partial S, summed once).
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
// For the loader and storer lambdas of transform_2d: inlined into each ISA wrapper, they compile
// with its vectors (a lambda does not inherit the wrapper's target attribute otherwise).
#define FL_INLINE __attribute__((always_inline))

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

// o = A z (one dimension of the output gradient's transform, A = (A^T)^T: the filter gradient).
template <class V>
__attribute__((always_inline)) inline void grad_1d(const V* z, V* o) {
  o[0] = z[0];
  o[1] = z[0] + z[1];
  o[2] = z[0] - z[1];
  o[3] = z[0] + 2.f * z[1];
  o[4] = z[0] - 0.5f * z[1];
  o[5] = z[1];
}
// k = G^T s (one dimension of the filter gradient's inverse transform: 6 points to 5 taps).
template <class V>
__attribute__((always_inline)) inline void filter_grad_1d(const V* s, V* k) {
  const V a = s[1] * (1.f / 3), b = s[2] * (1.f / 3), c = s[3] * (1.f / 15), e = s[4] * (1.f / 15);
  k[0] = s[0] - a + b + c - 16.f * e;
  k[1] = 2.f * c + 8.f * e - a - b;
  k[2] = b - a + 4.f * c - 4.f * e;
  k[3] = 8.f * c + 2.f * e - a - b;
  k[4] = b - a + 16.f * c - e + s[5];
}

// out = T in T^T for a 1-D transform T of N values into M (one of the five above): T down each
// column as it is loaded (in(i, j) is element i, j), then along each row, each result handed to
// out(i, j, value). Every 2-D transform here is this one.
template <int N, int M, class V, void (*T)(const V*, V*), class In, class Out>
FL_INLINE inline void transform_2d(In in, Out out) {
  V rows[M][N];
  for (int j = 0; j < N; j++) {
    V col[N], t[M];
    for (int i = 0; i < N; i++) col[i] = in(i, j);
    T(col, t);
    for (int i = 0; i < M; i++) rows[i][j] = t[i];
  }
  for (int i = 0; i < M; i++) {
    V t[M];
    T(rows[i], t);
    for (int j = 0; j < M; j++) out(i, j, t[j]);
  }
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
      transform_2d<TAPS, TILE, V, filter_1d<V>>([&](int a, int b) FL_INLINE { return load<V>(w + ((a * TAPS + b) * C + c) * O + o); },
                                                [&](int i, int j, V u) FL_INLINE { store(v + ((i * TILE + j) * C + c) * O + o, u); });
    }
}

// c[r][v] (+)= sum over k of a(r, k) b[k][v] for MR rows and NV vectors of columns: the
// accumulators stay in registers over all k (no packing: b's rows are contiguous, a(r, k) at
// a[r * ars + k * aks] is one broadcast).
template <class V, int W, int MR, int NV, bool ACC>
__attribute__((always_inline)) inline void micro(int K, const float* a, long ars, long aks, const float* b, long bks, float* c,
                                                 long crs) {
  V acc[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = ACC ? load<V>(c + r * crs + v * W) : V{};
  for (int k = 0; k < K; k++) {
    V bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = load<V>(b + k * bks + v * W);
    for (int r = 0; r < MR; r++) {
      const V av = V{} + a[r * ars + k * aks];
      for (int v = 0; v < NV; v++) acc[r][v] += av * bv[v];
    }
  }
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) store(c + r * crs + v * W, acc[r][v]);
}

// A product of `rows` rows and `cols` columns (a multiple of W): blocks of 6 rows x 2 vectors,
// then the remaining rows one by one and a last single vector of columns.
template <class V, int W, bool ACC>
__attribute__((always_inline)) inline void product(int rows, long cols, int K, const float* a, long ars, long aks, const float* b,
                                                   long bks, float* c, long crs) {
  constexpr int MR = 6, NV = 2;
  long o = 0;
  for (; o + NV * W <= cols; o += NV * W) {
    int r = 0;
    for (; r + MR <= rows; r += MR) micro<V, W, MR, NV, ACC>(K, a + r * ars, ars, aks, b + o, bks, c + r * crs + o, crs);
    for (; r < rows; r++) micro<V, W, 1, NV, ACC>(K, a + r * ars, ars, aks, b + o, bks, c + r * crs + o, crs);
  }
  for (; o < cols; o += W) {
    int r = 0;
    for (; r + MR <= rows; r += MR) micro<V, W, MR, 1, ACC>(K, a + r * ars, ars, aks, b + o, bks, c + r * crs + o, crs);
    for (; r < rows; r++) micro<V, W, 1, 1, ACC>(K, a + r * ars, ars, aks, b + o, bks, c + r * crs + o, crs);
  }
}

// U[t][p][c] for the tiles [t0, t0 + nt): the 6x6 input patch of each tile, transformed.
template <int W>
__attribute__((always_inline)) inline void input_tiles(const ConvDims& d, const Geometry& g, const float* x, long t0, int nt, float* u,
                                                       const float* zeros) {
  using V = typename Vec<W>::type;
  const long C = d.inC, uTile = POINTS * C, perImage = static_cast<long>(g.tilesH) * g.tilesW;
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
      transform_2d<TILE, TILE, V, input_1d<V>>([&](int i, int j) FL_INLINE { return load<V>(px[i][j] + c); },
                                               [&](int i, int j, V o) FL_INLINE { store(ut + (i * TILE + j) * C + c, o); });
    }
  }
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
  input_tiles<W>(d, g, x, t0, nt, u, zeros);
  for (int p = 0; p < POINTS; p++)
    product<V, W, false>(nt, O, static_cast<int>(C), u + p * C, uTile, 1, v + p * C * O, O, m + p * O, mTile);
  for (int t = 0; t < nt; t++) {
    const long tile = t0 + t, n = tile / perImage, r = tile % perImage;
    const int oy0 = static_cast<int>(r / g.tilesW) * OUT, ox0 = static_cast<int>(r % g.tilesW) * OUT;
    const float* mt = m + t * mTile;
    for (long o = 0; o < O; o += W) {
      const V b = bias ? load<V>(bias + o) : V{};
      transform_2d<TILE, OUT, V, output_1d<V>>([&](int i, int j) FL_INLINE { return load<V>(mt + (i * TILE + j) * O + o); },
                                               [&](int a, int e, V out) FL_INLINE {
                                                 if (oy0 + a >= d.outH || ox0 + e >= d.outW) return;
                                                 V val = out + b;
                                                 // relu as tfjs's: x < 0 ? 0 : x (a NaN stays NaN).
                                                 if (relu) val = val < 0 ? V{} : val;
                                                 store(y + ((n * d.outH + oy0 + a) * d.outW + ox0 + e) * O + o, val);
                                               });
    }
  }
}

// The filter gradient's share of the tiles [t0, t0 + nt), added into S[p][c][o]: the input tiles
// as for the forward, the 2x2 block of dy each tile produced as Z[t][p][o] = (A z A^T)[p], and
// S[p] += U[p]^T Z[p] (a product over the block's tiles).
template <int W>
__attribute__((always_inline)) inline void dw_block(const ConvDims& d, const Geometry& g, const float* x, const float* dy, long t0, int nt,
                                                    float* u, float* z, float* s, const float* zeros) {
  using V = typename Vec<W>::type;
  const long C = d.inC, O = d.outC, uTile = POINTS * C, zTile = POINTS * O;
  const long perImage = static_cast<long>(g.tilesH) * g.tilesW;
  input_tiles<W>(d, g, x, t0, nt, u, zeros);
  for (int t = 0; t < nt; t++) {
    const long tile = t0 + t, n = tile / perImage, r = tile % perImage;
    const int oy0 = static_cast<int>(r / g.tilesW) * OUT, ox0 = static_cast<int>(r % g.tilesW) * OUT;
    const float* q[OUT][OUT];
    for (int a = 0; a < OUT; a++)
      for (int e = 0; e < OUT; e++)
        q[a][e] = oy0 + a >= d.outH || ox0 + e >= d.outW ? zeros : dy + ((n * d.outH + oy0 + a) * d.outW + ox0 + e) * O;
    float* zt = z + t * zTile;
    for (long o = 0; o < O; o += W) {
      transform_2d<OUT, TILE, V, grad_1d<V>>([&](int a, int e) FL_INLINE { return load<V>(q[a][e] + o); },
                                             [&](int i, int j, V out) FL_INLINE { store(zt + (i * TILE + j) * O + o, out); });
    }
  }
  for (int p = 0; p < POINTS; p++)
    product<V, W, true>(static_cast<int>(C), O, nt, u + p * C, 1, uTile, z + p * O, zTile, s + p * C * O, O);
}

// dW[fy][fx][c][o] = (G^T S G)[fy][fx] with S the sum of `parts` partial sums, for input channels [c0, c1).
template <int W>
__attribute__((always_inline)) inline void filter_grad(const ConvDims& d, const float* s, int parts, float* dw, int c0, int c1) {
  using V = typename Vec<W>::type;
  const long C = d.inC, O = d.outC, part = POINTS * C * O;
  for (long c = c0; c < c1; c++)
    for (long o = 0; o < O; o += W) {
      V sum[TILE][TILE];
      for (int i = 0; i < TILE; i++)
        for (int j = 0; j < TILE; j++) {
          const float* at = s + ((i * TILE + j) * C + c) * O + o;
          V acc = load<V>(at);
          for (int q = 1; q < parts; q++) acc += load<V>(at + q * part);
          sum[i][j] = acc;
        }
      transform_2d<TILE, TAPS, V, filter_grad_1d<V>>([&](int i, int j) FL_INLINE { return sum[i][j]; },
                                                     [&](int a, int b, V k) FL_INLINE { store(dw + ((a * TAPS + b) * C + c) * O + o, k); });
    }
}

// The ISA wrappers compile the same bodies with their own vectors (ymm, zmm); winograd_applies needs AVX2.
__attribute__((target("avx2,fma"))) void filter_avx2(const ConvDims& d, const float* w, float* v, int c0, int c1) {
  filter_transform<8>(d, w, v, c0, c1);
}
__attribute__((target("avx512f,prefer-vector-width=512"))) void filter_avx512(const ConvDims& d, const float* w, float* v, int c0,
                                                                                int c1) {
  filter_transform<16>(d, w, v, c0, c1);
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

__attribute__((target("avx2,fma"))) void dw_avx2(const ConvDims& d, const Geometry& g, const float* x, const float* dy, long t0, int nt,
                                                 float* u, float* z, float* s, const float* zeros) {
  dw_block<8>(d, g, x, dy, t0, nt, u, z, s, zeros);
}
__attribute__((target("avx512f,prefer-vector-width=512"))) void dw_avx512(const ConvDims& d, const Geometry& g, const float* x,
                                                                            const float* dy, long t0, int nt, float* u, float* z,
                                                                            float* s, const float* zeros) {
  dw_block<16>(d, g, x, dy, t0, nt, u, z, s, zeros);
}
__attribute__((target("avx2,fma"))) void filter_grad_avx2(const ConvDims& d, const float* s, int parts, float* dw, int c0, int c1) {
  filter_grad<8>(d, s, parts, dw, c0, c1);
}
__attribute__((target("avx512f,prefer-vector-width=512"))) void filter_grad_avx512(const ConvDims& d, const float* s, int parts, float* dw,
                                                                                     int c0, int c1) {
  filter_grad<16>(d, s, parts, dw, c0, c1);
}

// Each body for the ISA and channel counts of one call: zmm where both counts are multiples of
// 16 on AVX-512, else ymm.
struct Bodies {
  decltype(&filter_avx2) filter;
  decltype(&block_avx2) block;
  decltype(&dw_avx2) dw;
  decltype(&filter_grad_avx2) filter_grad;
};
const Bodies& bodies_for(const ConvDims& d) {
  static const Bodies ymm{filter_avx2, block_avx2, dw_avx2, filter_grad_avx2};
  static const Bodies zmm{filter_avx512, block_avx512, dw_avx512, filter_grad_avx512};
  return simd_avx512() && d.inC % 16 == 0 && d.outC % 16 == 0 ? zmm : ymm;
}

// fn(c0, c1) over the input channels in runs of 8, on the pool (the filter's transforms).
template <class Fn>
void over_input_channels(const ConvDims& d, Fn fn) {
  constexpr int RUN = 8;
  parallel_for((d.inC + RUN - 1) / RUN, [&](int t) { fn(t * RUN, std::min(d.inC, t * RUN + RUN)); });
}

// This thread's n zeros: what a tile reads past an image's edge.
const float* zeros(long n) {
  thread_local std::vector<float> z;
  if (z.size() < static_cast<size_t>(n)) {
    scratch_resize(z, static_cast<size_t>(n));
    std::fill(z.begin(), z.end(), 0.f);
  }
  return z.data();
}

// Tiles [t0, t0 + nt) of block b.
struct Block {
  long t0;
  int nt;
};
Block block_of(const Geometry& g, int b) {
  const long t0 = static_cast<long>(b) * BLOCK;
  return {t0, static_cast<int>(std::min<long>(BLOCK, g.tiles - t0))};
}
int blocks_of(const Geometry& g) { return static_cast<int>((g.tiles + BLOCK - 1) / BLOCK); }

}  // namespace

bool winograd_applies(const ConvDims& d) {
  return simd_avx2() && d.fH == TAPS && d.fW == TAPS && d.strideH == 1 && d.strideW == 1 && d.dilH == 1 && d.dilW == 1 &&
         d.inC % 8 == 0 && d.outC % 8 == 0 && d.inC >= 16 && d.outH >= OUT && d.outW >= OUT;
}

void conv2d_forward_winograd(const ConvDims& d, const float* x, const float* w, float* y, const float* bias, bool relu) {
  const Bodies& k = bodies_for(d);
  const long C = d.inC, O = d.outC;
  thread_local std::vector<float> v;
  scratch_resize(v, static_cast<size_t>(POINTS * C * O));
  float* vp = v.data();  // this (calling) thread's buffer, shared with the workers
  over_input_channels(d, [&](int c0, int c1) { k.filter(d, w, vp, c0, c1); });
  const Geometry g = geometry(d);
  parallel_for(blocks_of(g), [&](int b) {
    thread_local std::vector<float> u, m;
    scratch_resize(u, static_cast<size_t>(POINTS) * BLOCK * C);
    scratch_resize(m, static_cast<size_t>(POINTS) * BLOCK * O);
    const Block blk = block_of(g, b);
    k.block(d, g, x, vp, y, bias, relu, blk.t0, blk.nt, u.data(), m.data(), zeros(C));
  });
}

void conv2d_backprop_input_winograd(const ConvDims& d, const float* dy, const float* w, float* dx) {
  // W'[fy][fx][o][c] = W[fH-1-fy][fW-1-fx][c][o]: the input gradient as a forward convolution of dy.
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
  conv2d_forward_winograd(input_gradient_as_forward(d), dy, wf, dx, nullptr, false);
}

void conv2d_backprop_filter_winograd(const ConvDims& d, const float* x, const float* dy, float* dw) {
  const Bodies& k = bodies_for(d);
  const long C = d.inC, O = d.outC, part = POINTS * C * O;
  const Geometry g = geometry(d);
  const int blocks = blocks_of(g), tasks = std::min(pool_threads(), blocks);
  // One partial S per task, summed in the inverse transform.
  thread_local std::vector<float> sums;
  scratch_resize(sums, static_cast<size_t>(tasks * part));
  float* sp = sums.data();  // this (calling) thread's buffer, shared with the workers
  parallel_for(tasks, [&](int task) {
    float* s = sp + task * part;
    std::fill(s, s + part, 0.f);
    thread_local std::vector<float> u, z;
    scratch_resize(u, static_cast<size_t>(POINTS) * BLOCK * C);
    scratch_resize(z, static_cast<size_t>(POINTS) * BLOCK * O);
    for (int b = task; b < blocks; b += tasks) {
      const Block blk = block_of(g, b);
      k.dw(d, g, x, dy, blk.t0, blk.nt, u.data(), z.data(), s, zeros(std::max(C, O)));
    }
  });
  over_input_channels(d, [&](int c0, int c1) { k.filter_grad(d, sp, tasks, dw, c0, c1); });
}

}  // namespace fl
