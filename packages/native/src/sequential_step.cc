// One SGD step of a sequential model (dense, conv and max-pool layers; a flatten is a no-op in
// NHWC) on softmax cross-entropy, in one call: the forward pass with bias and relu folded into
// each GEMM or convolution, the loss (the mean over the batch, as tf.losses.softmaxCrossEntropy),
// the backward pass (relu masks, both gradients of each layer, bias sums) and the updates. In
// tfjs the same step is one kernel per op (119 for the CNN, about 40 for the 2NN), each with its
// own allocation and dispatch, plus separate bias, relu and mask passes over every activation.
// Activations and gradients stay in the addon's scratch between the passes.
#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <vector>
#include "kernels.h"

namespace fl {

namespace {
std::vector<float> acts, grad_a, grad_b, dw, db;

long weight_size(const SeqLayer& l) {
  if (l.kind == SeqLayer::DENSE) return static_cast<long>(l.din) * l.dout;
  if (l.kind == SeqLayer::CONV) return static_cast<long>(l.conv.fH) * l.conv.fW * l.conv.inC * l.conv.outC;
  return 0;
}
long bias_size(const SeqLayer& l) { return l.kind == SeqLayer::DENSE ? l.dout : l.kind == SeqLayer::CONV ? l.conv.outC : 0; }

void grow(std::vector<float>& v, long n) {
  if (v.size() < static_cast<size_t>(n)) scratch_resize(v, static_cast<size_t>(n));
}

// g[i] = 0 where a[i] > 0 is false (the relu's gradient mask; a NaN output passes no gradient).
__attribute__((target("avx2"))) void relu_mask_avx2(const float* __restrict a, float* __restrict g, long n) {
  const __m256 zero = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(g + i, _mm256_and_ps(_mm256_loadu_ps(g + i), _mm256_cmp_ps(_mm256_loadu_ps(a + i), zero, _CMP_GT_OQ)));
  for (; i < n; i++)
    if (!(a[i] > 0.f)) g[i] = 0.f;
}
void relu_mask(const float* __restrict a, float* __restrict g, long n) {
  if (simd_avx2()) return relu_mask_avx2(a, g, n);
  for (long i = 0; i < n; i++)
    if (!(a[i] > 0.f)) g[i] = 0.f;
}

// db[c] = sum over rows of g[row * C + c] (the bias gradient of a dense or conv layer), rows in
// order. Up to 64 channels in multiples of 8 stay in ymm accumulators over all rows.
__attribute__((target("avx2"))) void column_sums_avx2(const float* __restrict g, long rows, int C, float* __restrict db) {
  __m256 acc[8];
  for (int v = 0; v < C / 8; v++) acc[v] = _mm256_setzero_ps();
  for (long r = 0; r < rows; r++) {
    const float* gr = g + r * C;
    for (int v = 0; v < C / 8; v++) acc[v] = _mm256_add_ps(acc[v], _mm256_loadu_ps(gr + 8 * v));
  }
  for (int v = 0; v < C / 8; v++) _mm256_storeu_ps(db + 8 * v, acc[v]);
}
void column_sums(const float* __restrict g, long rows, int C, float* __restrict db) {
  if (simd_avx2() && C % 8 == 0 && C <= 64) return column_sums_avx2(g, rows, C, db);
  std::fill(db, db + C, 0.f);
  for (long r = 0; r < rows; r++) {
    const float* gr = g + r * C;
    for (int c = 0; c < C; c++) db[c] += gr[c];
  }
}
// A big dense layer's backward pass and update in one pass over its weights, by blocks of rows
// of W (din x dout): each block's input gradient gp[:, rows] = g W[rows]^T, its weight gradient
// a_in[:, rows]^T g into a block of scratch that stays in L2, then W'[rows] = W[rows] + c dW.
// The unfused order writes all of dW and reads it back, and reads W twice (6.4 MB each for the
// CNN's 3136 x 512 layer). Taken for layers of at least 2^18 weights.
void dense_backward_update(const SeqLayer& k, int n, const float* a_in, const float* g, float* gp, float c) {
  constexpr int ROWS = 64;
  const int blocks = (k.din + ROWS - 1) / ROWS;
  parallel_for(blocks, [&](int t) {
    const int r0 = t * ROWS, rows = std::min(ROWS, k.din - r0);
    thread_local std::vector<float> block;
    if (block.size() < static_cast<size_t>(ROWS) * k.dout) scratch_resize(block, static_cast<size_t>(ROWS) * k.dout);
    const float* w = k.w + static_cast<long>(r0) * k.dout;
    if (gp) gemm(n, rows, k.dout, g, k.dout, 1, w, 1, k.dout, gp + r0, k.din, false);
    gemm(rows, k.dout, n, a_in + r0, 1, k.din, g, k.dout, 1, block.data(), k.dout, false);
    sgd_update_serial(w, block.data(), k.w_out + static_cast<long>(r0) * k.dout, static_cast<long>(rows) * k.dout, c);
  });
}
}  // namespace

StepResult sequential_sgd_step(const SeqStep& s) {
  const int n = s.batch, L = s.layers;
  std::vector<long> off(L);
  long total = 0, widest = s.in_size, wmax = 0, bmax = 0;
  for (int l = 0; l < L; l++) {
    off[l] = total;
    total += s.l[l].out_size;
    widest = std::max(widest, s.l[l].out_size);
    wmax = std::max(wmax, weight_size(s.l[l]));
    bmax = std::max(bmax, bias_size(s.l[l]));
  }
  grow(acts, total);
  grow(grad_a, widest);
  grow(grad_b, widest);
  grow(dw, wmax);
  grow(db, bmax);

  // Forward.
  const float* in = s.x;
  for (int l = 0; l < L; l++) {
    const SeqLayer& k = s.l[l];
    float* out = acts.data() + off[l];
    if (k.kind == SeqLayer::DENSE) {
      gemm_parallel(n, k.dout, k.din, in, k.din, 1, k.w, k.dout, 1, out, k.dout);
      bias_act(out, n, k.dout, k.b, k.relu != 0);
    } else if (k.kind == SeqLayer::CONV) {
      conv2d_forward(k.conv, in, k.w, out, k.b, k.relu != 0);
    } else {
      maxpool_forward(k.pool, in, out);
    }
    in = out;
  }

  // Loss and its gradient with respect to the logits: (softmax(z) - y) / n per row, tfjs's
  // softmaxCrossEntropy gradient (exact for labels that sum to 1; tfjs keeps it for any labels).
  const int classes = s.classes;
  const float* logits = acts.data() + off[L - 1];
  float* g = grad_a.data();
  double loss = 0;
  int hits = 0;
  for (int i = 0; i < n; i++) {
    const float* z = logits + static_cast<long>(i) * classes;
    const float* y = s.y + static_cast<long>(i) * classes;
    float* gi = g + static_cast<long>(i) * classes;
    float zmax = z[0];
    int zarg = 0, yarg = 0;
    for (int j = 1; j < classes; j++) {
      if (z[j] > zmax) zmax = z[j], zarg = j;
      if (y[j] > y[yarg]) yarg = j;
    }
    double sum = 0;
    for (int j = 0; j < classes; j++) {
      gi[j] = std::exp(z[j] - zmax);
      sum += gi[j];
    }
    const double lse = zmax + std::log(sum);
    double row = 0;
    for (int j = 0; j < classes; j++) {
      row += y[j] * (lse - z[j]);
      gi[j] = static_cast<float>((gi[j] / sum - y[j]) / n);
    }
    loss += row;
    hits += zarg == yarg;
  }

  // Backward, last layer first. g is the gradient with respect to layer l's output; a layer's
  // update waits until its input gradient has used its old weights.
  for (int l = L - 1; l >= 0; l--) {
    const SeqLayer& k = s.l[l];
    const float* a_in = l == 0 ? s.x : acts.data() + off[l - 1];
    const float* a_out = acts.data() + off[l];
    if (k.relu) relu_mask(a_out, g, k.out_size);
    float* gp = (g == grad_a.data() ? grad_b : grad_a).data();
    const bool fused_dense = k.kind == SeqLayer::DENSE && static_cast<long>(k.din) * k.dout >= (1L << 18);
    if (fused_dense) {
      column_sums(g, n, k.dout, db.data());
      dense_backward_update(k, n, a_in, g, l > 0 ? gp : nullptr, s.c);
    } else if (k.kind == SeqLayer::DENSE) {
      gemm_parallel(k.din, k.dout, n, a_in, 1, k.din, g, k.dout, 1, dw.data(), k.dout);
      column_sums(g, n, k.dout, db.data());
      if (l > 0) gemm_parallel(n, k.din, k.dout, g, k.dout, 1, k.w, 1, k.dout, gp, k.din);
    } else if (k.kind == SeqLayer::CONV) {
      conv2d_backprop_filter(k.conv, a_in, g, dw.data());
      column_sums(g, k.out_size / k.conv.outC, k.conv.outC, db.data());
      if (l > 0) conv2d_backprop_input(k.conv, g, k.w, gp);
    } else if (l > 0) {
      maxpool_backward(k.pool, g, a_in, gp);
    }
    if (k.kind != SeqLayer::POOL) {
      if (!fused_dense) sgd_update(k.w, dw.data(), k.w_out, weight_size(k), s.c);
      sgd_update(k.b, db.data(), k.b_out, bias_size(k), s.c);
    }
    g = gp;
  }
  return {loss / n, hits};
}

}  // namespace fl
