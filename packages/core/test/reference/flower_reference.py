"""Reference values for packages/core/test/flower-reference.test.ts.

Each strategy below is Flower's rule (flwr, framework/py/flwr/serverapp/strategy/*.py, read
for its formulas: fedavg, fedavgm, fedadam, fedyogi, fedadagrad, fedmedian, fedtrimmedavg,
krum/multikrum (select_multikrum), bulyan, qfedavg) or, for centered clipping and bias-free Adam, the
paper's, re-derived here from the written formula in numpy (float64). Flower's rules work on
client *weights*: every client here sends weights = current + delta_i, and the script aggregates
those weights exactly as the rule says; the TypeScript side aggregates the deltas.

Run:  python3 packages/core/test/reference/flower_reference.py > packages/core/test/reference/flower-reference.json
Inputs are seeded (numpy default_rng(16)) and rounded to float32, so both sides read the same
numbers; outputs are float64.
"""
import json

import numpy as np

N_CLIENTS, DIM, ROUNDS = 7, 10, 3
rng = np.random.default_rng(16)
EXAMPLES = [10, 30, 20, 50, 40, 25, 15]
INITIAL = rng.normal(0.0, 1.0, DIM).astype(np.float32)
DELTAS = []
for r in range(ROUNDS):
    d = rng.normal(0.05 * (r + 1), 0.1, (N_CLIENTS, DIM))
    d[0] = -10.0 * d[0]  # client 0 sends -10 times an honest-looking delta (the scale attack)
    DELTAS.append(d.astype(np.float32))
# each client's reported training loss per round (QFedAvg weighs by it), float32-rounded too
LOSSES = [rng.uniform(0.2, 2.0, N_CLIENTS).astype(np.float32) for _ in range(ROUNDS)]


def weighted_mean(weights, examples):
    """FedAvg (aggregate_arrayrecords): sum_i n_i w_i / sum_i n_i."""
    n = np.asarray(examples, dtype=np.float64)
    return (n[:, None] * weights).sum(axis=0) / n.sum()


def median(weights, _examples):
    """FedMedian: np.median over clients, per coordinate, unweighted."""
    return np.median(weights, axis=0)


def trimmed_mean(beta):
    """FedTrimmedAvg's trim_mean: cut int(beta n) from each end of each sorted column, mean of the rest."""

    def rule(weights, _examples):
        n = weights.shape[0]
        low = int(beta * n)
        return np.sort(weights, axis=0)[low : n - low].mean(axis=0)

    return rule


def krum_scores(weights, f):
    """select_multikrum: squared L2 distances; score = sum of the max(1, n-f-2) smallest to others."""
    n = weights.shape[0]
    dist = ((weights[:, None, :] - weights[None, :, :]) ** 2).sum(axis=2)
    closest = max(1, n - f - 2)
    return np.array([np.sort(np.delete(dist[i], i))[:closest].sum() for i in range(n)])


def multikrum(f, m):
    """MultiKrum / Krum (m = 1): the m lowest scores, then FedAvg's weighted mean of those."""

    def rule(weights, examples):
        best = np.argsort(krum_scores(weights, f), kind="stable")[:m]
        return weighted_mean(weights[best], [examples[i] for i in best])

    return rule


def bulyan(f):
    """Bulyan: theta = n-2f lowest Multi-Krum scores; per coordinate, mean of the beta = theta-2f
    values closest to the median of the selected (aggregate_n_closest_weights), unweighted."""

    def rule(weights, _examples):
        n = weights.shape[0]
        theta = n - 2 * f
        beta = theta - 2 * f
        sel = weights[np.argsort(krum_scores(weights, f), kind="stable")[:theta]]
        med = np.median(sel, axis=0)
        idx = np.argsort(np.abs(sel - med), axis=0, kind="stable")[:beta]
        return np.take_along_axis(sel, idx, axis=0).mean(axis=0)

    return rule


def centered_clip(tau, iterations):
    """Karimireddy et al. 2021, eq. (CC): v <- v + 1/n sum_i (x_i - v) min(1, tau/||x_i - v||),
    from v = the current model (delta 0), unweighted. Not a Flower strategy: the paper's formula."""

    def rule(weights, _examples, current):
        v = current.astype(np.float64).copy()
        for _ in range(iterations):
            diff = weights - v
            norms = np.linalg.norm(diff, axis=1)
            scale = np.minimum(1.0, tau / np.maximum(norms, 1e-300))
            v = v + (scale[:, None] * diff).mean(axis=0)
        return v

    return rule


