#include "gemm.h"

/* Writes one row of a tile: lo = columns 0..3, hi = 4..7 (nvalid of them are real). */
INLINE void store_row(float *c, v128_t lo, v128_t hi, int nvalid, const Epilogue *e) {
  if (nvalid == 8) {
    if (e->accumulate) {
      lo = wasm_f32x4_add(lo, wasm_v128_load(c));
      hi = wasm_f32x4_add(hi, wasm_v128_load(c + 4));
    }
    if (e->bias) {
      lo = wasm_f32x4_add(lo, wasm_v128_load(e->bias));
      hi = wasm_f32x4_add(hi, wasm_v128_load(e->bias + 4));
    }
    if (e->relu) {
      lo = wasm_f32x4_max(lo, wasm_f32x4_splat(0.0f));
      hi = wasm_f32x4_max(hi, wasm_f32x4_splat(0.0f));
    }
    wasm_v128_store(c, lo);
    wasm_v128_store(c + 4, hi);
    return;
  }
  float t[8];
  wasm_v128_store(t, lo);
  wasm_v128_store(t + 4, hi);
  for (int j = 0; j < nvalid; j++) {
    float v = t[j];
    if (e->accumulate) v += c[j];
    if (e->bias) v += e->bias[j];
    /* Same as Math.max(0, v): NaN stays NaN. */
    if (e->relu) v = __builtin_isnan(v) ? v : (v < 0.0f ? 0.0f : v);
    c[j] = v;
  }
}

#define FMA(acc, x, b) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(x, b))

static void mk4x8(int K, const float *a, int ars, int aks, const float *b, float *c, int ldc, int nvalid,
                  const Epilogue *e) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const float *a0 = a, *a1 = a + ars, *a2 = a + 2 * ars, *a3 = a + 3 * ars;
  for (int k = 0; k < K; k++) {
    v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4), x;
    x = wasm_v128_load32_splat(a0); FMA(c00, x, b0); FMA(c01, x, b1);
    x = wasm_v128_load32_splat(a1); FMA(c10, x, b0); FMA(c11, x, b1);
    x = wasm_v128_load32_splat(a2); FMA(c20, x, b0); FMA(c21, x, b1);
    x = wasm_v128_load32_splat(a3); FMA(c30, x, b0); FMA(c31, x, b1);
    a0 += aks; a1 += aks; a2 += aks; a3 += aks;
    b += 8;
  }
  store_row(c, c00, c01, nvalid, e);
  store_row(c + ldc, c10, c11, nvalid, e);
  store_row(c + 2 * ldc, c20, c21, nvalid, e);
  store_row(c + 3 * ldc, c30, c31, nvalid, e);
}

static void mk2x8(int K, const float *a, int ars, int aks, const float *b, float *c, int ldc, int nvalid,
                  const Epilogue *e) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  const float *a0 = a, *a1 = a + ars;
  for (int k = 0; k < K; k++) {
    v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4), x;
    x = wasm_v128_load32_splat(a0); FMA(c00, x, b0); FMA(c01, x, b1);
    x = wasm_v128_load32_splat(a1); FMA(c10, x, b0); FMA(c11, x, b1);
    a0 += aks; a1 += aks;
    b += 8;
  }
  store_row(c, c00, c01, nvalid, e);
  store_row(c + ldc, c10, c11, nvalid, e);
}

static void mk1x8(int K, const float *a, int aks, const float *b, float *c, int nvalid, const Epilogue *e) {
  /* Two partial sums per half break the add dependency chain of a single row. */
  v128_t p0 = wasm_f32x4_splat(0.0f), p1 = p0, q0 = p0, q1 = p0;
  int k = 0;
  for (; k + 2 <= K; k += 2) {
    v128_t x = wasm_v128_load32_splat(a), y = wasm_v128_load32_splat(a + aks);
    FMA(p0, x, wasm_v128_load(b)); FMA(p1, x, wasm_v128_load(b + 4));
    FMA(q0, y, wasm_v128_load(b + 8)); FMA(q1, y, wasm_v128_load(b + 12));
    a += 2 * aks;
    b += 16;
  }
  if (k < K) {
    v128_t x = wasm_v128_load32_splat(a);
    FMA(p0, x, wasm_v128_load(b)); FMA(p1, x, wasm_v128_load(b + 4));
  }
  store_row(c, wasm_f32x4_add(p0, q0), wasm_f32x4_add(p1, q1), nvalid, e);
}

