"""`python -m tests.fake_upstream --port N [--config behaviour.yaml] [--latency-ms 5] ...`"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from tests.fake_upstream.app import FakeUpstream
from tests.fake_upstream.behaviour import Behaviour, ConfigFileError, FakeConfig, load_config
from tests.fake_upstream.server import bind, server_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address only (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port, printed at start")
    parser.add_argument(
        "--config", help="JSON or YAML file: {default: {...}, models: {name: {...}}, advertise: []}"
    )
    parser.add_argument("--latency-ms", type=float, help="global latency (overrides the file's default)")
    parser.add_argument(
        "--fail",
        choices=["rate_limit", "server_error", "context_length", "auth", "timeout"],
        help="global failure",
    )
    parser.add_argument("--answer", help="global fixed answer")
    parser.add_argument(
        "--model-answer",
        action="append",
        default=[],
        metavar="MODEL=TEXT",
        help="fixed answer for one model (repeatable)",
    )
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> FakeConfig:
    config = load_config(args.config) if args.config else FakeConfig()
    overrides = {
        k: v
        for k, v in {"latency_ms": args.latency_ms, "fail": args.fail, "answer": args.answer}.items()
        if v is not None
    }
    default = Behaviour.model_validate({**config.default.model_dump(exclude_unset=True), **overrides})
    models = dict(config.models)
    for item in args.model_answer:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ConfigFileError(f"--model-answer '{item}': expected MODEL=TEXT")
        models[name] = Behaviour.model_validate(
            {**models.get(name, Behaviour()).model_dump(exclude_unset=True), "answer": text}
        )
    return config.model_copy(update={"default": default, "models": models})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = build_config(args)
        sock = bind(args.host, args.port)
    except (ConfigFileError, ValueError, OSError) as exc:
        print(f"fake upstream: {exc}", file=sys.stderr)
        return 2
    print(f"fake upstream listening on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(server_config(FakeUpstream(config), args.log_level)).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