def qfedavg(q, client_lr):
    """QFedAvg (q-FFL, Li et al. 2020, as flwr QFedAvg computes it): L = 1/client_lr;
    grad_k = L (w - w_k); Delta_k = (F_k + 1e-10)^q grad_k; h_k = q (F_k + 1e-10)^(q-1) ||grad_k||^2
    + L (F_k + 1e-10)^q; new model w - sum Delta_k / sum h_k (returned as the aggregate; SGD lr 1 applies it)."""

    def rule(weights, _examples, current, losses):
        L = 1.0 / client_lr
        sum_delta = np.zeros_like(current, dtype=np.float64)
        sum_h = 0.0
        for w_k, loss in zip(weights, losses):
            grad = L * (current - w_k)
            fq = np.float_power(loss + 1e-10, q)
            sum_delta += fq * grad
            sum_h += q * np.float_power(loss + 1e-10, q - 1) * float(np.sum(grad**2)) + L * fq
        return current - sum_delta / sum_h

    return rule


class Sgd:
    """FedAvg: the aggregate becomes the model (server lr 1): w + lr (agg - w)."""

    def __init__(self, lr=1.0):
        self.lr = lr

    def step(self, w, agg, _r):
        return w + self.lr * (agg - w)


class AvgM:
    """FedAvgM: pseudo-gradient g = w - agg; momentum = g on the first round, else beta*momentum + g; w - lr*momentum."""

    def __init__(self, lr, momentum):
        self.lr, self.mu, self.buf = lr, momentum, None

    def step(self, w, agg, _r):
        g = w - agg
        self.buf = g if self.buf is None else self.mu * self.buf + g
        return w - self.lr * self.buf


class FedOpt:
    """FedOpt's shared stage: delta = agg - w; m = b1 m + (1-b1) delta (m from 0)."""

    def __init__(self, eta, beta1, beta2, tau):
        self.eta, self.b1, self.b2, self.tau = eta, beta1, beta2, tau
        self.m = self.v = None

    def moments(self, w, agg):
        delta = agg - w
        self.m = np.zeros_like(delta) if self.m is None else self.m
        self.v = np.zeros_like(delta) if self.v is None else self.v
        self.m = self.b1 * self.m + (1 - self.b1) * delta
        return delta


class Adam(FedOpt):
    """FedAdam: v = b2 v + (1-b2) delta^2; w + eta_t m / (sqrt(v) + tau). With bias correction
    (Flower's FedAdam), eta_t = eta sqrt(1 - b2^k) / (1 - b1^k) where Flower writes k =
    server_round + 1.0; the script passes server_round = t - 1 for the t-th step (t = 1, 2, 3),
    i.e. Kingma & Ba's k = t, which fedlink applies. Without it (Reddi et al. 2021, Alg. 2), eta_t = eta."""

    def __init__(self, eta, beta1, beta2, tau, bias_correction):
        super().__init__(eta, beta1, beta2, tau)
        self.bias = bias_correction

    def step(self, w, agg, t):
        delta = self.moments(w, agg)
        self.v = self.b2 * self.v + (1 - self.b2) * delta**2
        eta = self.eta
        if self.bias:
            server_round = t - 1
            eta = self.eta * np.sqrt(1 - self.b2 ** (server_round + 1.0)) / (1 - self.b1 ** (server_round + 1.0))
        return w + eta * self.m / (np.sqrt(self.v) + self.tau)


class Yogi(FedOpt):
    """FedYogi: v = v - (1-b2) delta^2 sign(v - delta^2); w + eta m / (sqrt(v) + tau)."""

    def step(self, w, agg, _t):
        delta = self.moments(w, agg)
        self.v = self.v - (1 - self.b2) * delta**2 * np.sign(self.v - delta**2)
        return w + self.eta * self.m / (np.sqrt(self.v) + self.tau)


class Adagrad(FedOpt):
    """FedAdagrad (Flower fixes beta1 = 0, so m = delta): v = v + delta^2; w + eta m / (sqrt(v) + tau)."""

    def step(self, w, agg, _t):
        delta = self.moments(w, agg)
        self.v = self.v + delta**2
        return w + self.eta * self.m / (np.sqrt(self.v) + self.tau)


