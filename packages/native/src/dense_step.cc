// One SGD step of a stack of dense layers on softmax cross-entropy, in one call: the forward
// GEMMs with bias and relu, the loss (the mean over the batch, as tf.losses.softmaxCrossEntropy),
// the backward GEMMs (both gradients), the bias sums and relu masks, and the update. In tfjs the
// same step is about 40 kernels, each with its own allocation and dispatch, which at batch 10
// cost several times the arithmetic. Activations and gradients stay in the addon's scratch.
#include <algorithm>
#include <cmath>
#include <vector>
#include "kernels.h"

namespace fl {

namespace {
std::vector<float> acts, grad_a, grad_b, dw, db;
}

DenseStepResult dense_sgd_step(const DenseStep& s) {
  const int n = s.batch, L = s.layers;
  const int* w = s.widths;
  long act_total = 0, widest = 0, widest_w = 0;
  std::vector<long> off(L);
  for (int l = 0; l < L; l++) {
    off[l] = act_total;
    act_total += static_cast<long>(n) * w[l + 1];
    widest = std::max(widest, static_cast<long>(w[l + 1]));
    widest = std::max(widest, static_cast<long>(w[l]));
    widest_w = std::max(widest_w, static_cast<long>(w[l]) * w[l + 1]);
  }
  if (acts.size() < static_cast<size_t>(act_total)) scratch_resize(acts, act_total);
  if (grad_a.size() < static_cast<size_t>(n * widest)) scratch_resize(grad_a, n * widest);
  if (grad_b.size() < static_cast<size_t>(n * widest)) scratch_resize(grad_b, n * widest);
  if (dw.size() < static_cast<size_t>(widest_w)) scratch_resize(dw, widest_w);
  if (db.size() < static_cast<size_t>(widest)) scratch_resize(db, widest);

  // Forward: a_l = act(a_{l-1} W_l + b_l), the last layer linear (the logits).
  const float* in = s.x;
  for (int l = 0; l < L; l++) {
    float* out = acts.data() + off[l];
    gemm_parallel(n, w[l + 1], w[l], in, w[l], 1, s.w[l], w[l + 1], 1, out, w[l + 1]);
    bias_act(out, n, w[l + 1], s.b[l], s.relu[l] != 0);
    in = out;
  }

  // Loss and its gradient with respect to the logits: (softmax(z) - y) / n per row, tfjs's
  // softmaxCrossEntropy gradient (exact for labels that sum to 1; tfjs keeps it for any labels).
  const int classes = w[L];
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

  // Backward, last layer first; each layer's update waits until its input gradient used its old W.
  for (int l = L - 1; l >= 0; l--) {
    const int din = w[l], dout = w[l + 1];
    const float* a_in = l == 0 ? s.x : acts.data() + off[l - 1];
    gemm_parallel(din, dout, n, a_in, 1, din, g, dout, 1, dw.data(), dout);
    std::fill(db.begin(), db.begin() + dout, 0.f);
    for (int i = 0; i < n; i++) {
      const float* gi = g + static_cast<long>(i) * dout;
      for (int j = 0; j < dout; j++) db[j] += gi[j];
    }
    if (l > 0) {
      float* gp = (g == grad_a.data() ? grad_b : grad_a).data();
      gemm_parallel(n, din, dout, g, dout, 1, s.w[l], 1, dout, gp, din);
      if (s.relu[l - 1]) {
        const long len = static_cast<long>(n) * din;
        for (long i = 0; i < len; i++)
          if (!(a_in[i] > 0.f)) gp[i] = 0.f;
      }
      g = gp;
    }
    sgd_update(s.w[l], dw.data(), s.w_out[l], static_cast<long>(din) * dout, s.c);
    sgd_update(s.b[l], db.data(), s.b_out[l], dout, s.c);
  }
  return {loss / n, hits};
}

}  // namespace fl
