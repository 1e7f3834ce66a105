"""`python -m gateway.mlops ...`: the old name of `gateway mlops ...` (compose files and Makefiles use it)."""

from __future__ import annotations

import sys

from gateway.cli import main as gateway_main


def main(argv: list[str] | None = None) -> int:
    return gateway_main(["mlops", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