CASES = [
    # name, fedlink spec (aggregator, optimizer), aggregation rule, server optimizer, source
    ("fedavg", {"kind": "mean"}, {"kind": "sgd", "lr": 1}, weighted_mean, lambda: Sgd(1.0), "flwr FedAvg"),
    ("fedavgm", {"kind": "mean"}, {"kind": "momentum", "lr": 1, "momentum": 0.9}, weighted_mean, lambda: AvgM(1.0, 0.9), "flwr FedAvgM (server_learning_rate 1, server_momentum 0.9)"),
    ("fedadam-flower", {"kind": "mean"}, {"kind": "adam", "lr": 0.1, "beta1": 0.9, "beta2": 0.99, "tau": 1e-3, "biasCorrection": True}, weighted_mean, lambda: Adam(0.1, 0.9, 0.99, 1e-3, True), "flwr FedAdam (eta 0.1, bias-corrected eta_norm)"),
    ("fedadam-paper", {"kind": "mean"}, {"kind": "adam", "lr": 0.1, "beta1": 0.9, "beta2": 0.99, "tau": 1e-3}, weighted_mean, lambda: Adam(0.1, 0.9, 0.99, 1e-3, False), "Reddi et al. 2021 Alg. 2 FedAdam (no bias correction)"),
    ("fedyogi", {"kind": "mean"}, {"kind": "yogi", "lr": 0.01, "beta1": 0.9, "beta2": 0.99, "tau": 1e-3}, weighted_mean, lambda: Yogi(0.01, 0.9, 0.99, 1e-3), "flwr FedYogi (defaults eta 1e-2, tau 1e-3)"),
    ("fedadagrad", {"kind": "mean"}, {"kind": "adagrad", "lr": 0.1, "beta1": 0, "tau": 1e-3}, weighted_mean, lambda: Adagrad(0.1, 0.0, 0.0, 1e-3), "flwr FedAdagrad (defaults eta 1e-1, tau 1e-3)"),
    ("fedmedian", {"kind": "median"}, {"kind": "sgd", "lr": 1}, median, lambda: Sgd(1.0), "flwr FedMedian"),
    ("fedtrimmedavg", {"kind": "trimmed-mean", "beta": 0.2}, {"kind": "sgd", "lr": 1}, trimmed_mean(0.2), lambda: Sgd(1.0), "flwr FedTrimmedAvg (beta 0.2)"),
    ("krum", {"kind": "krum", "f": 1, "m": 1}, {"kind": "sgd", "lr": 1}, multikrum(1, 1), lambda: Sgd(1.0), "flwr Krum (num_malicious_nodes 1)"),
    ("multikrum", {"kind": "krum", "f": 1, "m": 3}, {"kind": "sgd", "lr": 1}, multikrum(1, 3), lambda: Sgd(1.0), "flwr MultiKrum (num_malicious_nodes 1, num_nodes_to_select 3)"),
    ("bulyan", {"kind": "bulyan", "f": 1}, {"kind": "sgd", "lr": 1}, bulyan(1), lambda: Sgd(1.0), "flwr Bulyan (num_malicious_nodes 1, select_multikrum)"),
    ("centered-clip", {"kind": "centered-clip", "tau": 0.5, "iterations": 3}, {"kind": "sgd", "lr": 1}, centered_clip(0.5, 3), lambda: Sgd(1.0), "Karimireddy et al. 2021 centered clipping (tau 0.5, 3 iterations)"),
    ("qfedavg", {"kind": "qfedavg", "q": 0.1, "lr": 0.1}, {"kind": "sgd", "lr": 1}, qfedavg(0.1, 0.1), lambda: Sgd(1.0), "flwr QFedAvg (q 0.1, client_learning_rate 0.1)"),
    ("qfedavg-q2", {"kind": "qfedavg", "q": 2, "lr": 0.05}, {"kind": "sgd", "lr": 1}, qfedavg(2.0, 0.05), lambda: Sgd(1.0), "flwr QFedAvg (q 2, client_learning_rate 0.05)"),
    ("median-yogi", {"kind": "median"}, {"kind": "yogi", "lr": 0.01, "beta1": 0.9, "beta2": 0.99, "tau": 1e-3}, median, lambda: Yogi(0.01, 0.9, 0.99, 1e-3), "flwr FedMedian's rule then FedYogi's step"),
]

