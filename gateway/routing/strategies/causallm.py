"""llmrouter-causallm: ask a causal LM which candidate should answer.

LLMRouter's CausalLMRouter fine-tunes a causal LM (vLLM, GPU) to complete the prompt below with
the best model's name, then maps the generated text to a name (`_parse_llm_name`). Here the
completion comes from the router model, any model group of the config (a fine-tuned one served
by a local OpenAI-compatible server reproduces the library; an instruct model works zero-shot).
The prompt is the library's; the text is cut at the first line break, as the library's stop
sequences do. An answer naming no candidate, a timeout or an error routes to `default_model`
(default: the first candidate, the library's fallback).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.routing.base import Decision
from gateway.routing.strategies import _llm_assisted as llm

PROMPT = """You are an intelligent router that selects the best Large Language Model (LLM) for a given query.

Available LLMs: {llm_options}

Based on the query content, complexity, and requirements, predict which LLM would provide the best response.

Query: {query}

Best LLM:"""


class CausalLMStrategy(llm.LLMAssistedStrategy):
    name = "llmrouter-causallm"

    def prompt(self, query: str, available: Sequence[str]) -> str:
        # Only the available names are offered: a name the router cannot get is no help.
        return PROMPT.format(llm_options=", ".join(self.offered(available)), query=query)

    def read_answer(self, text: str, available: Sequence[str]) -> Decision:
        first_line = next((line for line in text.strip().splitlines() if line.strip()), "")
        named = llm.match_candidate(first_line, available) or llm.match_candidate(text, available)
        if named is None:
            return self.unusable(text, available)
        return self.named(named, text, "router-named")
