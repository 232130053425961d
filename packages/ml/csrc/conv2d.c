/*
 * 2-D convolution, NHWC input, HWIO filter, and its two gradients, as GEMMs over im2col
 * chunks:
 *   forward        y  (M x CO)        = col(x)  (M x K)  . W   (K x CO)       M = B*OH*OW
 *   input grad     dx (B*H*W x CI)    = col'(dy)         . W'  (K' x CI)      K' = KH*KW*CO
 *                  where col' gathers dy as if dilated by the stride and W' is W flipped
 *                  in space with its channel axes swapped (a "full" correlation);
 *   filter grad    dW (K x CO)        = col(x)^T (K x M) . dy  (M x CO)
 * Chunks of rows are the parallel tasks; each thread builds its chunk in its own slice
 * of the workspace. The filter gradient sums over M, so each task group accumulates into
 * a private copy that a last pass adds up.
 */
#include "gemm.h"
#include "im2col.h"
#include "tuning.h"

typedef struct {
  Im2col ic;
  int M, K, N, rows;
  const float *wp;
  float *y;
  const float *bias;
  int relu;
  float *ws;       /* per-thread slices */
  int ws_stride;   /* floats per thread */
} FwdCtx;

static void fwd_task(const void *vctx, int t, int tid) {
  const FwdCtx *c = (const FwdCtx *)vctx;
  int m0 = t * c->rows, rows = MIN(c->rows, c->M - m0);
  float *col = c->ws + (long)tid * c->ws_stride;
  im2col_rows(&c->ic, m0, rows, col);
  gemm_block(rows, c->N, c->K, col, c->K, 1, c->wp, c->y + (long)m0 * c->N, c->N, c->bias, c->relu, 0);
}

/* Runs a correlation whose filter is already packed (K x N panels) at ws. */
static int run_fwd(const Im2col *ic, int batch, int N, float *out, const float *bias, int relu, float *ws,
                   u32 ws_bytes, int packed_floats) {
  FwdCtx c;
  c.ic = *ic;
  c.K = ic->KH * ic->KW * ic->C;
  c.M = batch * ic->OH * ic->OW;
  c.N = N;
  c.rows = fl_chunk_rows(fl_tuning[TUNE_CONV_COL_FLOATS], c.K);
  c.ws_stride = (int)(fl_align64((u32)(c.rows * c.K) * 4u) / 4u);
  u32 need = fl_align64((u32)packed_floats * 4u) + (u32)fl_threads() * (u32)c.ws_stride * 4u;
  if (need > ws_bytes) return (int)need;
  c.wp = ws;
  c.ws = ws + fl_align64((u32)packed_floats * 4u) / 4u;
  c.y = out;
  c.bias = bias;
  c.relu = relu;
  fl_parallel(fwd_task, &c, (c.M + c.rows - 1) / c.rows, (double)c.M * c.K * c.N);
  return 0;
}

INLINE u32 packed_need(int K, int N) { return fl_align64((u32)K * (u32)panels_of(N) * 32u); }

EXPORT(conv2d_forward)
int conv2d_forward(const float *x, const float *w, float *y, const float *bias, int relu, int B, int H, int W,
                   int CI, int OH, int OW, int CO, int KH, int KW, int sh, int sw, int dh, int dw, int pt, int pl,
                   float *ws, u32 ws_bytes) {
  int K = KH * KW * CI;
  if (packed_need(K, CO) > ws_bytes) return (int)(packed_need(K, CO) + 4096);
  for (int p = 0; p < panels_of(CO); p++) pack_panel_nn(K, MIN(8, CO - p * 8), w + p * 8, CO, ws + (long)p * K * 8);
  Im2col ic = {x, H, W, CI, OH, OW, KH, KW, sh, sw, dh, dw, 1, 1, pt, pl};
  return run_fwd(&ic, B, CO, y, bias, relu, ws, ws_bytes, K * panels_of(CO) * 8);
}

EXPORT(conv2d_backprop_input)
int conv2d_backprop_input(const float *dy, const float *w, float *dx, int B, int H, int W, int CI, int OH, int OW,
                          int CO, int KH, int KW, int sh, int sw, int dh, int dw, int pt, int pl, float *ws,
                          u32 ws_bytes) {
  int K = KH * KW * CO; /* rows of W': (ky, kx, co) */
  if (packed_need(K, CI) > ws_bytes) return (int)(packed_need(K, CI) + 4096);
  /* W'[ky][kx][co][ci] = W[KH-1-ky][KW-1-kx][ci][co], packed in panels of 8 ci. */
  for (int p = 0; p < panels_of(CI); p++) {
    float *d = ws + (long)p * K * 8;
    int n0 = p * 8, nc = MIN(8, CI - n0);
    for (int ky = 0; ky < KH; ky++)
      for (int kx = 0; kx < KW; kx++) {
        const float *src = w + ((long)(KH - 1 - ky) * KW + (KW - 1 - kx)) * CI * CO;
        for (int co = 0; co < CO; co++, d += 8) {
          int j = 0;
          for (; j < nc; j++) d[j] = src[(n0 + j) * CO + co];
          for (; j < 8; j++) d[j] = 0.0f;
        }
      }
  }
  Im2col ic = {dy, OH, OW, CO, H, W, KH, KW, 1, 1, dh, dw, sh, sw, (KH - 1) * dh - pt, (KW - 1) * dw - pl};
  return run_fwd(&ic, B, CI, dx, 0, 0, ws, ws_bytes, K * panels_of(CI) * 8);
}

