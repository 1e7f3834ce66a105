"""Environment that keeps LiteLLM and its libraries from reaching for the internet (and BLAS calm).

Measured on this kind of host: without these, LiteLLM fetches its price map at start-up and
token counting for Llama-named models asks huggingface.co. An operator's explicit value wins.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

OFFLINE_DEFAULTS: dict[str, str] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "DISABLE_SCHEMA_UPDATE": "True",
    "CHECKPOINT_DISABLE": "1",
    "PRISMA_HIDE_UPDATE_MESSAGE": "1",
    "SYFT_CHECK_FOR_APP_UPDATE": "false",
    # Not about the network: one BLAS thread per process. The embedding's small matrix products
    # got 2-7x slower p99 with OpenBLAS threads fighting the event loop for 2 cores.
    "OPENBLAS_NUM_THREADS": "1",
}


def apply_offline_defaults(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set every offline default the operator has not set; return what was set."""
    env = os.environ if environ is None else environ
    applied = {}
    for key, value in OFFLINE_DEFAULTS.items():
        if key not in env:
            env[key] = value
            applied[key] = value
    return applied
