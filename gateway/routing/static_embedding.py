"""Static query embeddings: one table row per word piece, averaged (model2vec's method), ~50x cheaper than MiniLM.

Distillation (`distill`) follows model2vec 0.10's `distill_from_model` for a WordPiece model:
every vocabulary token `t` (but `[unusedN]`, `[CLS]`, `[SEP]` and `[MASK]`, which model2vec
drops too) goes through all-MiniLM-L6-v2 alone, as
`[CLS] t [SEP]`, mean-pooled over the three positions; the vectors are reduced by PCA
(covariance eigenvectors, sign fixed by the largest score) to `dims`, then each row is weighted by
SIF, `a / (a + p(rank))`, with `p` Zipf's law over the vocabulary order. It runs on the gateway's
own numpy MiniLM (no torch): ~30-60 s for the 30,522 tokens on 2 cores.

Encoding (`StaticEmbedder.embed`): the text is cut to `max_tokens * median token length`
characters *before* tokenizing (so a 10 MB prompt costs what a normal one does), tokenized without
special tokens, `[UNK]` dropped, the rows averaged and L2-normalised. numpy + tokenizers only.

The table (float16) and the tokenizer travel inside the routing artifact (arrays
`encoder.table` and `encoder.tokenizer`), so the checksum that covers the router covers its
encoder too, and a hot reload swaps both at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from gateway.errors import ArtifactError

STATIC_MODEL_NAME = "static-all-MiniLM-L6-v2"
DEFAULT_DIMS = 256
DEFAULT_MAX_TOKENS = 512  # model2vec's default max_length
SIF_COEFFICIENT = 1e-4
TABLE_ARRAY = "encoder.table"
TOKENIZER_ARRAY = "encoder.tokenizer"
# model2vec's default token_remove_pattern, and the special tokens it prunes from the vocabulary
_UNUSED = re.compile(r"\[unused\d+\]")
_PRUNED_SPECIAL = frozenset({"[CLS]", "[SEP]", "[MASK]"})
# Bump when `distill` changes what it computes: cached tables of older versions are not reused.
DISTILL_VERSION = 2


class StaticEmbedder:
    """`embed(text)` -> float32[dim], unit length; immutable after construction (thread-safe)."""

    #: ~0.03 ms per query: cheaper inline than the hop to a worker thread
    inline = True
    model_name = STATIC_MODEL_NAME

    def __init__(self, table: np.ndarray, tokenizer_json: str, max_tokens: int = DEFAULT_MAX_TOKENS,
                 source: str = "<static encoder>"):
        from tokenizers import Tokenizer

        if table.ndim != 2 or table.shape[0] == 0 or table.dtype.kind != "f":
            raise ArtifactError(f"{source}: array '{TABLE_ARRAY}' must be a non-empty float matrix, "
                                f"found {table.dtype} {table.shape}")
        try:
            tokenizer = Tokenizer.from_str(tokenizer_json)
        except Exception as exc:  # tokenizers raises plain Exception subclasses for bad JSON
            raise ArtifactError(f"{source}: array '{TOKENIZER_ARRAY}' is not a tokenizer.json ({exc})") from None
        if tokenizer.get_vocab_size() != table.shape[0]:
            raise ArtifactError(f"{source}: the tokenizer has {tokenizer.get_vocab_size()} tokens, "
                                f"the table {table.shape[0]} rows")
        if max_tokens < 1:
            raise ArtifactError(f"{source}: embedding.max_tokens is {max_tokens}; it must be >= 1")
        tokenizer.no_padding()
        tokenizer.no_truncation()
        # the artifact stores float16: training and serving both read these rounded values
        self.table16 = np.asarray(table, dtype=np.float16)
        self.tokenizer_json = tokenizer_json
        self.table = self.table16.astype(np.float32)
        self.dim = int(table.shape[1])
        self.max_tokens = int(max_tokens)
        self.tokenizer = tokenizer
        vocab = tokenizer.get_vocab()
        self.unk_id = vocab.get("[UNK]")
        median = int(np.median([len(token) for token in vocab]))
        self.max_chars = self.max_tokens * max(median, 1)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], max_tokens: int, source: str) -> StaticEmbedder:
        missing = [name for name in (TABLE_ARRAY, TOKENIZER_ARRAY) if name not in arrays]
        if missing:
            raise ArtifactError(f"{source}: embedding model {STATIC_MODEL_NAME} needs arrays "
                                f"{', '.join(missing)} in the artifact")
        raw = np.asarray(arrays[TOKENIZER_ARRAY])
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ArtifactError(f"{source}: array '{TOKENIZER_ARRAY}' must be uint8 bytes, found {raw.dtype}")
        return cls(np.asarray(arrays[TABLE_ARRAY]), raw.tobytes().decode("utf-8"), max_tokens, source)

    def load(self) -> StaticEmbedder:
        return self

    def embed(self, text: str) -> np.ndarray:
        """One text -> float32[dim], unit length (zeros for a text with no known word piece)."""
        ids = self.tokenizer.encode(str(text)[: self.max_chars], add_special_tokens=False).ids
        return self._pool(ids)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch([str(t)[: self.max_chars] for t in texts], add_special_tokens=False)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            out[row] = self._pool(encoding.ids)
        return out

    def _pool(self, ids: list[int]) -> np.ndarray:
        if self.unk_id is not None:
            ids = [i for i in ids if i != self.unk_id]
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        mean = self.table[ids].mean(axis=0)
        return mean / np.float32(np.linalg.norm(mean) + 1e-32)


    def artifact_arrays(self) -> dict[str, np.ndarray]:
        """The arrays that carry this encoder inside a routing artifact."""
        return {TABLE_ARRAY: self.table16,
                TOKENIZER_ARRAY: np.frombuffer(self.tokenizer_json.encode("utf-8"), dtype=np.uint8)}


def _pca(vectors: np.ndarray, dims: int) -> np.ndarray:
    """model2vec's PCA: eigenvectors of the covariance, largest first, each sign set so that the
    largest-magnitude score is positive."""
    centered = vectors - vectors.mean(axis=0)
    cov = (centered.T @ centered) / (vectors.shape[0] - 1)
    _, eigvecs = np.linalg.eigh(cov)
    components = eigvecs[:, ::-1][:, :dims]
    scores = centered @ components
    signs = np.sign(scores[np.argmax(np.abs(scores), axis=0), np.arange(scores.shape[1])])
    return scores * np.where(signs == 0, 1.0, signs)


def sif_weights(count: int, coefficient: float = SIF_COEFFICIENT) -> np.ndarray:
    """model2vec's `compute_weights`: Zipf probabilities by vocabulary rank, then a / (a + p)."""
    inv_rank = 1.0 / np.arange(2, count + 2)
    proba = inv_rank / inv_rank.sum()
    return coefficient / (coefficient + proba)


