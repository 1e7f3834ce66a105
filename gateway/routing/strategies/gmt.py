"""llmrouter-gmt: LLMRouter's GMTRouter (heterogeneous graph transformer + preference predictor).

GMTRouter scores LLM m for user u as scorer(MultiheadAttention(query=q, keys=values=[u, m])), with
u, m and q node states from its HGT encoder over the training graph (eval mode: fixed). Its
`route_single` always uses query node 0 (`query_id = 0`), so LLMRouter's choice depends on the user
only; users missing from the graph fall back to the first model. The exporter stores the node
states, so this is exact. Optional extension: with query_proj_weight/query_proj_bias, the query
state is a learned projection of the request's MiniLM embedding instead of node 0.
Arrays: user_states (U, h), llm_states (L, h), query_state (h,), attn_in_weight (3h, h),
attn_in_bias (3h,), attn_out_weight (h, h), attn_out_bias (h,) [nn.MultiheadAttention
in_proj_*/out_proj.*], scorer_w1 (h/2, h), scorer_b1, scorer_w2 (1, h/2), scorer_b2 (1,);
optional query_proj_weight (h, d), query_proj_bias (h,).
Params: num_heads (default 4), users {name: row}, fallback_model (default: first candidate).
`routing_strategy_args`: identity = user | team | user_or_team.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c


class GMTStrategy(c.StrategyBase):
    """Per-user preference scores from GMTRouter's predictor; unknown users get `fallback_model`."""

    name = "llmrouter-gmt"
    needs_embedding = False  # per instance: True when the artifact has a query projection

    def __init__(self, artifact: Artifact, identity: str):
        super().__init__(artifact.candidates, artifact)
        where = artifact.source or "<artifact>"
        a = artifact
        self.llm_states = c.array(a, "llm_states", 2, (len(self.candidates), None), dtype=np.float64)
        h = self.llm_states.shape[1]
        self.user_states = c.array(a, "user_states", 2, (None, h), dtype=np.float64)
        self.query_state = c.array(a, "query_state", 1, (h,), dtype=np.float64)
        w_in = c.array(a, "attn_in_weight", 2, (3 * h, h), dtype=np.float64)
        b_in = c.array(a, "attn_in_bias", 1, (3 * h,), dtype=np.float64)
        self.wq, self.wk, self.wv = w_in[:h], w_in[h : 2 * h], w_in[2 * h :]
        self.bq, self.bk, self.bv = b_in[:h], b_in[h : 2 * h], b_in[2 * h :]
        self.w_out = c.array(a, "attn_out_weight", 2, (h, h), dtype=np.float64)
        self.b_out = c.array(a, "attn_out_bias", 1, (h,), dtype=np.float64)
        self.w1 = c.array(a, "scorer_w1", 2, (None, h), dtype=np.float64)
        self.b1 = c.array(a, "scorer_b1", 1, (self.w1.shape[0],), dtype=np.float64)
        self.w2 = c.array(a, "scorer_w2", 2, (1, self.w1.shape[0]), dtype=np.float64)
        self.b2 = c.array(a, "scorer_b2", 1, (1,), dtype=np.float64)
        self.heads = int(c.param(a, "num_heads", 4))
        if self.heads < 1 or h % self.heads:
            raise ArtifactError(f"{where}: params.num_heads={self.heads} must divide the hidden size {h}")
        self.users = c.users_param(a, self.user_states.shape[0])
        self.fallback = c.param(a, "fallback_model", self.candidates[0], self.candidates)
        self.proj_w = c.optional_array(a, "query_proj_weight", 2, (h, None))
        self.proj_b = c.optional_array(a, "query_proj_bias", 1, (h,))
        self.needs_embedding = self.proj_w is not None
        self.dim = None if self.proj_w is None else self.proj_w.shape[1]
        self.identity = identity
        # Keys and values of every LLM do not depend on the request: project them once.
        self.k_llm = self.llm_states @ self.wk.T + self.bk
        self.v_llm = self.llm_states @ self.wv.T + self.bv

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None) -> GMTStrategy:
        artifact = c.check_artifact(artifact, cls.name)
        strategy = cls(artifact, c.identity_arg(settings, cls.name))
        if strategy.dim is not None:
            c.check_embedding(artifact, strategy.dim)
        return strategy

    def scores(self, user: int, query_state: np.ndarray) -> np.ndarray:
        """Preference score of every LLM for this user (PreferencePredictor, eval mode)."""
        n_h = self.heads
        d_h = self.wq.shape[0] // n_h
        q = (self.wq @ query_state + self.bq).reshape(n_h, d_h)
        k_u = (self.wk @ self.user_states[user] + self.bk).reshape(n_h, d_h)
        v_u = (self.wv @ self.user_states[user] + self.bv).reshape(n_h, d_h)
        k_l = self.k_llm.reshape(-1, n_h, d_h)
        v_l = self.v_llm.reshape(-1, n_h, d_h)
        scale = 1.0 / np.sqrt(d_h)
        s_u = (q * k_u).sum(-1) * scale  # (heads,)
        s_l = (k_l * q).sum(-1) * scale  # (L, heads)
        m = np.maximum(s_u, s_l)
        e_u, e_l = np.exp(s_u - m), np.exp(s_l - m)
        attn = (e_u[..., None] * v_u + e_l[..., None] * v_l) / (e_u + e_l)[..., None]  # (L, heads, d_h)
        out = attn.reshape(attn.shape[0], -1) @ self.w_out.T + self.b_out
        hidden = np.maximum(out @ self.w1.T + self.b1, 0.0)
        return (hidden @ self.w2.T + self.b2)[:, 0]

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        user, who = c.resolve_user(request, self.users, self.identity)
        query_state = self.query_state
        if self.proj_w is not None:
            query_state = self.proj_w @ c.query_vector(request, self.dim).astype(np.float64) + self.proj_b
        return self.select_state(available, user, who, query_state)

    def select_state(
        self,
        available: Sequence[str],
        user: int | None,
        who: str = "unknown",
        query_state: np.ndarray | None = None,
    ) -> Decision:
        mask = c.available_mask(self.candidates, available)
        if user is None:
            scores = np.full(len(self.candidates), -np.inf)
            top = self.candidates.index(self.fallback)
            scores[top] = 0.0
            chosen = top if mask[top] else int(np.flatnonzero(mask)[0])
            return c.decision(self.candidates, scores, chosen, mask, top=top, rule="fallback", identity=who)
        scores = self.scores(user, self.query_state if query_state is None else query_state)
        return c.decision(
            self.candidates, scores, c.best_available(scores, mask), mask, rule="preference", identity=who
        )
