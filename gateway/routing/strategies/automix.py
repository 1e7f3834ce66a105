"""llmrouter-automix: draft with the small model, self-verify, escalate to the large one if unsure.

LLMRouter's AutomixRouter (from the AutoMix paper) asks the smallest model for a short answer
(`prepare_row`'s prompt, stop at a line break), asks the small model again to verify that answer
with a few-shot prompt (`verifier_prompt`, n=2 samples at temperature 1, stop at `---`), scores
the fraction of samples that say "The AI generated answer is Correct" (`compute_fraction_correct`)
and routes to the largest model when that score is <= a threshold (`Threshold`; the
`SelfConsistency` method fixes it at 0.5).

Here the draft comes from `draft_model` and the verification from `router_model` (both model
groups of the config; set both to the small model's group to reproduce the library exactly). The
draft answer is not returned to the user: the hook chooses a deployment, it cannot answer, so the
chosen model answers the real request afterwards. The small/large pair is the smallest and
largest candidate by llm_data `size` unless `small_model`/`large_model` say otherwise.
A router-model timeout or error routes to `default_model` (default: the large model, the safe
choice when nothing was verified).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.errors import ConfigError
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c
from gateway.routing.strategies import _llm_assisted as llm

ARGS: dict[str, object] = {
    "draft_model": None,  # model group that drafts the answer; default: router_model
    "small_model": None,  # candidate names; default: smallest / largest llm_data size
    "large_model": None,
    "threshold": 0.5,  # escalate when verification score <= threshold (library: Threshold)
    "verify_samples": 2,  # verification calls (library: n=2)
}

DRAFT_PROMPT = """
You are given  a question. Answer the question as concisely as you can, using a single phrase if possible.

Question: {question}

Answer: The answer is'"""

_INSTRUCTION = (
    "Instruction: Your task is to evaluate if the AI Generated Answer is correct, "
    "based on the provided question. "
    "Provide the judgement and reasoning for each case. Choose between Correct or Incorrect."
)
_SHOTS = (
    (
        "Whose lost work was discovered in a dusty attic in 1980?",
        "Shakespeare",
        "The lost work of Shakespeare was discovered in 1980 in a dusty attic.",
        "Correct",
    ),
    (
        "In which month does the celestial event, the Pink Moon, occur?",
        "July",
        "The Pink Moon is unique to the month of April.",
        "Incorrect",
    ),
    (
        "Who is believed to have painted the Mona Lisa in the early 16th century?",
        "Vincent van Gogh",
        "The  Mona Lisa was painted by Leonardo da Vinci in the early 16th century.",
        "Incorrect",
    ),
    (
        "How far away is the planet Kepler-442b?",
        "1,100 light-years",
        "The Kepler-442b is located 1,100 light-years away.",
        "Correct",
    ),
)
# The library's few-shot verifier prompt (automix/data_pipeline.py `verifier_prompt`).
VERIFIER_PROMPT = (
    "\n\n"
    + "".join(
        f"Question: {q}\n\nAI Generated Answer: {a}\n\n{_INSTRUCTION}\n\nEvaluation: {e}\n\n"
        f"Verification Decision: The AI generated answer is {v}.\n\n---\n\n\n"
        for q, a, e, v in _SHOTS
    )
    + "Question: {question}\n\nAI Generated Answer: {generated_answer}\n\n"
    + _INSTRUCTION
    + "\n\nEvaluation:"
)


def clean_draft(text: str) -> str:
    """The library's stop at a line break and quote stripping (`safe_clean_answer`)."""
    first = next((line for line in text.strip().splitlines() if line.strip()), "")
    return first.strip().replace("'", "").replace('"', "")


def verification_score(samples: Sequence[str]) -> tuple[float, int]:
    """LLMRouter's `compute_fraction_correct`: correct / samples that state a verdict (0.0 if none).

    Each sample is cut at `---`, the library's stop sequence, so a model that goes on to invent
    the next few-shot example is not counted twice. Returns (score, samples with a verdict).
    """
    verdicts = [s.split("---", 1)[0].lower() for s in samples]
    valid = [v for v in verdicts if "the ai generated answer is" in v]
    if not valid:
        return 0.0, 0
    correct = sum("the ai generated answer is correct" in v for v in valid)
    return correct / len(valid), len(valid)