def distill(encoder, dims: int = DEFAULT_DIMS, batch: int = 1024,
            progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, str]:
    """(table float32[vocab, dims], tokenizer.json) from a loaded `MiniLMEmbedder`.

    Rows of the dropped tokens stay zero (they are excluded from PCA and from the Zipf ranks, as in
    model2vec, and never come out of the tokenizer for ordinary text).
    """
    encoder.load()
    vocab = encoder.tokenizer.get_vocab()
    tokenizer_json = encoder.tokenizer.to_str()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    kept = np.array(sorted(i for token, i in vocab.items()
                           if not _UNUSED.fullmatch(token) and token not in _PRUNED_SPECIAL), dtype=np.int64)
    pooled = np.zeros((kept.shape[0], encoder.dim), dtype=np.float32)
    mask = np.ones((1, 3), dtype=np.float32)
    for start in range(0, kept.shape[0], batch):
        ids = kept[start:start + batch]
        seqs = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1)
        hidden = encoder.hidden_states(seqs, np.repeat(mask, len(ids), axis=0))
        pooled[start:start + len(ids)] = hidden.mean(axis=1)
        if progress is not None:
            progress(start + len(ids), kept.shape[0])
    reduced = _pca(pooled.astype(np.float64), min(dims, encoder.dim)) * sif_weights(kept.shape[0])[:, None]
    table = np.zeros((len(vocab), reduced.shape[1]), dtype=np.float32)
    table[kept] = reduced
    # the tokenizer as the encoder uses it: no truncation or padding baked in
    spec = json.loads(tokenizer_json)
    spec["truncation"] = None
    spec["padding"] = None
    return table, json.dumps(spec, ensure_ascii=False)


def default_cache_dir() -> Path:
    """Where distilled tables are kept between builds: $GATEWAY_ENCODER_CACHE, else the user's cache."""
    explicit = os.environ.get("GATEWAY_ENCODER_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gateway" / "encoders"


def _print_progress(done: int, total: int) -> None:
    if done == total or done % (8 * 1024) < 1024:
        print(f"static encoder: distilled {done}/{total} word pieces", file=sys.stderr, flush=True)


def distilled_encoder(minilm=None, dims: int = DEFAULT_DIMS, cache_dir: Path | None = None,
                      max_tokens: int = DEFAULT_MAX_TOKENS) -> StaticEmbedder:
    """The static encoder distilled from the installed MiniLM, computed once per machine and cached.

    The cache key is the sha256 of the model's weights and tokenizer, `dims` and DISTILL_VERSION,
    so a different model package or algorithm never reuses a stale table. An unwritable cache
    directory only costs the next build another distillation.
    """
    from gateway.routing.embedding import MiniLMEmbedder

    minilm = minilm or MiniLMEmbedder()
    digest = hashlib.sha256(f"v{DISTILL_VERSION} dims={dims}".encode())
    for name in ("model.safetensors", "tokenizer.json"):
        with open(minilm.model_dir / name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    cache = (cache_dir or default_cache_dir()) / f"static-{digest.hexdigest()[:16]}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as npz:
            return StaticEmbedder(npz[TABLE_ARRAY], npz[TOKENIZER_ARRAY].tobytes().decode("utf-8"),
                                  max_tokens, str(cache))
    table, tokenizer_json = distill(minilm, dims, progress=_print_progress)
    encoder = StaticEmbedder(table, tokenizer_json, max_tokens)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".static-", suffix=".npz", dir=cache.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **encoder.artifact_arrays())
        os.replace(tmp, cache)
    except OSError as exc:
        print(f"static encoder: not cached ({exc})", file=sys.stderr)
    return encoder
