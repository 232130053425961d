/*
 * Elementwise kernels on float32. Results are bit-identical to the tfjs cpu backend, which
 * computes in double and rounds once: for +, -, *, / of two floats that equals the float
 * operation.
 */
#include "fl_common.h"
#include "tuning.h"

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };
/* How b (or a) is shaped relative to the output. */
enum { BC_NONE, BC_B_SCALAR, BC_A_SCALAR, BC_B_ROW, BC_A_ROW };

typedef struct {
  int op, mode, n, inner, per;
  const float *a, *b;
  float *out;
} BinCtx;

INLINE v128_t vop(int op, v128_t x, v128_t y) {
  switch (op) {
    case OP_ADD: return wasm_f32x4_add(x, y);
    case OP_SUB: return wasm_f32x4_sub(x, y);
    case OP_MUL: return wasm_f32x4_mul(x, y);
    default: return wasm_f32x4_div(x, y);
  }
}
INLINE float sop(int op, float x, float y) {
  switch (op) {
    case OP_ADD: return x + y;
    case OP_SUB: return x - y;
    case OP_MUL: return x * y;
    default: return x / y;
  }
}

/* One loop per (op, mode) pair after inlining: the switch is hoisted out of the loop. */
INLINE void bin_range(int op, int mode, const float *a, const float *b, float *o, int i0, int i1, int inner) {
  if (mode == BC_NONE || mode == BC_B_SCALAR || mode == BC_A_SCALAR) {
    int i = i0;
    v128_t sa = wasm_v128_load32_splat(a), sb = wasm_v128_load32_splat(b);
    for (; i + 4 <= i1; i += 4) {
      v128_t x = mode == BC_A_SCALAR ? sa : wasm_v128_load(a + i);
      v128_t y = mode == BC_B_SCALAR ? sb : wasm_v128_load(b + i);
      wasm_v128_store(o + i, vop(op, x, y));
    }
    for (; i < i1; i++) o[i] = sop(op, mode == BC_A_SCALAR ? a[0] : a[i], mode == BC_B_SCALAR ? b[0] : b[i]);
    return;
  }
  /* Row broadcast: ranges are whole rows of `inner` elements. */
  const float *row = mode == BC_B_ROW ? b : a;
  const float *full = mode == BC_B_ROW ? a : b;
  for (int r0 = i0; r0 < i1; r0 += inner) {
    int j = 0;
    for (; j + 4 <= inner; j += 4) {
      v128_t f = wasm_v128_load(full + r0 + j), w = wasm_v128_load(row + j);
      wasm_v128_store(o + r0 + j, mode == BC_B_ROW ? vop(op, f, w) : vop(op, w, f));
    }
    for (; j < inner; j++) o[r0 + j] = mode == BC_B_ROW ? sop(op, full[r0 + j], row[j]) : sop(op, row[j], full[r0 + j]);
  }
}

static void bin_task(const void *vctx, int t, int tid) {
  (void)tid;
  const BinCtx *c = (const BinCtx *)vctx;
  int i0 = t * c->per, i1 = MIN(c->n, i0 + c->per);
#define CASE(OP, MODE) \
  if (c->op == OP && c->mode == MODE) { bin_range(OP, MODE, c->a, c->b, c->out, i0, i1, c->inner); return; }
#define MODES(OP) CASE(OP, BC_NONE) CASE(OP, BC_B_SCALAR) CASE(OP, BC_A_SCALAR) CASE(OP, BC_B_ROW) CASE(OP, BC_A_ROW)
  MODES(OP_ADD) MODES(OP_SUB) MODES(OP_MUL) MODES(OP_DIV)
#undef MODES
#undef CASE
}

/* Splits n elements into tasks of about `chunk` elements, whole rows of `inner` each. */
INLINE int per_task(int n, int inner) {
  int chunk = fl_tuning[TUNE_ELEMWISE_CHUNK];
  if (n < 2 * chunk) return n > 0 ? n : 1;
  int rows = MAX(1, chunk / inner);
  return rows * inner;
}

