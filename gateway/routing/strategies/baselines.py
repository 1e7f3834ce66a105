"""llmrouter-smallest / llmrouter-largest: LLMRouter's SmallestLLM and LargestLLM baselines.

No artifact: the sizes come from `llm_data_path` (LLMRouter's model list, e.g. "size": "7B").
LLMRouter considers only models whose size ends in "B"; here every model with a parsed size > 0
counts (a model without a size is never chosen). Ties go to the first model in llm_data order,
as Python's min/max over LLMRouter's dict. Only models that are both in llm_data and available
are considered; the scores are the sizes in billions of parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gateway.errors import ConfigError, RoutingError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c


class _SizeBaseline(c.StrategyBase):
    needs_embedding = False
    needs_artifact = False
    _sign = 1.0

    def __init__(self, sizes: dict[str, float]):
        super().__init__(list(sizes))
        self.sizes = np.array(list(sizes.values()), dtype=np.float64)

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None):
        c.args(settings, cls.name, {})
        llm_data = settings.llm_data if settings is not None else {}
        sizes = {name: info.size for name, info in llm_data.items() if info.size > 0}
        if not sizes:
            raise ConfigError(
                "<config>",
                "llm_data_path",
                f'{cls.name} needs model sizes; no model in llm_data has a size (e.g. "7B")',
            )
        return cls(sizes)

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        try:
            mask = c.available_mask(self.candidates, available)
        except RoutingError as exc:
            raise RoutingError(
                f"{self.name}: {exc}; only models with a size in llm_data are considered"
            ) from None
        chosen = c.best_available(self._sign * self.sizes, mask)
        top = c.best_available(self._sign * self.sizes, np.ones_like(mask))
        return c.decision(self.candidates, self.sizes, chosen, mask, top=top, rule=self.name.split("-")[-1])


class SmallestStrategy(_SizeBaseline):
    """The smallest available model by llm_data size."""

    name = "llmrouter-smallest"
    _sign = -1.0


class LargestStrategy(_SizeBaseline):
    """The largest available model by llm_data size."""

    name = "llmrouter-largest"
    _sign = 1.0
