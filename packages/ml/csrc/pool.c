/*
 * Max pooling (NHWC) and its gradient. Ties and NaN follow the tfjs cpu backend: a pixel
 * replaces the running maximum only if it is strictly greater, so NaN never wins and the
 * first maximum in scan order receives the gradient.
 */
#include "fl_common.h"
#include "tuning.h"

typedef struct {
  const float *x, *dy;
  float *out; /* y (forward) or dx (gradient) */
  int B, H, W, C, OH, OW, KH, KW, sh, sw, pt, pl;
} PoolCtx;

/* Window rows/cols clipped to the image. */
INLINE void window(int o, int s, int pad, int k, int size, int *lo, int *hi) {
  int start = o * s - pad;
  *lo = MAX(start, 0);
  *hi = MIN(start + k, size);
}

static void fwd_task(const void *vctx, int t, int tid) {
  (void)tid;
  const PoolCtx *p = (const PoolCtx *)vctx;
  int b = t / p->OH, oy = t - b * p->OH, C = p->C;
  int y0, y1;
  window(oy, p->sh, p->pt, p->KH, p->H, &y0, &y1);
  const float *img = p->x + (long)b * p->H * p->W * C;
  float *o = p->out + ((long)b * p->OH + oy) * p->OW * C;
  for (int ox = 0; ox < p->OW; ox++, o += C) {
    int x0, x1;
    window(ox, p->sw, p->pl, p->KW, p->W, &x0, &x1);
    int c = 0;
    for (; c + 4 <= C; c += 4) {
      v128_t m = wasm_f32x4_splat(-__builtin_inff());
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++)
          /* pmax(m, v) = m < v ? v : m, exactly "if (v > m) m = v". */
          m = wasm_f32x4_pmax(m, wasm_v128_load(img + ((long)iy * p->W + ix) * C + c));
      wasm_v128_store(o + c, m);
    }
    for (; c < C; c++) {
      float m = -__builtin_inff();
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
          float v = img[((long)iy * p->W + ix) * C + c];
          if (v > m) m = v;
        }
      o[c] = m;
    }
  }
}

EXPORT(maxpool_forward)
void maxpool_forward(const float *x, float *y, int B, int H, int W, int C, int OH, int OW, int KH, int KW, int sh,
                     int sw, int pt, int pl) {
  PoolCtx p = {x, 0, y, B, H, W, C, OH, OW, KH, KW, sh, sw, pt, pl};
  fl_parallel(fwd_task, &p, B * OH, (double)B * OH * OW * C * KH * KW);
}

/* Gradient for output rows [oy0, oy1) of image b; adds into dx (zeroed beforehand). */
static void grad_rows(const PoolCtx *p, int b, int oy0, int oy1) {
  int C = p->C;
  const float *img = p->x + (long)b * p->H * p->W * C;
  float *dimg = p->out + (long)b * p->H * p->W * C;
  for (int oy = oy0; oy < oy1; oy++) {
    int y0, y1;
    window(oy, p->sh, p->pt, p->KH, p->H, &y0, &y1);
    const float *g = p->dy + ((long)b * p->OH + oy) * p->OW * C;
    for (int ox = 0; ox < p->OW; ox++, g += C) {
      int x0, x1;
      window(ox, p->sw, p->pl, p->KW, p->W, &x0, &x1);
      int c = 0;
      for (; c + 4 <= C; c += 4) {
        v128_t m = wasm_f32x4_splat(-__builtin_inff()), pos = wasm_i32x4_splat(-1);
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) {
            v128_t v = wasm_v128_load(img + ((long)iy * p->W + ix) * C + c);
            v128_t gt = wasm_f32x4_gt(v, m);
            m = wasm_v128_bitselect(v, m, gt);
            pos = wasm_v128_bitselect(wasm_i32x4_splat(iy * p->W + ix), pos, gt);
          }
        v128_t gv = wasm_v128_load(g + c);
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) {
            v128_t hit = wasm_i32x4_eq(pos, wasm_i32x4_splat(iy * p->W + ix));
            float *d = dimg + ((long)iy * p->W + ix) * C + c;
            wasm_v128_store(d, wasm_f32x4_add(wasm_v128_load(d), wasm_v128_and(gv, hit)));
          }
      }
      for (; c < C; c++) {
        float m = -__builtin_inff();
        int at = -1;
        for (int iy = y0; iy < y1; iy++)
          for (int ix = x0; ix < x1; ix++) {
            float v = img[((long)iy * p->W + ix) * C + c];
            if (v > m) { m = v; at = iy * p->W + ix; }
          }
        if (at >= 0) dimg[(long)at * C + c] += g[c];
      }
    }
  }
}

static int g_overlap;
static void grad_task(const void *vctx, int t, int tid) {
  (void)tid;
  const PoolCtx *p = (const PoolCtx *)vctx;
  /* Overlapping windows may add to the same dx pixel, so then one task owns a whole image. */
  if (g_overlap) grad_rows(p, t, 0, p->OH);
  else grad_rows(p, t / p->OH, t % p->OH, t % p->OH + 1);
}

typedef struct { float *p; int n, per; } ZeroCtx;
static void zero_task(const void *vctx, int t, int tid) {
  (void)tid;
  const ZeroCtx *z = (const ZeroCtx *)vctx;
  int i0 = t * z->per;
  fl_zero(z->p + i0, MIN(z->per, z->n - i0));
}

EXPORT(maxpool_backward)
void maxpool_backward(const float *dy, const float *x, float *dx, int B, int H, int W, int C, int OH, int OW, int KH,
                      int KW, int sh, int sw, int pt, int pl) {
  ZeroCtx z = {dx, B * H * W * C, fl_tuning[TUNE_ELEMWISE_CHUNK]};
  fl_parallel(zero_task, &z, (z.n + z.per - 1) / z.per, (double)z.n);
  PoolCtx p = {x, dy, dx, B, H, W, C, OH, OW, KH, KW, sh, sw, pt, pl};
  g_overlap = sh < KH || sw < KW;
  fl_parallel(grad_task, &p, g_overlap ? B : B * OH, 2.0 * B * OH * OW * C * KH * KW);
}
