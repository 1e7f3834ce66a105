"""Training driver: llmrouter-lib's own routers and trainers, in the training environment.

    python -m gateway.mlops.train --data DIR --out DIR [--strategies knn,svm,...] [--hparams FILE]

DIR (written by `gateway.mlops.dataset.write_training_dir`): `routing_train.jsonl`,
`queries_train.json`, `llm_data.json`, `heldout.jsonl`. The query vectors of both are computed here
with `--encoder` (static: the table distilled from MiniLM, carried in every artifact, the default;
minilm: the transformer itself) and saved next to the artifacts (`embeddings_{train,heldout}.npy`).
For every strategy this writes LLMRouter's YAML (absolute paths), builds the library's router and
trainer, trains, exports `<strategy>.tar`, and records the library's own `route_single` choice for
each held-out query (the parity reference). The library's Longformer embedding is replaced by the
precomputed vectors (`get_longformer_embedding` is patched in each router module): the files are
local, and the router trains on exactly the vectors the gateway computes at serving time. A strategy
whose spec says `standardize` (mlp) trains on them standardised by the training mean and std, and its
export folds that map into the first layer (`export.fold_standardization`): Adam on the static
encoder's vectors, which share one large mean direction, otherwise fits slowly (docs/mlops-training.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from gateway.mlops.embed import DEFAULT_ENCODER, ENCODERS
from gateway.routing.registry import native_trainable, trainable

# Each strategy declares how it is trained next to its reader: by llmrouter-lib (`training` on the
# strategy class) or by the gateway itself in numpy (`native_training`: the quality routers).
SPECS = {short: cls.training for short, cls in trainable().items()}
NATIVE = {short: cls.native_training for short, cls in native_trainable().items()}
TRAINABLE = tuple(SPECS) + tuple(NATIVE)


def standardization(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) per input over the training vectors; a constant input keeps scale 1."""
    mean, scale = vectors.mean(axis=0, dtype=np.float64), vectors.std(axis=0, dtype=np.float64)
    return mean, np.where(scale > 1e-12, scale, 1.0)


def _patch_embedding(lookup: dict[str, np.ndarray], encoder: str,
                     scaling: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Route the library's embedding calls to the precomputed vectors (computed on demand, from
    local files, for a text not seen before), standardised by `scaling` when the strategy trains so."""
    import torch

    from gateway.mlops.embed import embed_texts

    def embedding(texts):
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        vectors = np.stack([lookup[t] if t in lookup else embed_texts([t], progress=False, encoder=encoder)[0]
                            for t in items])
        if scaling is not None:
            vectors = (vectors - scaling[0]) / scaling[1]
        tensor = torch.tensor(vectors, dtype=torch.float32)
        return tensor[0] if single else tensor

    import llmrouter.utils as utils

    utils.get_longformer_embedding = embedding
    for spec in SPECS.values():
        router_module = importlib.import_module(spec.library_module + ".router")
        if hasattr(router_module, "get_longformer_embedding"):
            router_module.get_longformer_embedding = embedding


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _config(strategy: str, data: Path, work: Path, hparam: dict, embeddings: Path) -> Path:
    import yaml

    model_file = work / f"{strategy}{SPECS[strategy].model_suffix}"
    cfg = {
        "data_path": {"routing_data_train": str(work / "routing_train.jsonl"),
                      "query_embedding_data": str(embeddings),
                      "llm_data": str(data / "llm_data.json")},
        "hparam": hparam,
        "model_path": {"ini_model_path": str(work / "none"), "save_model_path": str(model_file),
                       "load_model_path": str(model_file)},
    }
    if strategy == "hybrid":
        cfg["router_mode"], cfg["router_threshold"] = "deterministic", 0.5
    path = work / f"{strategy}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def offline_environment() -> None:
    """No network from training: Hugging Face offline, and LiteLLM (imported by llmrouter-lib) on its
    bundled cost map instead of retrying a download for ~10 s."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


# The library's own route_single is only the parity reference, and slow (graph: ~0.18 s a query,
# ~37 min for 12k held-out queries): it routes at most this many of them.
MAX_LIBRARY_ROUTED = 1000


