/*
 * Single-precision GEMM building blocks shared by the matmul and convolution kernels.
 *
 * C[m][n] (+)= sum_k A(m, k) * B(k, n) where
 *  - A is addressed with two strides, A(m, k) = a[m * ars + k * aks], so the same code
 *    reads row-major, transposed, or im2col matrices without copying them;
 *  - B is "packed": panels of 8 columns, each panel K rows of 8 contiguous floats
 *    (columns past N zero-filled), which keeps the inner loop's loads sequential.
 * The microkernel holds a 4x8 tile of C in 8 SIMD registers (wasm has 16 xmm-sized
 * registers on x64; bigger tiles spill).
 */
#ifndef FL_GEMM_H
#define FL_GEMM_H
#include "fl_common.h"

typedef struct {
  const float *bias; /* per column, already offset to this panel's first column; or 0 */
  int relu;          /* clamp at 0 after the bias */
  int accumulate;    /* C += result instead of C = result */
} Epilogue;

/* C (mrows x N, leading dimension ldc) for a block of rows, all panels of packed B. */
void gemm_block(int mrows, int N, int K, const float *a, int ars, int aks, const float *bpacked,
                float *c, int ldc, const float *bias, int relu, int accumulate);

/* C (M x N) (+)= A . B with A packed in groups of 4 rows, group g at a + g*4*K holding
 * A(4g + i, k) at [k * 4 + i] (rows past M zero), and B packed as usual. */
void gemm_packed_a(int M, int N, int K, const float *apacked, const float *bpacked, float *c, int ldc, int accumulate);

/* Packs columns [n0, n0+8) of row-major B (K x ldb) into one panel (K x 8). */
void pack_panel_nn(int K, int ncols, const float *b, int ldb, float *dst);
/* Packs rows [n0, n0+8) of B^T stored row-major (N x ldb, K used) into one panel (K x 8). */
void pack_panel_nt(int K, int ncols, const float *bt, int ldb, float *dst);

INLINE int panels_of(int n) { return (n + 7) >> 3; }
#endif
