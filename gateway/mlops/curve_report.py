"""A quality router's cost-quality curve on held-out data, beside the curve training calibrated.

For every lambda the artifact's curve holds, route the held-out queries through the strategy's own
prediction and selection, and report the quality (task-averaged when the split names tasks) and
cost as ratios of the best single model's, the paired quality difference to that model ± its
standard error, and which point the operator's dial chose. The best single model is the one the
artifact names (`params.best_single`, chosen on the training data), never one chosen on the split.
Written as a Markdown table and an SVG plot (no plotting library needed on the far side).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.mlops.dataset import RoutingDataset
from gateway.mlops.evaluate import task_mean
from gateway.mlops.quality_router import route
from gateway.routing.strategies.quality_dial import QualityDialStrategy


@dataclass(frozen=True)
class CurvePoint:
    cost_weight: float
    cv_quality_ratio: float  # from the artifact: cross-validated on the training data
    cv_cost_ratio: float
    quality: float  # held-out mean (task-averaged when the split has tasks)
    quality_ratio: float
    diff: float  # paired quality difference to the best single model
    diff_stderr: float
    cost_ratio: float


def heldout_curve(strategy: QualityDialStrategy, dataset: RoutingDataset, vectors: np.ndarray,
                  best_single: str) -> list[CurvePoint]:
    """The strategy's curve on `dataset` (columns in any order; matched by model name)."""
    columns = [dataset.models.index(m) for m in strategy.candidates]
    quality = np.nan_to_num(dataset.quality, nan=0.0)[:, columns]
    cost = np.nan_to_num(dataset.cost, nan=0.0)[:, columns]
    best = list(strategy.candidates).index(best_single)
    predicted = strategy.predicted_for(dataset.queries, vectors)  # training queries: recalled
    rows = np.arange(len(dataset))
    base_quality = task_mean(quality[:, best], dataset.tasks)[0]
    base_cost = task_mean(cost[:, best], dataset.tasks)[0]
    points = []
    for lam, cv_q, cv_c in zip(*strategy.curve, strict=True):
        chosen = route(predicted, strategy.model_cost, float(lam))
        got, spent = quality[rows, chosen], cost[rows, chosen]
        mean = task_mean(got, dataset.tasks)[0]
        diff, stderr = task_mean(got - quality[:, best], dataset.tasks)
        points.append(CurvePoint(float(lam), float(cv_q), float(cv_c), mean, mean / max(base_quality, 1e-12), diff,
                                 stderr, task_mean(spent, dataset.tasks)[0] / max(base_cost, 1e-12)))
    return points


def chosen_index(strategy: QualityDialStrategy, points: list[CurvePoint]) -> int:
    """The curve point the strategy's dial chose (its lambda)."""
    return int(np.argmin([abs(p.cost_weight - strategy.cost_weight) for p in points]))


def to_markdown(points: list[CurvePoint], chosen: int, title: str, every: int = 4) -> str:
    """Every `every`-th point and the chosen one (marked)."""
    lines = [f"### {title}", "", "| lambda | CV quality / cost ratio (train) | held-out quality | quality ratio "
             "| Δ vs best single (± s.e.) | cost ratio |", "|---|---|---|---|---|---|"]
    for i, p in enumerate(points):
        if i % every and i != chosen and i != len(points) - 1:
            continue
        mark = " **(dial)**" if i == chosen else ""
        lines.append(f"| {p.cost_weight:.4f}{mark} | {p.cv_quality_ratio:.3f} / {p.cv_cost_ratio:.2f} "
                     f"| {p.quality:.4f} | {p.quality_ratio:.3f} | {p.diff:+.4f} ± {p.diff_stderr:.4f} "
                     f"| {p.cost_ratio:.2f} |")
    return "\n".join(lines) + "\n"


def to_svg(points: list[CurvePoint], chosen: int, title: str, width: int = 560, height: int = 380) -> str:
    """Quality ratio against cost ratio: the training CV curve, the held-out curve, the dial's point,
    and the best single model at (1, 1)."""
    left, bottom, top, right = 60, height - 50, 40, width - 20
    xs = [p.cv_cost_ratio for p in points] + [p.cost_ratio for p in points] + [1.0]
    ys = [p.cv_quality_ratio for p in points] + [p.quality_ratio for p in points] + [1.0]
    x0, x1 = 0.0, max(xs) * 1.05
    y0, y1 = min(ys) - 0.02, max(ys) + 0.02

    def at(x: float, y: float) -> str:
        return (f"{left + (x - x0) / (x1 - x0) * (right - left):.1f},"
                f"{bottom - (y - y0) / (y1 - y0) * (bottom - top):.1f}")

    def line(pairs: list[tuple[float, float]], colour: str) -> str:
        return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(at(*p) for p in pairs)}"/>'

    best, dial = at(1.0, 1.0).split(","), at(points[chosen].cost_ratio, points[chosen].quality_ratio).split(",")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             'font-size="12">', f'<text x="{left}" y="20">{title}</text>',
             f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="{top}" stroke="black"/>',
             f'<text x="{(left + right) / 2 - 90}" y="{height - 15}">cost / best single model\'s</text>',
             f'<text x="12" y="{top - 8}">quality / best single\'s ({y0:.2f}..{y1:.2f}; cost 0..{x1:.2f})</text>',
             line([(p.cv_cost_ratio, p.cv_quality_ratio) for p in points], "#999999"),
             line([(p.cost_ratio, p.quality_ratio) for p in points], "#1f77b4"),
             f'<rect x="{float(best[0]) - 5}" y="{float(best[1]) - 5}" width="10" height="10" fill="black"/>',
             f'<circle cx="{dial[0]}" cy="{dial[1]}" r="6" fill="#d62728"/>',
             f'<text x="{right - 200}" y="{top + 10}" fill="#999999">cross-validated on train</text>',
             f'<text x="{right - 200}" y="{top + 26}" fill="#1f77b4">held out</text>',
             f'<text x="{right - 200}" y="{top + 42}" fill="#d62728">the dial\'s point</text>',
             f'<text x="{right - 200}" y="{top + 58}">best single model (1, 1)</text>', "</svg>"]
    return "\n".join(parts) + "\n"


def write_curve_report(points: list[CurvePoint], chosen: int, out: Path, name: str, title: str) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {"markdown": out / f"{name}-curve.md", "svg": out / f"{name}-curve.svg"}
    files["markdown"].write_text(to_markdown(points, chosen, title))
    files["svg"].write_text(to_svg(points, chosen, title))
    return files
