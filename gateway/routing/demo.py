"""Build the demo KNN artifact from `examples/demo/queries.jsonl` with the real encoder.

The encoder is the static table distilled from all-MiniLM-L6-v2 (static_embedding.py; ~40-60 s
the first time on a machine, then cached), carried inside the artifact; pass a MiniLMEmbedder
to build on the transformer instead.

Each row of queries.jsonl is `{"query", "category", "performance": {model: score}}`; the label
is the best-scoring model, as LLMRouter's KNNRouter does (`groupby(query).idxmax(performance)`).
The three demo models (also in examples/demo/llm_data.json):

    demo-small   1B,  cheap: greetings, short facts, translations   (category "general")
    demo-coder   7B:  programming, shell, SQL, configs                (category "code")
    demo-large   70B: multi-step reasoning, math, analysis           (category "reasoning")

Usage: python -m gateway.routing.demo OUT.tar [QUERIES.jsonl]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing import artifact as fmt
from gateway.routing.embedding import MiniLMEmbedder
from gateway.routing.static_embedding import StaticEmbedder, distilled_encoder

DEMO_DIR = Path(__file__).resolve().parents[2] / "examples" / "demo"
QUERIES = DEMO_DIR / "queries.jsonl"
CANDIDATES = ["demo-small", "demo-coder", "demo-large"]
N_NEIGHBORS = 5


def read_queries(path: Path = QUERIES) -> list[dict]:
    """Rows of queries.jsonl, each with a `performance` score for every demo model."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [m for m in CANDIDATES if m not in row.get("performance", {})]
        if not row.get("query") or missing:
            raise ArtifactError(f"{path}:{number}: needs 'query' and performance for {', '.join(CANDIDATES)}")
        rows.append(row)
    return rows


def build_demo_files(
    queries_path: Path = QUERIES, embedder: MiniLMEmbedder | StaticEmbedder | None = None
) -> dict[str, bytes]:
    """The demo artifact's files (manifest + arrays) as bytes."""
    rows = read_queries(queries_path)
    embedder = embedder or distilled_encoder()
    embeddings = embedder.embed_batch([row["query"] for row in rows])
    encoder_arrays = embedder.artifact_arrays() if isinstance(embedder, StaticEmbedder) else {}
    performance = np.array([[row["performance"][m] for m in CANDIDATES] for row in rows], dtype=np.float64)
    # np.argmax takes the first maximum, like pandas' idxmax over rows in model order.
    labels = np.argmax(performance, axis=1).astype(np.int64)
    source_digest = hashlib.sha256(Path(queries_path).read_bytes()).hexdigest()
    return fmt.build_files(
        strategy="llmrouter-knn",
        version=f"demo-{source_digest[:12]}",
        candidates=CANDIDATES,
        arrays={"embeddings": embeddings, "labels": labels, "performance": performance, **encoder_arrays},
        params={"n_neighbors": N_NEIGHBORS, "weights": "uniform", "metric": "cosine"},
        metrics={
            "train_rows": len(rows),
            "label_counts": np.bincount(labels, minlength=3).tolist(),
            "source": "examples/demo/queries.jsonl",
            "source_sha256": source_digest,
        },
        embedding=fmt.EmbeddingSpec(
            model=embedder.model_name, dim=int(embeddings.shape[1]), max_tokens=embedder.max_tokens, normalize=True
        ),
    )


def build_demo_artifact(out_path: str | Path, queries_path: str | Path = QUERIES) -> Path:
    """Write the packed demo KNN artifact to `out_path` (atomically) and return the path."""
    return fmt.write_tar(build_demo_files(Path(queries_path)), Path(out_path))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[-1])
        return 0 if argv else 2
    path = build_demo_artifact(argv[0], *argv[1:2])
    print(f"wrote {path} (sha256 {fmt.digest_of(path)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
