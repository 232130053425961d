/*
 * Batched matrix product C[b] = op(A[b]) . op(B[b]) (+ bias, relu), the BatchMatMul and
 * _FusedMatMul kernels. A transposed A only changes the strides the microkernel reads
 * with; B (either orientation) is packed one 8-column panel at a time by the task that
 * uses it, so weights stream through memory once per row block.
 */
#include "gemm.h"
#include "tuning.h"

typedef struct {
  const float *a, *b;
  float *c;
  const float *bias;
  int relu, M, N, K, trans_a, trans_b;
  int a_bstride, b_bstride; /* floats between batch items; 0 = broadcast */
  int rows, mblocks;        /* rows of C per task */
  int group, ngroups;       /* 8-column panels per task */
  int kc;                   /* reduction block */
  float *ws;
  int ws_stride;
} MatCtx;

static void mat_task(const void *vctx, int t, int tid) {
  const MatCtx *c = (const MatCtx *)vctx;
  int g = t % c->ngroups, rest = t / c->ngroups;
  int mb = rest % c->mblocks, batch = rest / c->mblocks;
  int n0 = g * c->group * 8, ncols = MIN(c->group * 8, c->N - n0);
  int m0 = mb * c->rows, rows = MIN(c->rows, c->M - m0);
  const float *a = c->a + (long)batch * c->a_bstride;
  const float *b = c->b + (long)batch * c->b_bstride;
  float *packed = c->ws + (long)tid * c->ws_stride;
  /* A(m, k) = a[m*K + k], or a[k*M + m] when A is stored transposed. */
  int ars = c->trans_a ? 1 : c->K, aks = c->trans_a ? c->M : 1;
  float *out = c->c + ((long)batch * c->M + m0) * c->N + n0;
  /* K in blocks: the packed B block stays in L1 and the rows of A in L2 across panels.
   * Partial sums accumulate in C; bias and relu apply after the last block only. */
  for (int k0 = 0; k0 < c->K; k0 += c->kc) {
    int kc = MIN(c->kc, c->K - k0), last = k0 + kc == c->K;
    for (int p = 0; p * 8 < ncols; p++) {
      int nc = MIN(8, ncols - p * 8);
      float *dst = packed + (long)p * kc * 8;
      if (c->trans_b) pack_panel_nt(kc, nc, b + (long)(n0 + p * 8) * c->K + k0, c->K, dst);
      else pack_panel_nn(kc, nc, b + (long)k0 * c->N + n0 + p * 8, c->N, dst);
    }
    gemm_block(rows, ncols, kc, a + (long)m0 * ars + (long)k0 * aks, ars, aks, packed, out, c->N,
               last && c->bias ? c->bias + n0 : 0, last && c->relu, k0 > 0);
  }
}

EXPORT(matmul)
int matmul(const float *a, const float *b, float *c, const float *bias, int relu, int batch, int a_bstride,
           int b_bstride, int M, int N, int K, int trans_a, int trans_b, float *ws, u32 ws_bytes) {
  if (K == 0) {
    /* Empty reduction: the product is zero (plus bias). */
    for (int i = 0; i < batch * M; i++)
      for (int n = 0; n < N; n++) {
        float v = bias ? bias[n] : 0.0f;
        c[(long)i * N + n] = relu && v < 0.0f ? 0.0f : v;
      }
    return 0;
  }
  MatCtx x = {a, b, c, bias, relu, M, N, K, trans_a, trans_b, a_bstride, b_bstride, 0, 0, 0, 0, 0, 0, 0};
  /* Cache blocking: a reduction block of kc, rows of A whose block stays in L2
   * (fl_tuning[TUNE_MATMUL_A_FLOATS]), and panels whose packed B block stays in L1 (at least
   * two: 64 bytes of each row of B and C, so tasks never share a cache line). Each task packs
   * its B block once per row block, so row blocks are as tall as the cache allows. */
  x.kc = MIN(K, MAX(8, fl_tuning[TUNE_MATMUL_KC]));
  int np = panels_of(N);
  x.rows = MIN(M, MAX(16, (fl_tuning[TUNE_MATMUL_A_FLOATS] / x.kc) & ~3));
  x.group = MIN(np, MAX(2, 2048 / x.kc));
  /* Enough tasks for the threads to balance: narrower panel groups first, then shorter rows. */
  int want = 4 * fl_threads();
  for (;;) {
    x.ngroups = (np + x.group - 1) / x.group;
    x.mblocks = (M + x.rows - 1) / x.rows;
    if (batch * x.ngroups * x.mblocks >= want) break;
    if (x.group > 2) x.group = (x.group + 1) / 2;
    else if (x.rows > 16) x.rows = ((x.rows / 2) + 3) & ~3;
    else break;
  }
  x.ws_stride = (int)(fl_align64((u32)x.group * (u32)x.kc * 32u) / 4u);
  u32 need = (u32)fl_threads() * (u32)x.ws_stride * 4u;
  if (need > ws_bytes) return (int)need;
  x.ws = ws;
  fl_parallel(mat_task, &x, batch * x.mblocks * x.ngroups, (double)batch * M * N * K);
  return 0;
}
