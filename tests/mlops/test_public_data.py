"""The loaders reproduce the figures the data READMEs publish (../shared/data/*/README.md), so a
benchmark built on them measures the same thing. Skipped only where ../shared/data is absent."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.mlops.public_data import SHARED, STRONG, WEAK, llmrouter_split, mt_bench, routellm_benchmark

pytestmark = pytest.mark.skipif(not (SHARED / "routellm").is_dir() or not (SHARED / "llmrouter").is_dir(),
                                reason=f"public data not present under {SHARED}")


def test_mt_bench_all_turns_reproduce_the_readme_means():
    data = mt_bench(decontaminate=False)
    judge = data.quality * 10
    assert len(data) == 80 and data.models == [WEAK, STRONG]
    # README: GPT-4 9.228, Mixtral 8.341 (mean judge score, all 160 turns)
    assert judge[:, 1].mean() == pytest.approx(9.228125, abs=1e-12)
    assert judge[:, 0].mean() == pytest.approx(8.340625, abs=1e-12)
    assert (round(judge[:, 1].mean(), 3), round(judge[:, 0].mean(), 3)) == (9.228, 8.341)


def test_mt_bench_is_decontaminated_and_routed_on_the_first_turn_as_routellm_does():
    full, data = mt_bench(decontaminate=False), mt_bench()
    assert len(data) == 72  # 8 questions have a turn in contaminated_prompts.jsonl
    assert "Compose an engaging travel blog post about a recent trip to Hawaii" not in " ".join(data.queries)
    assert set(data.queries) < set(full.queries)
    judge = data.quality * 10
    assert judge[:, 1].mean() == pytest.approx(9.2118, abs=1e-4)
    assert judge[:, 0].mean() == pytest.approx(8.28125, abs=1e-12)
    assert np.all((judge >= 1) & (judge <= 10))
    assert routellm_benchmark("mt_bench").queries == data.queries
    assert data.cost.tolist() == [[0.0, 1.0]] * 72


def test_gsm8k_and_mmlu_reproduce_the_readme_after_decontamination():
    for name, n, mixtral, gpt4, oracle in (("gsm8k", 1307, 0.6373, 0.8577, 0.9296),
                                           ("mmlu", 14037, 0.6809, 0.8059, 0.8587)):
        data = routellm_benchmark(name)
        assert len(data) == n
        assert data.quality.mean(axis=0).round(4).tolist() == [mixtral, gpt4]
        assert round(float(data.quality.max(axis=1).mean()), 4) == oracle


def test_llmrouter_test_split_reproduces_the_readme():
    test, _ = llmrouter_split("test")
    train, _ = llmrouter_split("train")
    means = dict(zip(test.models, test.quality.mean(axis=0), strict=True))
    assert round(means["llama-3.1-nemotron-51b-instruct"], 4) == 0.5626 == round(max(means.values()), 4)
    assert round(float(test.quality.max(axis=1).mean()), 4) == 0.7434
    assert sum(q in set(train.queries) for q in test.queries) == 119
