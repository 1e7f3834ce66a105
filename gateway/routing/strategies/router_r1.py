"""llmrouter-router-r1: a reasoning router model calls candidates as tools; the first one called wins.

LLMRouter's RouterR1 runs a Router-R1 checkpoint (vLLM, GPU) with a prompt that lists the
candidate LLMs and their descriptions and asks it to think in `<think>`, call a model with
`<search> LLM-Name:Your-Query </search>` (generation stops at `</search>`), read the reply in
`<information>` and repeat up to five times, or finish with `<answer>`. The gateway needs one
deployment per request, so it runs the first turn only: the model named in the first `<search>`
is chosen. The prompt is the library's, with the candidate list and descriptions taken from the
config instead of the library's six hard-coded models. An answer without a `<search>` naming an
available candidate (including a direct `<answer>`), a timeout or an error routes to
`default_model` (default: the first candidate).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.routing.base import Decision
from gateway.routing.strategies import _llm_assisted as llm

PROMPT = """
Answer the given question. \
Every time you receive new information, you must first conduct reasoning inside <think> ... </think>. \
After reasoning, if you find you lack some knowledge, you can call a specialized LLM by writing a query \
inside <search> LLM-Name:Your-Query </search>. \

!!! STRICT FORMAT RULES for <search>: !!!
    + You MUST replace LLM-Name with the EXACT name of a model selected from [{model_list}]. \
    + You MUST replace Your-Query with a CONCRETE QUESTION that helps answer the original question below. \
    + NEVER copy or paste model descriptions into <search>.
    + NEVER output the placeholder format <search> LLM-Name:Your-Query </search>. \
Always replace both parts correctly. \

Before each LLM call, you MUST explicitly reason inside <think> ... </think> about: \
    + Why external information is needed. \
    + Which model is best suited for answering it, based on the LLMs' abilities (described below). \

When you call an LLM, the response will be returned between <information> and </information>. \
You must not limit yourself to repeatedly calling a single LLM \
(unless its provided information is consistently the most effective and informative). \
You are encouraged to explore and utilize different LLMs to better understand their respective strengths \
and weaknesses. \
It is also acceptable—and recommended—to call different LLMs multiple times for the same input question \
to gather more comprehensive information. \


#### The Descriptions of Each LLM \

{model_descriptions}


If you find that no further external knowledge is needed, you can directly provide your final answer \
inside <answer> ... </answer>, without additional explanation or illustration. \
For example: <answer> Beijing </answer>. \
    + Important: You must not output the placeholder text "<answer> and </answer>" alone. \
    + You must insert your actual answer between <answer> and </answer>, following the correct format. \
Question: {question}\n
"""

# A stop sequence may cut the closing tag, so the first call may end at the end of the text.
_SEARCH = re.compile(r"<search>(.*?)(?:</search>|$)", re.DOTALL | re.IGNORECASE)


def first_search(text: str) -> str | None:
    """The content of the first `<search>` before any `<answer>`, or None."""
    answer_at = text.lower().find("<answer>")
    match = _SEARCH.search(text)
    if match is None or (answer_at >= 0 and answer_at < match.start()):
        return None
    return match.group(1).strip()


def searched_model(call: str, candidates: Sequence[str]) -> str | None:
    """The model in `LLM-Name:Your-Query` (names may contain colons, so try longest names first)."""
    lowered = call.lower()
    for name in sorted(candidates, key=len, reverse=True):
        if lowered.startswith(name.lower()) and lowered[len(name) :].lstrip().startswith(":"):
            return name
    head = call.split(":", 1)[0]
    return llm.match_candidate(head, candidates)


class RouterR1Strategy(llm.LLMAssistedStrategy):
    name = "llmrouter-router-r1"

    def prompt(self, query: str, available: Sequence[str]) -> str:
        question = query.strip()
        if not question.endswith("?"):  # as the library does
            question += "?"
        offered = self.offered(available)
        return PROMPT.format(
            model_list=", ".join(offered),
            model_descriptions=self.described(offered, "\n\n"),
            question=question,
        )

    def read_answer(self, text: str, available: Sequence[str]) -> Decision:
        call = first_search(text)
        if call is None:
            reason = (
                "router answered directly (no <search>)" if "<answer>" in text.lower() else "no <search> call"
            )
            return self.unusable(text, available, reason)
        model = searched_model(call, available)
        if model is None:
            return self.unusable(text, available, "<search> names no available candidate")
        return self.named(model, text, "first-search")
