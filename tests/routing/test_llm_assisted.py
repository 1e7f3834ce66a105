"""LLM-assisted strategies route real requests through a router model served by the fake upstream.

The router model's answers are fixed per test (per model name or per prompt substring), so the
expected decision is known; every router call goes over HTTP to the fake upstream.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import numpy as np
import pytest

from gateway.errors import ArtifactError, ConfigError
from gateway.routing.artifact import EmbeddingSpec, build_files, load_artifact, write_dir
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.embedding import MiniLMEmbedder
from gateway.routing.registry import LLMInfo, StrategySettings, resolve
from gateway.routing.static_embedding import STATIC_MODEL_NAME, StaticEmbedder
from gateway.routing.strategies import _llm_assisted as llm
from gateway.routing.strategies.automix import AutomixStrategy, verification_score
from gateway.routing.strategies.causallm import CausalLMStrategy
from gateway.routing.strategies.multiround import (
    KNNMultiRoundStrategy,
    LLMMultiRoundStrategy,
    _vote,
    sub_queries,
)
from gateway.routing.strategies.router_r1 import RouterR1Strategy, first_search

SMALL, LARGE, CODER = "qwen2.5-7b", "llama-3.1-70b", "mistral-7b"
CANDIDATES = [SMALL, LARGE, CODER]
LLM_DATA = {
    SMALL: LLMInfo(SMALL, size=7, feature="small general model"),
    LARGE: LLMInfo(LARGE, size=70, feature="large reasoning model"),
    CODER: LLMInfo(CODER, size=7.5, feature="code model"),
}
ROUTER = "router"


def settings(**args: Any) -> StrategySettings:
    return StrategySettings(llm_data=dict(LLM_DATA), args={"router_model": ROUTER, **args})


def http_caller(base_url: str):
    """What the proxy adapter provides: (model_group, messages) -> text, here over plain HTTP."""

    async def call(model_group: str, messages: list[dict[str, Any]]) -> str:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            response = await client.post(
                "/chat/completions", json={"model": model_group, "messages": messages}
            )
            response.raise_for_status()
            return response.json()["choices"][0]["message"]["content"]

    return call


def route(strategy, upstream, query: str, available=CANDIDATES, **request: Any) -> Decision:
    req = RoutingRequest(
        query=query,
        messages=[{"role": "user", "content": query}],
        llm_call=http_caller(upstream.base_url),
        **request,
    )
    return asyncio.run(strategy.select(req, list(available)))


def router_prompts(upstream) -> list[str]:
    return [r["body"]["messages"][-1]["content"] for r in upstream.requests() if r["model"] == ROUTER]


# -- shared behaviour ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["llmrouter-automix", "llmrouter-causallm", "llmrouter-llm-multiround", "llmrouter-router-r1"]
)
def test_router_model_is_required(name):
    with pytest.raises(ConfigError, match="router_model"):
        resolve(name).load(None, StrategySettings(llm_data=dict(LLM_DATA), args={}))


def test_default_model_must_be_a_candidate_and_unknown_args_fail():
    with pytest.raises(ConfigError, match="default_model"):
        CausalLMStrategy.load(None, settings(default_model="gpt-9"))
    with pytest.raises(ConfigError, match="router_timout"):
        CausalLMStrategy.load(None, settings(router_timout=1))
    with pytest.raises(ConfigError, match="candidates"):
        CausalLMStrategy.load(None, StrategySettings(args={"router_model": ROUTER}))


def test_candidates_arg_overrides_llm_data():
    strategy = CausalLMStrategy.load(None, settings(candidates=[LARGE, SMALL]))
    assert list(strategy.candidates) == [LARGE, SMALL]
    assert not CausalLMStrategy.needs_artifact and "router_model" in CausalLMStrategy.accepted_args


def test_match_candidate_is_strict_about_garbage():
    assert llm.match_candidate(" Llama-3.1-70B.", CANDIDATES) == LARGE
    assert llm.match_candidate("I pick Qwen 2.5 7B for this", CANDIDATES) == SMALL
    assert llm.match_candidate("use llama-3.1-70b, not qwen2.5-7b", CANDIDATES) == LARGE
    assert llm.match_candidate("the 7b one", CANDIDATES) is None
    assert llm.last_candidate("ask qwen2.5-7b: llama-3.1-70b", CANDIDATES) == LARGE


def test_missing_llm_call_falls_back_instead_of_raising():
    strategy = CausalLMStrategy.load(None, settings(default_model=LARGE))
    decision = asyncio.run(strategy.select(RoutingRequest(query="hi"), CANDIDATES))
    assert decision.model == LARGE and "no llm_call" in decision.detail["fallback_reason"]


# -- causallm -----------------------------------------------------------------------------------
def test_causallm_routes_to_the_model_the_router_names(upstream):
    upstream.set_behaviour(ROUTER, answer=f" {CODER}\nQuery: something else")
    decision = route(CausalLMStrategy.load(None, settings()), upstream, "write a sort in rust")
    assert decision.model == CODER
    assert decision.detail["rule"] == "router-named" and CODER in decision.detail["router_output"]
    prompt = router_prompts(upstream)[0]
    assert f"Available LLMs: {SMALL}, {LARGE}, {CODER}" in prompt
    assert prompt.endswith("Query: write a sort in rust\n\nBest LLM:")
    assert "Best LLM" not in str(decision.detail)  # no prompt text in the decision


def test_causallm_offers_only_available_candidates(upstream):
    upstream.set_behaviour(ROUTER, answer=LARGE)
    decision = route(CausalLMStrategy.load(None, settings()), upstream, "q", available=[SMALL, LARGE])
    assert decision.model == LARGE
    assert f"Available LLMs: {SMALL}, {LARGE}\n" in router_prompts(upstream)[0]


def test_causallm_garbage_answer_falls_back_to_default_model(upstream):
    upstream.set_behaviour(ROUTER, answer="As an AI language model I cannot choose.")
    decision = route(CausalLMStrategy.load(None, settings(default_model=SMALL)), upstream, "q")
    assert decision.model == SMALL
    assert decision.detail["fallback_reason"] == "router answer names no available candidate"
    assert decision.detail["router_output"].startswith("As an AI")


def test_causallm_router_names_an_unavailable_model_falls_back(upstream):
    upstream.set_behaviour(ROUTER, answer=CODER)
    decision = route(
        CausalLMStrategy.load(None, settings(default_model=LARGE)), upstream, "q", available=[SMALL, LARGE]
    )
    assert decision.model == LARGE and "fallback_reason" in decision.detail


def test_causallm_timeout_falls_back_quickly(upstream):
    upstream.set_behaviour(ROUTER, fail="timeout", hang_s=10)
    strategy = CausalLMStrategy.load(None, settings(default_model=LARGE, router_timeout=0.3))
    started = time.monotonic()
    decision = route(strategy, upstream, "q")
    assert time.monotonic() - started < 8  # not the 10 s hang; generous: CI machines are busy
    assert decision.model == LARGE and "timed out after 0.3s" in decision.detail["fallback_reason"]


def test_causallm_http_error_falls_back_and_default_unavailable_uses_first_available(upstream):
    upstream.set_behaviour(ROUTER, fail="rate_limit")
    decision = route(
        CausalLMStrategy.load(None, settings(default_model=CODER)), upstream, "q", available=[LARGE, SMALL]
    )
    assert decision.model == SMALL  # first available in candidate order
    assert decision.detail["fallback_from"] == CODER and "429" in decision.detail["fallback_reason"]


def test_detail_chars_zero_keeps_router_output_out_of_the_decision(upstream):
    upstream.set_behaviour(ROUTER, answer=LARGE)
    decision = route(CausalLMStrategy.load(None, settings(detail_chars=0)), upstream, "q")
    assert decision.model == LARGE and "router_output" not in decision.detail


def test_causallm_through_litellm_openai_provider(upstream):
    import litellm

    upstream.set_behaviour(ROUTER, answer=SMALL)

    async def litellm_call(model_group: str, messages: list[dict[str, Any]]) -> str:
        response = await litellm.acompletion(
            model=f"openai/{model_group}",
            api_base=upstream.base_url,
            api_key="x",
            messages=messages,
            num_retries=0,
        )
        return response.choices[0].message.content

    strategy = CausalLMStrategy.load(None, settings())
    decision = asyncio.run(strategy.select(RoutingRequest(query="hi", llm_call=litellm_call), CANDIDATES))
    assert decision.model == SMALL


# -- automix ------------------------------------------------------------------------------------
VERIFIED = (
    "The capital of France is Paris.\n\nVerification Decision: The AI generated answer is Correct.\n\n"
    "---\n\nQuestion: made up\n\nVerification Decision: The AI generated answer is Incorrect."
)
REJECTED = "Paris is not right.\n\nVerification Decision: The AI generated answer is Incorrect."


def automix(**args: Any) -> AutomixStrategy:
    return AutomixStrategy.load(None, settings(candidates=[SMALL, LARGE], **args))


def test_automix_keeps_the_small_model_when_it_verifies_its_draft(upstream):
    upstream.set_behaviour(
        ROUTER,
        rules=[
            {"contains": "AI Generated Answer: Paris", "answer": VERIFIED},
            {"contains": "Answer: The answer is'", "answer": "Paris'\nmore text"},
        ],
    )
    decision = route(automix(), upstream, "What is the capital of France?")
    assert decision.model == SMALL
    assert decision.detail["rule"] == "verified" and decision.detail["verification_score"] == 1.0
    prompts = router_prompts(upstream)
    assert len(prompts) == 3  # one draft, two verification samples (library: n=2)
    assert prompts[0].rstrip().endswith("Question: What is the capital of France?\n\nAnswer: The answer is'")
    assert "Incorrect" not in decision.detail["router_output"]  # cut at the library's stop `---`


def test_automix_escalates_to_the_large_model_when_verification_fails(upstream):
    upstream.set_behaviour(ROUTER, rules=[{"contains": "AI Generated Answer:", "answer": REJECTED}])
    decision = route(automix(), upstream, "What is the capital of France?")
    assert decision.model == LARGE and decision.detail["rule"] == "escalate"
    assert decision.detail["verification_score"] == 0.0


def test_automix_drafts_with_draft_model_and_verifies_with_router_model(upstream):
    upstream.set_behaviour(SMALL, answer="Lyon")
    upstream.set_behaviour(ROUTER, answer=VERIFIED)
    decision = route(automix(draft_model=SMALL, verify_samples=3), upstream, "capital of France?")
    assert decision.model == SMALL
    assert [r["model"] for r in upstream.requests()] == [SMALL, ROUTER, ROUTER, ROUTER]
    assert "AI Generated Answer: Lyon\n" in router_prompts(upstream)[0]


def test_automix_scores_the_samples_that_answered(upstream):
    upstream.set_behaviour(SMALL, answer="Paris")
    upstream.set_behaviour(ROUTER, answer=VERIFIED, fail="server_error", fail_next=1)
    decision = route(automix(draft_model=SMALL), upstream, "capital of France?")
    assert decision.model == SMALL and decision.detail["failed_samples"] == 1
    assert decision.detail["verification_score"] == 1.0


def test_automix_threshold_is_inclusive_like_the_library(upstream):
    upstream.set_behaviour(ROUTER, answer=VERIFIED)
    assert route(automix(threshold=1.0), upstream, "q").model == LARGE


def test_automix_unparseable_verification_escalates(upstream):
    upstream.set_behaviour(ROUTER, answer="no idea")
    decision = route(automix(), upstream, "q")
    assert decision.model == LARGE and "no sample stated a verdict" in decision.detail["note"]


def test_automix_router_error_falls_back_to_large_by_default(upstream):
    upstream.set_behaviour(ROUTER, fail="server_error")
    decision = route(automix(), upstream, "q")
    assert decision.model == LARGE and "500" in decision.detail["fallback_reason"]


def test_automix_timeout_falls_back_to_configured_default(upstream):
    upstream.set_behaviour(ROUTER, fail="timeout", hang_s=10)
    decision = route(automix(default_model=SMALL, router_timeout=0.3), upstream, "q")
    assert decision.model == SMALL and "timed out" in decision.detail["fallback_reason"]


def test_automix_spends_no_router_call_when_only_one_model_is_available(upstream):
    decision = route(automix(), upstream, "q", available=[LARGE])
    assert decision.model == LARGE and upstream.requests() == []


def test_automix_small_and_large_come_from_sizes_or_args():
    strategy = AutomixStrategy.load(None, settings())
    assert (strategy.small, strategy.large) == (SMALL, LARGE)
    with pytest.raises(ConfigError, match="small_model"):
        AutomixStrategy.load(
            None, StrategySettings(args={"router_model": ROUTER, "candidates": [SMALL, LARGE]})
        )
    explicit = AutomixStrategy.load(
        None,
        StrategySettings(
            args={
                "router_model": ROUTER,
                "candidates": [SMALL, LARGE],
                "small_model": LARGE,
                "large_model": SMALL,
            }
        ),
    )
    assert (explicit.small, explicit.large) == (LARGE, SMALL)


def test_verification_score_is_the_library_fraction():
    correct = "Verification Decision: The AI generated answer is Correct."
    wrong = "Verification Decision: The AI generated answer is Incorrect."
    assert verification_score([correct, wrong]) == (0.5, 2)
    assert verification_score([correct, "garbage"]) == (1.0, 1)
    assert verification_score(["garbage"]) == (0.0, 0)


# -- knn-multiround -----------------------------------------------------------------------------
def embed(text: str) -> np.ndarray:
    """A toy embedder: one axis for maths, one for poetry."""
    vector = np.array([1.0 if "math" in text else 0.0, 1.0 if "poem" in text else 0.0, 0.1, 0.0], np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture(scope="module")
def knn_artifact(tmp_path_factory):
    """Two 4-d training rows; the artifact carries a 4-d static encoder, so the runtime can serve it
    (the tests route with the fake `embed` above)."""
    path = tmp_path_factory.mktemp("knn") / "artifact"
    tokenizer = MiniLMEmbedder().load().tokenizer
    table = np.random.default_rng(0).normal(size=(tokenizer.get_vocab_size(), 4))
    encoder = StaticEmbedder(table, tokenizer.to_str())
    files = build_files(
        strategy="llmrouter-knn-multiround",
        version="t1",
        candidates=[SMALL, LARGE],
        arrays={
            "embeddings": np.stack([embed("math"), embed("poem")]).astype(np.float32),
            "labels": np.array([0, 1], np.int64),
            **encoder.artifact_arrays(),
        },
        params={"n_neighbors": 1, "metric": "cosine"},
        embedding=EmbeddingSpec(model=STATIC_MODEL_NAME, dim=4),
    )
    return load_artifact(write_dir(files, path))


def knn_multiround(artifact, **args: Any) -> KNNMultiRoundStrategy:
    return KNNMultiRoundStrategy.load(artifact, StrategySettings(args={"router_model": ROUTER, **args}))


def test_knn_multiround_picks_the_model_most_sub_queries_route_to(upstream, knn_artifact):
    upstream.set_behaviour(
        ROUTER, answer="1. Solve the math part\n2. Write the poem part\n3. Check the math result"
    )
    decision = route(knn_multiround(knn_artifact), upstream, "a poem about a math proof", embed=embed)
    assert decision.model == SMALL
    assert decision.detail["routes"] == [SMALL, LARGE, SMALL] and decision.detail["sub_queries"] == 3
    assert decision.scores == {SMALL: 2.0, LARGE: 1.0}
    assert "Question: a poem about a math proof" in router_prompts(upstream)[0]


def test_knn_multiround_router_failure_routes_the_whole_query_with_knn(upstream, knn_artifact):
    upstream.set_behaviour(ROUTER, fail="timeout", hang_s=10)
    decision = route(knn_multiround(knn_artifact, router_timeout=0.3), upstream, "write a poem", embed=embed)
    assert decision.model == LARGE and decision.detail["routes"] == [LARGE]
    assert "routed the whole query with KNN" in decision.detail["fallback_reason"]


def test_knn_multiround_caps_sub_queries_and_respects_availability(upstream, knn_artifact):
    upstream.set_behaviour(ROUTER, answer="\n".join(["a poem line"] * 9))
    decision = route(
        knn_multiround(knn_artifact, max_subqueries=2), upstream, "poems", embed=embed, available=[SMALL]
    )
    assert decision.model == SMALL and decision.detail["sub_queries"] == 2


def test_knn_multiround_needs_a_knn_artifact(knn_artifact):
    import dataclasses

    with pytest.raises(ArtifactError, match="needs an llmrouter-knn"):
        knn_multiround(None)
    with pytest.raises(ArtifactError, match="llmrouter-svm"):
        knn_multiround(dataclasses.replace(knn_artifact, strategy="llmrouter-svm"))
    with pytest.raises(ConfigError, match="candidates"):
        knn_multiround(knn_artifact, candidates=[SMALL, CODER])
    assert KNNMultiRoundStrategy.needs_artifact and KNNMultiRoundStrategy.needs_embedding


def test_vote_ties_go_to_the_higher_knn_share_then_candidate_order():
    assert _vote([SMALL, LARGE], [SMALL, LARGE], {SMALL: 0.5, LARGE: 0.9}) == LARGE
    assert _vote([LARGE, SMALL], [SMALL, LARGE]) == SMALL
    assert sub_queries("Sub-question 1: what?\n- b\n\n3) the rest\nok", 5) == ["what?", "the rest"]


# -- llm-multiround -----------------------------------------------------------------------------
def test_llm_multiround_majority_of_the_models_the_router_names(upstream):
    upstream.set_behaviour(
        ROUTER,
        answer=(
            f"Sub-questions:\nWhat is the integral of x^2: {SMALL}\n"
            f"Prove it step by step: {LARGE}\nExplain why, in detail: {LARGE}"
        ),
    )
    decision = route(LLMMultiRoundStrategy.load(None, settings()), upstream, "integral of x^2, proved")
    assert decision.model == LARGE
    assert decision.detail["routes"] == [SMALL, LARGE, LARGE]
    prompt = router_prompts(upstream)[0]
    assert f"Available models: {SMALL}, {LARGE}, {CODER}" in prompt
    assert f"{LARGE}: large reasoning model" in prompt and "<sub-question>: <model name>" in prompt


def test_llm_multiround_tie_goes_to_the_first_named(upstream):
    upstream.set_behaviour(ROUTER, answer=f"write the code: {CODER}\nreview it: {SMALL}")
    assert route(LLMMultiRoundStrategy.load(None, settings()), upstream, "q").model == CODER


def test_llm_multiround_garbage_and_errors_fall_back(upstream):
    strategy = LLMMultiRoundStrategy.load(None, settings(default_model=CODER))
    upstream.set_behaviour(ROUTER, answer="I would split this into two parts.")
    decision = route(strategy, upstream, "q")
    assert decision.model == CODER and decision.detail["fallback_reason"].startswith("router answer names no")
    upstream.set_behaviour(ROUTER, fail="server_error")
    assert route(strategy, upstream, "q").detail["fallback_reason"].startswith("router model 'router' failed")


# -- router-r1 ----------------------------------------------------------------------------------
def test_router_r1_chooses_the_first_model_searched(upstream):
    upstream.set_behaviour(
        ROUTER,
        answer=(
            f"<think>This needs careful reasoning.</think>\n<search> {LARGE}: what is the proof? </search>\n"
            f"<search> {SMALL}: anything </search>"
        ),
    )
    decision = route(RouterR1Strategy.load(None, settings()), upstream, "prove the theorem")
    assert decision.model == LARGE and decision.detail["rule"] == "first-search"
    prompt = router_prompts(upstream)[0]
    assert (
        f"selected from [{SMALL}, {LARGE}, {CODER}]" in prompt and "Question: prove the theorem?\n" in prompt
    )


def test_router_r1_search_cut_by_a_stop_sequence_still_counts(upstream):
    upstream.set_behaviour(ROUTER, answer=f"<think>code</think><search>{CODER}:how to sort")
    assert route(RouterR1Strategy.load(None, settings()), upstream, "q").model == CODER


def test_router_r1_direct_answer_or_garbage_falls_back(upstream):
    strategy = RouterR1Strategy.load(None, settings(default_model=SMALL))
    upstream.set_behaviour(
        ROUTER, answer=f"<think>easy</think><answer> 4 </answer><search>{LARGE}:x</search>"
    )
    decision = route(strategy, upstream, "2+2")
    assert decision.model == SMALL and "answered directly" in decision.detail["fallback_reason"]
    upstream.set_behaviour(ROUTER, answer="<search>gpt-9: who knows</search>")
    assert route(strategy, upstream, "q").detail["fallback_reason"] == "<search> names no available candidate"


def test_router_r1_timeout_falls_back(upstream):
    upstream.set_behaviour(ROUTER, fail="timeout", hang_s=10)
    decision = route(RouterR1Strategy.load(None, settings(router_timeout=0.3)), upstream, "q")
    assert decision.model == SMALL and "timed out" in decision.detail["fallback_reason"]


def test_first_search_parsing():
    assert first_search("<think>x</think><search> a: b </search>") == "a: b"
    assert first_search("<answer>x</answer>") is None
    assert first_search("nothing") is None


# -- the runtime builds them from config args ---------------------------------------------------
@pytest.mark.parametrize(
    "name", ["llmrouter-automix", "llmrouter-causallm", "llmrouter-llm-multiround", "llmrouter-router-r1"]
)
def test_runtime_builds_llm_assisted_strategies_without_an_artifact(name):
    from gateway.config.models import RoutingStrategyArgs
    from gateway.routing.runtime import build_strategy

    extra = {"small_model": SMALL, "large_model": LARGE} if name == "llmrouter-automix" else {}
    args = RoutingStrategyArgs(router_model=ROUTER, candidates=[SMALL, LARGE], **extra)
    active = build_strategy(name, args, "cfg.yaml")
    assert active.artifact is None and list(active.strategy.candidates) == [SMALL, LARGE]


def test_runtime_builds_knn_multiround_from_its_artifact(knn_artifact):
    from gateway.config.models import RoutingStrategyArgs
    from gateway.routing.runtime import build_strategy

    args = RoutingStrategyArgs(router_model=ROUTER, model_path=knn_artifact.source, max_subqueries=3)
    active = build_strategy("llmrouter-knn-multiround", args, "cfg.yaml")
    assert active.strategy.max_parts == 3 and list(active.strategy.candidates) == [SMALL, LARGE]