# SCAFFOLD (Karimireddy et al. 2020). Flower has no SCAFFOLD strategy: this is the paper's
# Algorithm 1 with option II, written from the paper, on clients with quadratic objectives
# f_i(y) = 1/2 sum_j a_ij (y_j - t_ij)^2 (gradient a_i * (y - t_i), no sampling noise), so local
# training can be replayed exactly on the TypeScript side. Per round r with sampled clients S_r
# of N: each i in S_r starts at y = x and takes K steps y <- y - eta_l (g_i(y) + c - c_i); then
#   c_i+ = c_i - c + (x - y) / (K eta_l);  dy_i = y - x;  dc_i = c_i+ - c_i;
#   x <- x + eta_g * sum_i n_i dy_i / sum_i n_i   (fedlink's example-weighted mean; with all n_i
#                                                  equal it is the paper's (1/|S|) sum_i dy_i)
#   c <- c + (|S| / N) * (1/|S|) sum_i dc_i.
SCAFFOLD_N, SCAFFOLD_K, SCAFFOLD_LR = 7, 5, 0.1
SCAFFOLD_CURV = rng.uniform(0.5, 2.0, (SCAFFOLD_N, DIM)).astype(np.float32)
SCAFFOLD_TARGET = rng.normal(0.0, 1.0, (SCAFFOLD_N, DIM)).astype(np.float32)
SCAFFOLD_SAMPLED = [[0, 1, 2, 3], [2, 4, 5, 6], [0, 3, 5]]


def scaffold(examples, eta_g):
    a = SCAFFOLD_CURV.astype(np.float64)
    t = SCAFFOLD_TARGET.astype(np.float64)
    x = INITIAL.astype(np.float64)
    c = np.zeros(DIM)
    ci = np.zeros((SCAFFOLD_N, DIM))
    weights, controls = [], []
    for sampled in SCAFFOLD_SAMPLED:
        dys, dcs = [], []
        for i in sampled:
            y = x.copy()
            for _ in range(SCAFFOLD_K):
                y = y - SCAFFOLD_LR * (a[i] * (y - t[i]) + c - ci[i])
            ci_new = ci[i] - c + (x - y) / (SCAFFOLD_K * SCAFFOLD_LR)
            dys.append(y - x)
            dcs.append(ci_new - ci[i])
            ci[i] = ci_new
        n = np.array([examples[i] for i in sampled], dtype=np.float64)
        x = x + eta_g * (n[:, None] * np.array(dys)).sum(0) / n.sum()
        c = c + (len(sampled) / SCAFFOLD_N) * np.array(dcs).mean(0)
        weights.append(x.tolist())
        controls.append(c.tolist())
    return {"weights": weights, "control": controls}


out = {
    "generator": "packages/core/test/reference/flower_reference.py",
    "examples": EXAMPLES,
    "initial": INITIAL.astype(np.float64).tolist(),
    "deltas": [d.astype(np.float64).tolist() for d in DELTAS],
    "losses": [l.astype(np.float64).tolist() for l in LOSSES],
    "cases": [],
}
for name, agg_spec, opt_spec, rule, make_opt, source in CASES:
    opt = make_opt()
    w = INITIAL.astype(np.float64)
    rounds = []
    for r in range(ROUNDS):
        client_weights = w[None, :] + DELTAS[r].astype(np.float64)
        if name == "centered-clip":
            agg = rule(client_weights, EXAMPLES, w)
        elif name.startswith("qfedavg"):
            agg = rule(client_weights, EXAMPLES, w, LOSSES[r].astype(np.float64))
        else:
            agg = rule(client_weights, EXAMPLES)
        w = opt.step(w, agg, r + 1)
        rounds.append(w.tolist())
    out["cases"].append({"name": name, "source": source, "aggregator": agg_spec, "optimizer": opt_spec, "weights": rounds})
out["scaffold"] = {
    "source": "Karimireddy et al. 2020, Algorithm 1, option II (Flower has no SCAFFOLD)",
    "N": SCAFFOLD_N,
    "K": SCAFFOLD_K,
    "lr": SCAFFOLD_LR,
    "curvature": SCAFFOLD_CURV.astype(np.float64).tolist(),
    "target": SCAFFOLD_TARGET.astype(np.float64).tolist(),
    "sampled": SCAFFOLD_SAMPLED,
    "cases": [
        {"name": "scaffold-paper", "examples": [1] * SCAFFOLD_N, "serverLr": 1.0, **scaffold([1] * SCAFFOLD_N, 1.0)},
        {"name": "scaffold-weighted", "examples": EXAMPLES, "serverLr": 0.5, **scaffold(EXAMPLES, 0.5)},
    ],
}
print(json.dumps(out, indent=1))
