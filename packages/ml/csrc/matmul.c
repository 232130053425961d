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
  for (int p = 0; p * 8 < ncols; p++) {
    int nc = MIN(8, ncols - p * 8);
    float *dst = packed + (long)p * c->K * 8;
    if (c->trans_b) pack_panel_nt(c->K, nc, b + (long)(n0 + p * 8) * c->K, c->K, dst);
    else pack_panel_nn(c->K, nc, b + n0 + p * 8, c->N, dst);
  }
  /* A(m, k) = a[m*K + k], or a[k*M + m] when A is stored transposed. */
  int ars = c->trans_a ? 1 : c->K, aks = c->trans_a ? c->M : 1;
  gemm_block(rows, ncols, c->K, a + (long)m0 * ars, ars, aks, packed, c->c + ((long)batch * c->M + m0) * c->N + n0,
             c->N, c->bias ? c->bias + n0 : 0, c->relu, 0);
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
  MatCtx x = {a, b, c, bias, relu, M, N, K, trans_a, trans_b, a_bstride, b_bstride, 0, 0, 0, 0, 0, 0};
  /* Panels per task: packed B of a task within ~64 KB, but at least two panels (64 bytes
   * of each C row and B row) so no two tasks share a cache line of C or read half of B's. */
  int np = panels_of(N);
  x.group = MIN(np, MAX(2, 16384 / (K * 8)));
  x.ngroups = (np + x.group - 1) / x.group;
  /* Rows per task: about fl_tuning[TUNE_MATMUL_MACS] multiply-adds of work. */
  long per_row = (long)K * x.group * 8;
  x.rows = (int)MIN((long)M, MAX(4L, ((long)fl_tuning[TUNE_MATMUL_MACS] / per_row + 3) & ~3L));
  x.mblocks = (M + x.rows - 1) / x.rows;
  x.ws_stride = (int)(fl_align64((u32)x.group * (u32)K * 32u) / 4u);
  u32 need = (u32)fl_threads() * (u32)x.ws_stride * 4u;
  if (need > ws_bytes) return (int)need;
  x.ws = ws;
  fl_parallel(mat_task, &x, batch * x.mblocks * x.ngroups);
  return 0;
}