EXPORT(binary_op)
void binary_op(int op, int mode, const float *a, const float *b, float *out, int n, int inner) {
  if (inner <= 0) inner = 1;
  BinCtx c = {op, mode, n, inner, 0, a, b, out};
  c.per = per_task(n, (mode == BC_B_ROW || mode == BC_A_ROW) ? inner : 4);
  fl_parallel(bin_task, &c, (n + c.per - 1) / c.per, (double)n);
}

enum { UN_RELU, UN_STEP };
typedef struct {
  int op, n, per;
  float alpha;
  const float *x;
  float *out;
} UnCtx;

static void un_task(const void *vctx, int t, int tid) {
  (void)tid;
  const UnCtx *c = (const UnCtx *)vctx;
  int i = t * c->per, i1 = MIN(c->n, i + c->per);
  const float *x = c->x;
  float *o = c->out;
  if (c->op == UN_RELU) {
    v128_t z = wasm_f32x4_splat(0.0f);
    /* f32x4.max propagates NaN and orders -0 below +0, like Math.max(0, x). */
    for (; i + 4 <= i1; i += 4) wasm_v128_store(o + i, wasm_f32x4_max(wasm_v128_load(x + i), z));
    for (; i < i1; i++) o[i] = __builtin_isnan(x[i]) ? x[i] : (x[i] > 0.0f ? x[i] : 0.0f);
  } else {
    v128_t one = wasm_f32x4_splat(1.0f), al = wasm_f32x4_splat(c->alpha), z = wasm_f32x4_splat(0.0f);
    for (; i + 4 <= i1; i += 4) {
      v128_t v = wasm_v128_load(x + i);
      v128_t r = wasm_v128_bitselect(one, al, wasm_f32x4_gt(v, z));
      wasm_v128_store(o + i, wasm_v128_bitselect(v, r, wasm_f32x4_ne(v, v)));
    }
    for (; i < i1; i++) o[i] = __builtin_isnan(x[i]) ? x[i] : (x[i] > 0.0f ? 1.0f : c->alpha);
  }
}

EXPORT(unary_op)
void unary_op(int op, const float *x, float *out, int n, float alpha) {
  UnCtx c = {op, n, per_task(n, 4), alpha, x, out};
  fl_parallel(un_task, &c, (n + c.per - 1) / c.per, (double)n);
}

/* out[c] = sum_r x[r][c]: reduces leading axes (a bias gradient). */
EXPORT(sum_leading)
void sum_leading(const float *x, float *out, int R, int C) {
  int c = 0;
  for (; c + 8 <= C; c += 8) {
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
    const float *p = x + c;
    for (int r = 0; r < R; r++, p += C) {
      s0 = wasm_f32x4_add(s0, wasm_v128_load(p));
      s1 = wasm_f32x4_add(s1, wasm_v128_load(p + 4));
    }
    wasm_v128_store(out + c, s0);
    wasm_v128_store(out + c + 4, s1);
  }
  for (; c < C; c++) {
    float s = 0.0f;
    for (int r = 0; r < R; r++) s += x[(long)r * C + c];
    out[c] = s;
  }
}

/* out[r] = sum_c x[r][c]: reduces trailing axes. */
EXPORT(sum_trailing)
void sum_trailing(const float *x, float *out, int R, int C) {
  for (int r = 0; r < R; r++) {
    const float *p = x + (long)r * C;
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
    int c = 0;
    for (; c + 8 <= C; c += 8) {
      s0 = wasm_f32x4_add(s0, wasm_v128_load(p + c));
      s1 = wasm_f32x4_add(s1, wasm_v128_load(p + c + 4));
    }
    s0 = wasm_f32x4_add(s0, s1);
    float s = wasm_f32x4_extract_lane(s0, 0) + wasm_f32x4_extract_lane(s0, 1) + wasm_f32x4_extract_lane(s0, 2) +
              wasm_f32x4_extract_lane(s0, 3);
    for (; c < C; c++) s += p[c];
    out[r] = s;
  }
}