def train_all(data: Path, out: Path, strategies: list[str], hparams: dict, version: str, seed: int = 0,
              encoder: str = DEFAULT_ENCODER, max_library_routed: int = MAX_LIBRARY_ROUTED) -> dict:
    import shutil

    offline_environment()

    from tqdm import tqdm

    from gateway.mlops.export import export
    from gateway.routing import artifact as fmt

    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    # the library writes a .csv next to its JSONL: give it a private, writable copy
    shutil.copyfile(data / "routing_train.jsonl", work / "routing_train.jsonl")
    from gateway.mlops.embed import embed_texts, static_encoder

    carried = static_encoder() if encoder == "static" else None  # the encoder the artifacts carry
    train_queries = json.loads((data / "queries_train.json").read_text())  # row i = embedding_id i
    train_vectors = embed_texts(train_queries, encoder=encoder)
    np.save(out / "embeddings_train.npy", train_vectors)
    # torch and llmrouter-lib only for the library's routers: the native ones train with the runtime's
    # numpy alone, so a trainer host needs no training wheelhouse for them (docs/install.md).
    library = [s for s in strategies if s not in NATIVE]
    if library:
        import torch

        torch.save({i: torch.tensor(v) for i, v in enumerate(train_vectors)}, work / "embeddings_train.pt")
    rows = [json.loads(line) for line in (data / "routing_train.jsonl").read_text().splitlines() if line]
    lookup = dict(zip(train_queries, train_vectors, strict=True))
    heldout: list[str] = []
    if (data / "heldout.jsonl").exists():
        heldout = [json.loads(line)["query"] for line in (data / "heldout.jsonl").read_text().splitlines() if line]
    if heldout:  # none when the caller scores through the artifact only (gateway.mlops.tune)
        heldout_vectors = embed_texts(heldout, encoder=encoder)
        np.save(out / "embeddings_heldout.npy", heldout_vectors)
        lookup.update(zip(heldout, heldout_vectors, strict=True))
    dim = int(train_vectors.shape[1])
    candidates = list(dict.fromkeys(r["model_name"] for r in rows))
    report: dict = {"version": version, "candidates": candidates, "heldout": len(heldout), "encoder": encoder,
                    "strategies": {}}
    for strategy in tqdm(strategies, desc="training strategies", unit="strategy"):
        if strategy in NATIVE:
            report["strategies"][strategy] = _train_native(strategy, data, out, train_vectors, carried, version,
                                                           hparams.get(strategy, {}), seed,
                                                           heldout_vectors[:max_library_routed] if heldout else None)
            continue
        spec = SPECS[strategy]
        mod = importlib.import_module(spec.library_module)
        _seed(seed)
        hparam = {**spec.hparams, **hparams.get(strategy, {})}
        if "text_dim" in hparam:  # mf projects the query vector: its width is the encoder's
            hparam["text_dim"] = dim
        scaling, embeddings = None, work / "embeddings_train.pt"
        if spec.standardize:
            scaling = standardization(train_vectors)
            embeddings = work / f"embeddings_train_{strategy}.pt"
            torch.save({i: torch.tensor(((v - scaling[0]) / scaling[1]).astype(np.float32))
                        for i, v in enumerate(train_vectors)}, embeddings)
        _patch_embedding(lookup, encoder, scaling)
        started = time.perf_counter()
        if spec.ensemble > 1:
            from gateway.mlops.mlp_ensemble import train_ensemble

            def config(hp: dict, name: str = strategy, path: Path = embeddings) -> Path:
                return _config(name, data, work, hp, path)

            router, trainer = train_ensemble(mod, spec, hparam, members=spec.ensemble, seed=seed, config=config,
                                             reseed=_seed)
        else:
            router = getattr(mod, spec.router_class)(str(_config(strategy, data, work, hparam, embeddings)))
            trainer = getattr(mod, spec.trainer_class)(router, device="cpu")
            trainer.train()
        train_seconds = time.perf_counter() - started
        files = export(strategy, router, trainer, candidates, version, {"train_seconds": round(train_seconds, 2)},
                       encoder=carried, scaling=scaling)
        artifact = fmt.write_tar(files, out / f"{strategy}.tar")
        started = time.perf_counter()
        choices = [router.route_single({"query": q})["model_name"]
                   for q in tqdm(heldout[:max_library_routed], desc=f"library route_single ({strategy})", unit="q",
                                 leave=False)]
        report["strategies"][strategy] = {
            "artifact": str(artifact), "train_seconds": round(train_seconds, 2),
            "library_route_seconds": round(time.perf_counter() - started, 2),
            "library_choices": [str(c) for c in choices],
        }
    (out / "train_report.json").write_text(json.dumps(report, indent=1))
    return report


def _train_native(strategy: str, data: Path, out: Path, vectors: np.ndarray, encoder, version: str, hparams: dict,
                  seed: int, heldout_vectors: np.ndarray | None) -> dict:
    """A strategy the gateway trains itself (numpy): its trainer's own held-out choices are the
    parity reference (`trainer_choices`), as the library's are for the others."""
    from gateway.mlops.dataset import read_training_dir
    from gateway.routing import artifact as fmt

    module, _, function = NATIVE[strategy].partition(":")
    started = time.perf_counter()
    trained = getattr(importlib.import_module(module), function)(read_training_dir(data), vectors, encoder=encoder,
                                                                 version=version, hparams=hparams, seed=seed)
    train_seconds = round(time.perf_counter() - started, 2)
    artifact = fmt.write_tar(trained.files, out / f"{strategy}.tar")
    return {"artifact": str(artifact), "train_seconds": train_seconds, "cross_validation": trained.report,
            "trainer_choices": [] if heldout_vectors is None else trained.choose(heldout_vectors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.mlops.train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--strategies", default=",".join(TRAINABLE))
    parser.add_argument("--hparams", type=Path, help="JSON {strategy: {hparam: value}} over the defaults")
    parser.add_argument("--version", default=time.strftime("%Y%m%dT%H%M%S"))
    parser.add_argument("--encoder", choices=ENCODERS, default=DEFAULT_ENCODER,
                        help="query encoder the routers are trained on and the artifacts carry (default: static)")
    args = parser.parse_args(argv)
    offline_environment()
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in TRAINABLE]
    if unknown:
        print(f"error: --strategies: unknown {unknown}; trainable: {', '.join(TRAINABLE)}", file=sys.stderr)
        return 2
    hparams = json.loads(args.hparams.read_text()) if args.hparams else {}
    report = train_all(args.data, args.out, strategies, hparams, args.version, encoder=args.encoder)
    for name, entry in report["strategies"].items():
        print(f"{name}: trained in {entry['train_seconds']} s -> {entry['artifact']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