def _size_pair(settings: StrategySettings | None, candidates: Sequence[str]) -> tuple[str | None, str | None]:
    data = settings.llm_data if settings is not None else {}
    sized = sorted((data[n].size, i, n) for i, n in enumerate(candidates) if n in data and data[n].size > 0)
    if not sized:
        return None, None
    return sized[0][2], sized[-1][2]


class AutomixStrategy(llm.LLMAssistedStrategy):
    name = "llmrouter-automix"
    accepted_args = llm.accepted(ARGS)

    def __init__(
        self,
        common: llm.LLMArgs,
        settings: StrategySettings | None,
        *,
        draft_model: str,
        small: str,
        large: str,
        threshold: float,
        samples: int,
    ):
        super().__init__(common, settings)
        self.draft_model = draft_model
        self.small = small
        self.large = large
        self.threshold = threshold
        self.samples = samples

    @classmethod
    def load(cls, artifact: object, settings: StrategySettings | None = None) -> AutomixStrategy:
        probe, own = llm.parse_args(settings, cls.name, ARGS)
        small_default, large_default = _size_pair(settings, probe.candidates)
        small = own["small_model"] or small_default
        large = own["large_model"] or large_default
        for key, value in (("small_model", small), ("large_model", large)):
            if value is None:
                raise ConfigError(
                    "<config>",
                    f"{c.ARGS_KEY}.{key}",
                    f"{cls.name} cannot tell the small model from the large one: set {key} "
                    "or give every candidate a size in llm_data_path",
                )
            if value not in probe.candidates:
                raise ConfigError(
                    "<config>",
                    f"{c.ARGS_KEY}.{key}",
                    f"value {value!r} is not one of the candidates {list(probe.candidates)}",
                )
        if small == large:
            raise ConfigError(
                "<config>",
                f"{c.ARGS_KEY}.large_model",
                f"small and large model are both {small!r}; automix needs two different models",
            )
        common, _ = llm.parse_args(settings, cls.name, ARGS, default_model=large)
        threshold = c.float_arg(own, "threshold", minimum=0.0)
        if threshold > 1.0:
            raise ConfigError("<config>", f"{c.ARGS_KEY}.threshold", f"value {threshold} must be in [0, 1]")
        samples = own["verify_samples"]
        if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= 16:
            raise ConfigError("<config>", f"{c.ARGS_KEY}.verify_samples", f"value {samples!r} must be 1..16")
        draft = own["draft_model"] or common.router_model
        return cls(
            common,
            settings,
            draft_model=draft,
            small=small,
            large=large,
            threshold=threshold,
            samples=samples,
        )

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        common = self.common
        if self.small not in available or self.large not in available:
            # Nothing to decide between: spend no router calls.
            for only in (self.large, self.small):
                if only in available:
                    return Decision(model=only, scores={}, detail={"rule": "only-one-available"})
            return llm.fallback(common, available, "neither the small nor the large model is available")
        timeout = common.router_timeout
        try:
            draft = clean_draft(
                await llm.ask(request, self.draft_model, DRAFT_PROMPT.format(question=request.query), timeout)
            )
        except llm.RouterCallFailed as exc:
            return llm.fallback(common, available, exc.reason)
        prompt = VERIFIER_PROMPT.format(question=request.query, generated_answer=draft)
        results = await asyncio.gather(
            *(llm.ask(request, common.router_model, prompt, timeout) for _ in range(self.samples)),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, llm.RouterCallFailed):
                raise result  # a bug or a cancellation, not a router-model hiccup
        failed = [r.reason for r in results if isinstance(r, llm.RouterCallFailed)]
        samples = [r for r in results if isinstance(r, str)]
        if not samples:
            return llm.fallback(common, available, failed[0])
        # Like the library, failed samples are left out of the score (its None results).
        score, valid = verification_score(samples)
        escalate = score <= self.threshold
        chosen = self.large if escalate else self.small
        detail = {
            "rule": "escalate" if escalate else "verified",
            "verification_score": score,
            "verdicts": valid,
            "threshold": self.threshold,
            **llm.said(common, " | ".join(s.split("---", 1)[0] for s in samples)),
        }
        if valid == 0:
            detail["note"] = "no sample stated a verdict; counted as unverified (library rule)"
        if failed:
            detail["failed_samples"] = len(failed)
        return Decision(model=chosen, scores={self.small: score, self.large: 1.0 - score}, detail=detail)
