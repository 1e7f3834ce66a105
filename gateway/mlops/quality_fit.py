"""Fitting the quality predictors of llmrouter-quality-logistic and -mlp, in numpy.

Both read unit query vectors `x` (n, d) and the quality matrix `y` (n, models) in [0, 1] (0/1
correctness or a graded score: the cross-entropy takes either), with `weight` (n, models): how much
each cell counts, 0 where the model was not observed on that query, and the task weights
(`RoutingDataset.row_weights`, scaled to mean 1) elsewhere, so every task counts the same.
numpy only: the same code trains in the gateway's venv, the training environment and the tests.
"""

from __future__ import annotations

import numpy as np

from gateway.routing.strategies._common import sigmoid


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: tuple[float, ...], iterations: int = 30,
                 tolerance: float = 1e-7) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """One L2-regularised logistic regression per model by Newton's method (exact, a few steps), for
    every strength in `l2`: `weights` (d, models) and `bias` (models,) each; the bias is not
    regularised. The strengths are fitted strongest first, each starting from the last solution (a
    regularisation path), so cross-validating several costs little more than fitting one."""
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros((d + 1, y.shape[1]))
    theta[-1] = _logit((weight * y).sum(axis=0) / np.maximum(weight.sum(axis=0), 1e-12))
    fitted = {}
    for strength in sorted(l2, reverse=True):
        penalty = np.full(d + 1, float(strength))
        penalty[-1] = 0.0
        for m in range(y.shape[1]):
            w, target = weight[:, m], y[:, m]
            for _ in range(iterations):
                p = sigmoid(design @ theta[:, m])
                gradient = design.T @ (w * (p - target)) + penalty * theta[:, m]
                hessian = (design * (w * p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
                step = np.linalg.solve(hessian, gradient)
                theta[:, m] -= step
                if np.abs(step).max() < tolerance:
                    break
        fitted[strength] = (theta[:-1].copy(), theta[-1].copy())
    return fitted


def fit_mlp(x: np.ndarray, y: np.ndarray, weight: np.ndarray, hidden: int, checkpoints: tuple[int, ...],
            learning_rate: float = 1e-3, weight_decay: float = 1e-4, batch: int = 128, seed: int = 0
            ) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """A one-hidden-layer ReLU MLP with one sigmoid output per model, trained with Adam on the
    weighted cross-entropy; returns the layers (weights_i (in, out), biases_i) after each epoch
    count in `checkpoints`, so cross-validation tries several lengths in one run."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    params = [rng.normal(0.0, np.sqrt(2.0 / d), (d, hidden)), np.zeros(hidden),
              rng.normal(0.0, np.sqrt(1.0 / hidden), (hidden, y.shape[1])),
              _logit((weight * y).sum(axis=0) / np.maximum(weight.sum(axis=0), 1e-12))]
    first, second = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    step, snapshots = 0, {}
    for epoch in range(1, max(checkpoints) + 1):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            rows = order[start:start + batch]
            w1, b1, w2, b2 = params
            pre = x[rows] @ w1 + b1
            hidden_out = np.maximum(pre, 0.0)
            delta = (sigmoid(hidden_out @ w2 + b2) - y[rows]) * weight[rows] / len(rows)
            back = (delta @ w2.T) * (pre > 0)
            grads = [x[rows].T @ back + weight_decay * w1, back.sum(axis=0),
                     hidden_out.T @ delta + weight_decay * w2, delta.sum(axis=0)]
            step += 1
            for p, g, m1, m2 in zip(params, grads, first, second, strict=True):
                m1 *= 0.9
                m1 += 0.1 * g
                m2 *= 0.999
                m2 += 0.001 * g * g
                p -= learning_rate * (m1 / (1 - 0.9 ** step)) / (np.sqrt(m2 / (1 - 0.999 ** step)) + 1e-8)
        if epoch in checkpoints:
            snapshots[epoch] = [(params[0].copy(), params[1].copy()), (params[2].copy(), params[3].copy())]
    return snapshots