typedef struct {
  Im2col ic;
  int M, K, N, rows, nchunks, ngroups;
  int tap4;         /* im2col chunk in groups of 4 taps (wide filters) or row-major (narrow) */
  const float *dy;
  float *dw;        /* group 0 accumulates here */
  float *partials;  /* groups 1.. accumulate here, K*N floats each */
  float *ws;
  int ws_stride;
} FiltCtx;

static void filt_task(const void *vctx, int g, int tid) {
  const FiltCtx *c = (const FiltCtx *)vctx;
  float *acc = g == 0 ? c->dw : c->partials + (long)(g - 1) * c->K * c->N;
  fl_zero(acc, c->K * c->N);
  float *col = c->ws + (long)tid * c->ws_stride;
  float *dyp = col + fl_align64((u32)c->rows * (u32)((c->K + 3) & ~3) * 4u) / 4u;
  int c0 = (int)((long)c->nchunks * g / c->ngroups), c1 = (int)((long)c->nchunks * (g + 1) / c->ngroups);
  for (int ch = c0; ch < c1; ch++) {
    int m0 = ch * c->rows, rows = MIN(c->rows, c->M - m0);
    if (!c->tap4) im2col_rows(&c->ic, m0, rows, col);
    else im2col_rows_tap4(&c->ic, m0, rows, col);
    for (int p = 0; p < panels_of(c->N); p++)
      pack_panel_nn(rows, MIN(8, c->N - p * 8), c->dy + (long)m0 * c->N + p * 8, c->N, dyp + (long)p * rows * 8);
    /* Rows of this GEMM are the K filter taps, its reduction runs over the chunk's pixels. */
    if (c->tap4) gemm_packed_a(c->K, c->N, rows, col, dyp, acc, c->N, 1);
    else gemm_block(c->K, c->N, rows, col, 1, c->K, dyp, acc, c->N, 0, 0, 1);
  }
}

typedef struct {
  float *dw;
  const float *partials;
  int n, nparts, per_task;
} SumCtx;

static void sum_task(const void *vctx, int t, int tid) {
  (void)tid;
  const SumCtx *c = (const SumCtx *)vctx;
  int i0 = t * c->per_task, i1 = MIN(c->n, i0 + c->per_task);
  for (int p = 0; p < c->nparts; p++) {
    const float *src = c->partials + (long)p * c->n;
    int i = i0;
    for (; i + 4 <= i1; i += 4) wasm_v128_store(c->dw + i, wasm_f32x4_add(wasm_v128_load(c->dw + i), wasm_v128_load(src + i)));
    for (; i < i1; i++) c->dw[i] += src[i];
  }
}

EXPORT(conv2d_backprop_filter)
int conv2d_backprop_filter(const float *x, const float *dy, float *dw, int B, int H, int W, int CI, int OH, int OW,
                           int CO, int KH, int KW, int sh, int sw, int dh, int dw_, int pt, int pl, float *ws,
                           u32 ws_bytes) {
  FiltCtx c;
  Im2col ic = {x, H, W, CI, OH, OW, KH, KW, sh, sw, dh, dw_, 1, 1, pt, pl};
  c.ic = ic;
  c.K = KH * KW * CI;
  c.N = CO;
  c.M = B * OH * OW;
  c.rows = fl_chunk_rows(fl_tuning[TUNE_DW_COL_FLOATS], c.K);
  /* With few taps per pixel (e.g. one input channel) a row-major chunk is cheaper to
   * build, and its rows are short enough that reading it by columns stays in cache. */
  c.tap4 = c.K >= 64;
  c.nchunks = (c.M + c.rows - 1) / c.rows;
  c.ngroups = MIN(fl_threads(), c.nchunks);
  u32 col_bytes = fl_align64((u32)c.rows * (u32)((c.K + 3) & ~3) * 4u);
  c.ws_stride = (int)((col_bytes + fl_align64((u32)(c.rows * panels_of(CO) * 32)))) / 4;
  u32 part_bytes = fl_align64((u32)(c.ngroups - 1) * (u32)c.K * (u32)c.N * 4u);
  u32 need = part_bytes + (u32)fl_threads() * (u32)c.ws_stride * 4u;
  if (need > ws_bytes) return (int)need;
  c.dy = dy;
  c.dw = dw;
  c.partials = ws;
  c.ws = ws + part_bytes / 4u;
  fl_parallel(filt_task, &c, c.ngroups, (double)c.M * c.K * c.N);
  if (c.ngroups > 1) {
    SumCtx s = {dw, c.partials, c.K * c.N, c.ngroups - 1, 0};
    s.per_task = MAX(4096, (s.n / (4 * fl_threads()) + 3) & ~3);
    fl_parallel(sum_task, &s, (s.n + s.per_task - 1) / s.per_task, (double)s.n * s.nparts);
  }
  return 0;
}