void gemm_block(int mrows, int N, int K, const float *a, int ars, int aks, const float *bpacked,
                float *c, int ldc, const float *bias, int relu, int accumulate) {
  int np = panels_of(N);
  for (int p = 0; p < np; p++) {
    int n0 = p << 3, nvalid = MIN(8, N - n0);
    Epilogue e = {bias ? bias + n0 : 0, relu, accumulate};
    const float *bp = bpacked + (long)p * K * 8;
    int m = 0;
    for (; m + 4 <= mrows; m += 4) mk4x8(K, a + m * ars, ars, aks, bp, c + m * ldc + n0, ldc, nvalid, &e);
    for (; m + 2 <= mrows; m += 2) mk2x8(K, a + m * ars, ars, aks, bp, c + m * ldc + n0, ldc, nvalid, &e);
    for (; m < mrows; m++) mk1x8(K, a + m * ars, aks, bp, c + m * ldc + n0, nvalid, &e);
  }
}

void gemm_packed_a(int M, int N, int K, const float *apacked, const float *bpacked, float *c, int ldc, int accumulate) {
  int np = panels_of(N);
  Epilogue e = {0, 0, accumulate};
  for (int g = 0; g * 4 < M; g++) {
    const float *a = apacked + (long)g * 4 * K;
    int m0 = g * 4, mr = MIN(4, M - m0);
    for (int p = 0; p < np; p++) {
      int n0 = p << 3, nvalid = MIN(8, N - n0);
      const float *bp = bpacked + (long)p * K * 8;
      float *cp = c + (long)m0 * ldc + n0;
      if (mr == 4) mk4x8(K, a, 1, 4, bp, cp, ldc, nvalid, &e);
      else {
        int i = 0;
        if (mr >= 2) { mk2x8(K, a, 1, 4, bp, cp, ldc, nvalid, &e); i = 2; }
        if (i < mr) mk1x8(K, a + i, 4, bp, cp + i * ldc, nvalid, &e);
      }
    }
  }
}

void pack_panel_nn(int K, int ncols, const float *b, int ldb, float *dst) {
  if (ncols == 8) {
    for (int k = 0; k < K; k++, b += ldb, dst += 8) {
      wasm_v128_store(dst, wasm_v128_load(b));
      wasm_v128_store(dst + 4, wasm_v128_load(b + 4));
    }
    return;
  }
  for (int k = 0; k < K; k++, b += ldb, dst += 8) {
    int j = 0;
    for (; j < ncols; j++) dst[j] = b[j];
    for (; j < 8; j++) dst[j] = 0.0f;
  }
}

/* dst[k][j] = bt[j][k]: transposes 4x4 blocks with shuffles when all 8 rows exist. */
void pack_panel_nt(int K, int ncols, const float *bt, int ldb, float *dst) {
  int k = 0;
  if (ncols == 8) {
    for (; k + 4 <= K; k += 4) {
      for (int h = 0; h < 2; h++) {
        const float *r = bt + (h * 4) * ldb + k;
        v128_t r0 = wasm_v128_load(r), r1 = wasm_v128_load(r + ldb), r2 = wasm_v128_load(r + 2 * ldb),
               r3 = wasm_v128_load(r + 3 * ldb);
        v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);
        v128_t t2 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
        float *d = dst + k * 8 + h * 4;
        wasm_v128_store(d, wasm_i64x2_shuffle(t0, t1, 0, 2));
        wasm_v128_store(d + 8, wasm_i64x2_shuffle(t0, t1, 1, 3));
        wasm_v128_store(d + 16, wasm_i64x2_shuffle(t2, t3, 0, 2));
        wasm_v128_store(d + 24, wasm_i64x2_shuffle(t2, t3, 1, 3));
      }
    }
  }
  for (; k < K; k++) {
    int j = 0;
    for (; j < ncols; j++) dst[k * 8 + j] = bt[j * ldb + k];
    for (; j < 8; j++) dst[k * 8 + j] = 0.0f;
  }
}
