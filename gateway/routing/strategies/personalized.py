"""llmrouter-personalized: LLMRouter's PersonalizedRouter (GNN over user, query and LLM nodes), exact.

PersonalizedRouter's query node is x_ini = [task_transform(task), query_transform(q),
user_transform(one_hot(user))]; the score of LLM m is sigmoid(mean(x_ini * x[m])) where x[m] is the
LLM node's state after two GeneralConv layers over the *training* edges only (eval mode). Those
states depend on the asking user (the user feature is broadcast to every query node) but not on
the new query, so the exporter runs the GNN once per user and stores them.
Arrays: query_weight (h, d), query_bias (h,) [query_transform]; task_part (h,) [task_transform
of the zero task vector, i.e. its bias: requests carry no task embedding]; user_part (U, h)
[user_transform(one_hot(u))]; llm_states (U, L, 3h).
Params: users {name: row} (LLMRouter's integer user ids; a request's `user`/`team` is looked up),
default_user (row for unknown users; LLMRouter's default user_id is 0).
`routing_strategy_args`: identity = user | team | user_or_team (default: user, then team).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c


class PersonalizedStrategy(c.StrategyBase):
    """Per-user GNN edge scores; unknown users get `default_user`'s preferences."""

    name = "llmrouter-personalized"
    needs_embedding = True

    def __init__(self, artifact: Artifact, identity: str):
        super().__init__(artifact.candidates, artifact)
        where = artifact.source or "<artifact>"
        self.query_weight = c.array(artifact, "query_weight", 2, dtype=np.float64)
        hidden, self.dim = self.query_weight.shape
        self.query_bias = c.array(artifact, "query_bias", 1, (hidden,), dtype=np.float64)
        self.task_part = c.array(artifact, "task_part", 1, (hidden,), dtype=np.float64)
        self.user_part = c.array(artifact, "user_part", 2, (None, hidden), dtype=np.float64)
        n_users = self.user_part.shape[0]
        self.llm_states = c.array(
            artifact, "llm_states", 3, (n_users, len(self.candidates), 3 * hidden), dtype=np.float64
        )
        self.users = c.users_param(artifact, n_users)
        self.default_user = int(c.param(artifact, "default_user", 0))
        if not 0 <= self.default_user < n_users:
            raise ArtifactError(f"{where}: params.default_user must be 0..{n_users - 1}")
        self.identity = identity
        # The task and user thirds of x_ini do not depend on the query: fold them per user.
        self.fixed = np.einsum("ulk,k->ul", self.llm_states[:, :, :hidden], self.task_part) + np.einsum(
            "ulk,uk->ul", self.llm_states[:, :, 2 * hidden :], self.user_part
        )
        self.query_states = self.llm_states[:, :, hidden : 2 * hidden]

    @classmethod
    def load(
        cls, artifact: Artifact | None, settings: StrategySettings | None = None
    ) -> PersonalizedStrategy:
        artifact = c.check_artifact(artifact, cls.name)
        strategy = cls(artifact, c.identity_arg(settings, cls.name))
        c.check_embedding(artifact, strategy.dim)
        return strategy

    def scores(self, q: np.ndarray, user: int) -> np.ndarray:
        h = self.query_weight @ q.astype(np.float64) + self.query_bias
        total = self.fixed[user] + self.query_states[user] @ h
        return c.sigmoid(total / (3 * h.shape[0]))

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        user, who = c.resolve_user(request, self.users, self.identity)
        return self.select_vector(c.query_vector(request, self.dim), available, user, who)

    def select_vector(
        self, query: np.ndarray, available: Sequence[str], user: int | None = None, who: str = "unknown"
    ) -> Decision:
        mask = c.available_mask(self.candidates, available)
        row = self.default_user if user is None else user
        scores = self.scores(query, row)
        return c.decision(
            self.candidates,
            scores,
            c.best_available(scores, mask),
            mask,
            rule="gnn-edge",
            user_row=row,
            identity=who,
        )
