"""llmrouter-svm: scikit-learn's SVC.predict (libsvm one-vs-one vote), in numpy.

LLMRouter's SVMRouter fits `SVC(**hparam)` on (query embedding -> best model) and routes to
`predict([embedding])[0]`. With the default `break_ties=False`, SVC.predict is libsvm's
one-vs-one vote: for each class pair (i, j), i < j in `classes_` (sorted) order, the decision
value is sum(coef * K(sv, x)) + intercept; positive votes for i, otherwise j; the class with
most votes wins, the first in `classes_` order on a tie.

Artifact arrays (sklearn attribute in brackets): support_vectors (nSV, d) [support_vectors_],
n_support (C,) [n_support_], dual_coef (C-1, nSV) [dual_coef_], intercept (C*(C-1)/2,)
[intercept_], classes (C,) candidate index of each class, in classes_ order.
Params: kernel (linear|rbf|poly|sigmoid), gamma (the fitted float `_gamma`), coef0, degree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.spec import TrainingSpec
from gateway.routing.strategies import _common as c

KERNELS = ("linear", "rbf", "poly", "sigmoid")


class SVMStrategy(c.StrategyBase):
    """Route to SVC's prediction; if unavailable, to the available class with most pairwise votes."""

    name = "llmrouter-svm"
    arrays = ("support_vectors", "n_support", "dual_coef", "intercept", "classes")
    training = TrainingSpec(
        "llmrouter.models.svmrouter", "SVMRouter", "SVMRouterTrainer",
        hparams={"kernel": "rbf", "C": 1.0, "gamma": "scale"},
        exporter="gateway.mlops.export:export_svm", tune=("C", (0.1, 1.0, 10.0)))
    needs_embedding = True

    def __init__(self, artifact: Artifact):
        super().__init__(artifact.candidates, artifact)
        where = artifact.source or "<artifact>"
        self.sv = c.array(artifact, "support_vectors", 2, dtype=np.float64)
        n_sv, self.dim = self.sv.shape
        self.classes = c.array(artifact, "classes", 1, kind="iu", dtype=np.int64)
        n_classes = self.classes.shape[0]
        if n_classes < 2:
            raise ArtifactError(f"{where}: array 'classes' needs at least 2 classes, has {n_classes}")
        if self.classes.min() < 0 or self.classes.max() >= len(self.candidates):
            raise ArtifactError(
                f"{where}: array 'classes' must index candidates (0..{len(self.candidates) - 1})"
            )
        if len(set(self.classes.tolist())) != n_classes:
            raise ArtifactError(f"{where}: array 'classes' repeats a candidate")
        self.n_support = c.array(artifact, "n_support", 1, (n_classes,), kind="iu", dtype=np.int64)
        if int(self.n_support.sum()) != n_sv:
            raise ArtifactError(
                f"{where}: n_support sums to {int(self.n_support.sum())}, support_vectors has {n_sv}"
            )
        self.dual_coef = c.array(artifact, "dual_coef", 2, (n_classes - 1, n_sv), dtype=np.float64)
        pairs = n_classes * (n_classes - 1) // 2
        self.intercept = c.array(artifact, "intercept", 1, (pairs,), dtype=np.float64)
        if n_classes == 2:
            # sklearn flips the public dual_coef_/intercept_ of a binary SVC; undo it to get libsvm's.
            self.dual_coef = -self.dual_coef
            self.intercept = -self.intercept
        self.kernel = c.param(artifact, "kernel", "rbf", KERNELS)
        self.gamma = float(c.param(artifact, "gamma", 1.0 / self.dim))
        self.coef0 = float(c.param(artifact, "coef0", 0.0))
        self.degree = int(c.param(artifact, "degree", 3))
        if artifact.params.get("break_ties", False):
            raise ArtifactError(
                f"{where}: params.break_ties=true is not supported (sklearn's default is false)"
            )
        self.starts = np.concatenate([[0], np.cumsum(self.n_support)])
        self.sv_sq = np.einsum("ij,ij->i", self.sv, self.sv)

    def _kernel(self, x: np.ndarray) -> np.ndarray:
        dots = self.sv @ x
        if self.kernel == "linear":
            return dots
        if self.kernel == "rbf":
            return np.exp(-self.gamma * np.maximum(self.sv_sq - 2.0 * dots + float(x @ x), 0.0))
        if self.kernel == "poly":
            return (self.gamma * dots + self.coef0) ** self.degree
        return np.tanh(self.gamma * dots + self.coef0)

    def votes(self, x: np.ndarray) -> np.ndarray:
        """libsvm's one-vs-one votes per class (classes_ order)."""
        k = self._kernel(x.astype(np.float64))
        n = self.classes.shape[0]
        votes = np.zeros(n)
        p = 0
        s = self.starts
        for i in range(n):
            for j in range(i + 1, n):
                dec = (
                    self.dual_coef[j - 1, s[i] : s[i + 1]] @ k[s[i] : s[i + 1]]
                    + self.dual_coef[i, s[j] : s[j + 1]] @ k[s[j] : s[j + 1]]
                    + self.intercept[p]
                )
                votes[i if dec > 0 else j] += 1
                p += 1
        return votes

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        return self.select_vector(c.query_vector(request, self.dim), available)

    def select_vector(self, query: np.ndarray, available: Sequence[str]) -> Decision:
        mask = c.available_mask(self.candidates, available)
        scores = np.zeros(len(self.candidates))
        scores[self.classes] = self.votes(query)
        # Candidates that are not classes rank after every class (order: classes_, then the rest).
        rest = np.array(
            [i for i in range(len(self.candidates)) if i not in set(self.classes.tolist())], dtype=int
        )
        order = np.concatenate([self.classes, rest]).astype(np.int64)
        top = c.best_available(scores, np.ones_like(mask), order)
        chosen = c.best_available(scores, mask, order)
        return c.decision(self.candidates, scores, chosen, mask, top=top, rule="ovo-vote")
