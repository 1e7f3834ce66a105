"""Evaluation on a held-out split: routers against the baselines (random, smallest, largest, best
single model, oracle). Per policy: accuracy against the oracle (the chosen model is one of the
best for that query), mean quality, total and mean cost, mean latency; paired standard errors of
the quality difference to the best single model. Writes JSON, Markdown and a cost-quality PNG.

The best single model is a fixed policy chosen **before** the split is read: pass
`reference=train.best_single()` (the model best on the training data's task average). Without it
the model best on the evaluated split itself is used and the report says "chosen on this split":
that reference has seen the answers, so a router compared with it is judged against an oracle of sorts.
When the split names tasks, the task-averaged (macro) quality and its paired difference are
reported too (each task counts the same; the standard error combines the per-task ones).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gateway.mlops.dataset import RoutingDataset


@dataclass(frozen=True)
class PolicyResult:
    name: str
    accuracy: float  # chosen model is among the per-query best (oracle) models
    mean_quality: float
    total_cost: float
    mean_cost: float
    mean_latency_ms: float | None
    quality_diff_vs_best_single: float
    diff_stderr: float
    share: dict[str, float]
    macro_quality: float | None = None  # task average, when the split names tasks
    macro_diff_vs_best_single: float | None = None
    macro_diff_stderr: float | None = None


def task_mean(values: np.ndarray, tasks: Sequence[str] | None) -> tuple[float, float]:
    """Mean of per-row `values` and its standard error: task-averaged (each task counts the same,
    tasks independent) when `tasks` names one per row, else over rows."""
    if tasks is None:
        return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    names = np.array(tasks, dtype=object)
    means, variances = [], []
    for task in np.unique(names):
        part = values[names == task]
        means.append(part.mean())
        variances.append(part.var(ddof=1) / len(part) if len(part) > 1 else 0.0)
    return float(np.mean(means)), float(np.sqrt(np.sum(variances)) / len(means))


def _quality_of(dataset: RoutingDataset, choices: np.ndarray) -> np.ndarray:
    return dataset.quality[np.arange(len(dataset)), choices]


def evaluate(dataset: RoutingDataset, policies: Mapping[str, Sequence[str]], sizes: Mapping[str, float] | None = None,
             seed: int = 0, reference: str | None = None) -> list[PolicyResult]:
    """`policies`: name -> chosen model per held-out query. Baselines are added here. `reference`:
    the best single model chosen on the training data (see the module docstring)."""
    n, models = len(dataset), dataset.models
    q = np.nan_to_num(dataset.quality, nan=0.0)
    if reference is not None:
        if reference not in models:
            from gateway.mlops.errors import DatasetError

            raise DatasetError(f"reference model '{reference}' is not in the evaluated split ({', '.join(models)})")
        best_single, label = models.index(reference), f"best single on train ({reference})"
    else:
        best_single = models.index(dataset.best_single())
        label = f"best single ({models[best_single]}, chosen on this split)"
    all_choices: dict[str, np.ndarray] = {
        "oracle": np.argmax(q - 1e-9 * np.nan_to_num(dataset.cost, nan=0.0), axis=1),  # best, cheapest on ties
        label: np.full(n, best_single),
        "random": np.random.default_rng(seed).integers(0, len(models), size=n),
    }
    if sizes:
        known = [m for m in models if m in sizes]
        all_choices[f"smallest ({min(known, key=sizes.get)})"] = np.full(n, models.index(min(known, key=sizes.get)))
        all_choices[f"largest ({max(known, key=sizes.get)})"] = np.full(n, models.index(max(known, key=sizes.get)))
    for name, chosen in policies.items():
        all_choices[name] = np.array([models.index(c) for c in chosen])
    best_q = q.max(axis=1)
    base_quality = q[:, best_single]
    results = []
    for name, choices in all_choices.items():
        quality = q[np.arange(n), choices]
        cost = np.nan_to_num(dataset.cost[np.arange(n), choices], nan=0.0)
        latency = dataset.latency_ms[np.arange(n), choices]
        diff = quality - base_quality
        counts = np.bincount(choices, minlength=len(models)) / n
        macro = {}
        if dataset.tasks is not None:
            macro["macro_quality"] = task_mean(quality, dataset.tasks)[0]
            macro["macro_diff_vs_best_single"], macro["macro_diff_stderr"] = task_mean(diff, dataset.tasks)
        results.append(PolicyResult(
            name=name, accuracy=float(np.mean(quality >= best_q)), mean_quality=float(quality.mean()),
            total_cost=float(cost.sum()), mean_cost=float(cost.mean()),
            mean_latency_ms=None if np.all(np.isnan(latency)) else float(np.nanmean(latency)),
            quality_diff_vs_best_single=float(diff.mean()), diff_stderr=float(diff.std(ddof=1) / np.sqrt(n)),
            share={models[i]: round(float(c), 4) for i, c in enumerate(counts) if c > 0}, **macro,
        ))
    return results


def to_markdown(results: Sequence[PolicyResult], title: str, cost_unit: str = "USD") -> str:
    macro = bool(results) and results[0].macro_quality is not None
    extra_head = " task-averaged quality | Δ task-averaged (± s.e.) |" if macro else ""
    lines = [f"### {title}", "",
             "| policy | accuracy vs oracle | mean quality | Δ vs best single (± s.e.) |" + extra_head
             + f" total cost ({cost_unit}) | mean latency ms |",
             "|---|---|---|---|" + ("---|---|" if macro else "") + "---|---|"]
    for r in results:
        latency = "-" if r.mean_latency_ms is None else f"{r.mean_latency_ms:.1f}"
        extra = (f" {r.macro_quality:.4f} | {r.macro_diff_vs_best_single:+.4f} ± {r.macro_diff_stderr:.4f} |"
                 if macro else "")
        lines.append(f"| {r.name} | {r.accuracy:.3f} | {r.mean_quality:.4f} | "
                     f"{r.quality_diff_vs_best_single:+.4f} ± {r.diff_stderr:.4f} |{extra} "
                     f"{r.total_cost:.4g} | {latency} |")
    return "\n".join(lines) + "\n"


def plot(results: Sequence[PolicyResult], path: Path, title: str, cost_unit: str = "USD") -> Path | None:
    """Cost-quality scatter (needs matplotlib: the training environment has it); None without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r in results:
        router = not (r.name.startswith(("oracle", "best single", "random", "smallest", "largest")))
        ax.scatter(r.total_cost, r.mean_quality, marker="o" if router else "s", s=50,
                   color="tab:blue" if router else "tab:gray")
        ax.annotate(r.name.split(" (")[0], (r.total_cost, r.mean_quality), fontsize=8, xytext=(4, 3),
                    textcoords="offset points")
    ax.set_xlabel(f"total cost on the held-out split ({cost_unit})")
    ax.set_ylabel("mean quality")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(results: Sequence[PolicyResult], out: Path, title: str, extra: dict | None = None,
                 cost_unit: str = "USD") -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps({"title": title, **(extra or {}),
                                                     "results": [asdict(r) for r in results]}, indent=1))
    (out / "evaluation.md").write_text(to_markdown(results, title, cost_unit))
    files = {"json": out / "evaluation.json", "markdown": out / "evaluation.md"}
    png = plot(results, out / "cost_quality.png", title, cost_unit)
    if png:
        files["png"] = png
    return files


def gate(results: Sequence[PolicyResult], policy: str, min_quality: float) -> None:
    """Raise GateError unless `policy` reached `min_quality` (mean quality on the held-out split)."""
    from gateway.mlops.errors import GateError

    found = {r.name: r for r in results}.get(policy)
    if found is None:
        raise GateError(f"evaluation gate: no result for '{policy}'")
    if found.mean_quality < min_quality:
        raise GateError(f"evaluation gate: {policy} mean quality {found.mean_quality:.4f} is below the minimum "
                        f"{min_quality:.4f}; the published artifact is left as it is")
