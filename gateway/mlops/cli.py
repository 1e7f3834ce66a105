"""`gateway mlops ...`: the training loop, training alone, the benchmarks, and an OTLP file sink for sites
without a collector.

`python -m gateway.mlops`, `python -m gateway.mlops.otlp_sink` are the same commands under their old
names. Training and the benchmarks run in the separate training environment (GATEWAY_TRAINING_PYTHON): the
gateway's venv never gets torch.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
from pathlib import Path

from gateway.errors import GatewayError
from gateway.mlops.errors import MLOpsError

logger = logging.getLogger("gateway.mlops")
CHECKOUT = Path(__file__).resolve().parents[2]
BENCH_SUITES = ("llmrouter", "routellm")


def register(subparsers) -> argparse.ArgumentParser:
    """Adds `mlops` to the gateway CLI; each command sets `func`."""
    parser = subparsers.add_parser("mlops", help="traces -> training -> evaluation -> publishing",
                                   description="The training loop, training alone, the benchmarks, and an OTLP file "
                                               "sink for sites without a collector. `python -m gateway.mlops` is "
                                               "the same command under its old name.")
    # The loop's refusals (too few labels, the evaluation gate, training failed) exit 1, not 2;
    # no offline defaults: the training environment keeps its own threads and settings.
    parser.set_defaults(refused=(MLOpsError,), offline_defaults=False)
    sub = parser.add_subparsers(dest="mlops_command", required=True, metavar="COMMAND")

    loop = sub.add_parser("loop", help="traces -> train -> evaluate -> gate -> publish",
                          description="Read captured traces, train a router in the training environment, "
                                      "evaluate it on held-out queries and publish it if it passes the gate.")
    loop.add_argument("--traces", action="append", required=True, metavar="FORMAT:PATH",
                      help="captured spans: otlp, jaeger, tempo or xray, then the file or a glob of files (repeatable)")
    loop.add_argument("--strategy", default="knn", help="the router to train (default: knn)")
    loop.add_argument("--work", type=Path, required=True, metavar="DIR",
                      help="training data, artifacts and the evaluation report go here")
    loop.add_argument("--cost-weight", type=float, default=0.0, metavar="W",
                      help="weight of the cost in a query's score (default: 0)")
    loop.add_argument("--latency-weight", type=float, default=0.0, metavar="W",
                      help="weight of the latency in a query's score (default: 0)")
    loop.add_argument("--prior-weight", type=float, default=0.0, metavar="W",
                      help="tie-break toward the model that is better on average (docs/mlops-training.md)")
    loop.add_argument("--min-quality", type=float, default=0.0, metavar="Q",
                      help="evaluation gate: held-out mean quality (default: 0)")
    loop.add_argument("--publish-path", type=Path, metavar="FILE", help="publish the artifact to this path")
    loop.add_argument("--publish-s3", metavar="BUCKET/KEY", help="publish to S3 (store from GATEWAY_S3_*)")
    loop.set_defaults(func=_loop)

    # Its options are the trainer's own: they pass through, `--help` included.
    train = sub.add_parser("train", add_help=False, help="train routers (python -m gateway.mlops.train)",
                           usage="%(prog)s --data DIR --out DIR [--strategies knn,svm,...] [--hparams FILE] "
                                 "[--version V] [--encoder static|minilm]",
                           description="Run `python -m gateway.mlops.train` with these options in the training "
                                       "environment (GATEWAY_TRAINING_PYTHON, default "
                                       "/var/cache/gateway-build/training-venv/bin/python, made by `make "
                                       "training-env`). `gateway mlops train --help` prints the trainer's help.")
    train.set_defaults(func=_train, passthrough=True)

    # The benchmarks live in the checkout's bench/ (not in the package): run there, options passed through.
    bench = sub.add_parser("bench", add_help=False, help="benchmark the trainable routers on public data",
                           usage="%(prog)s [--suite llmrouter|routellm] [the benchmark's options]",
                           description="Run `python -m bench.mlops_llmrouter` (or bench.mlops_routellm with "
                                       "--suite routellm) of this checkout in the training environment, as "
                                       "`make bench-mlops` does; reports go to $GATEWAY_MLOPS_BENCH_OUT. "
                                       "`gateway mlops bench --help` prints the benchmark's help.")
    bench.add_argument("--suite", choices=BENCH_SUITES, default="llmrouter",
                       help="bench.mlops_llmrouter (default) or bench.mlops_routellm")
    bench.set_defaults(func=_bench, passthrough=True)

    sink = sub.add_parser("otlp-sink", help="receive OTLP/HTTP into files, as the collector's file exporter",
                          description="An OTLP/HTTP receiver that writes what the OpenTelemetry Collector's file "
                                      "exporter writes (one OTLP/JSON request per line, a file per signal, rotated); "
                                      "the loop's `--traces otlp:GLOB` reads it. Loopback plain HTTP, or any address "
                                      "with mTLS from the site CA; no OTLP/gRPC.")
    from gateway.mlops.otlp_sink import add_arguments

    add_arguments(sink)
    sink.set_defaults(func=_otlp_sink)
    return parser


def _publisher(args):
    if args.publish_path:
        from gateway.mlops.publish import copy_report, publish_file

        def to_path(artifact, report):
            publish_file(artifact, args.publish_path)
            copy_report(report, args.publish_path)
            return str(args.publish_path)
        return to_path
    if args.publish_s3:
        from gateway.config.settings import s3_settings_from_env
        from gateway.mlops.publish import publish_s3

        bucket, _, key = args.publish_s3.partition("/")
        settings = s3_settings_from_env()  # GATEWAY_S3_* (docs/hot-reload.md)
        if settings is None:
            raise MLOpsError("--publish-s3 needs GATEWAY_S3_ENDPOINT and the other GATEWAY_S3_* settings")
        return lambda artifact, report: publish_s3(artifact, settings, bucket, key, report)
    return None


def _trace_files(item: str) -> list[tuple[str, Path]]:
    """FORMAT:PATH, where PATH may be a glob: the collector's file exporter rotates traces.json into
    traces-<time>.json backups, and a trainer reads them all (`otlp:/var/lib/otelcol/traces*.json`)."""
    fmt, _, path = item.partition(":")
    if not any(c in path for c in "*?["):
        return [(fmt, Path(path))]
    files = sorted(p for p in Path(path).parent.glob(Path(path).name) if p.is_file())
    if not files:
        raise MLOpsError(f"--traces {item}: no file matches {path}")
    return [(fmt, p) for p in files]


def _loop(args: argparse.Namespace) -> int:
    from gateway.mlops.dataset import ScoreWeights
    from gateway.mlops.pipeline import run_loop

    sources = [(fmt, path) for item in args.traces for fmt, path in _trace_files(item)]
    weights = ScoreWeights(args.cost_weight, args.latency_weight, args.prior_weight)
    result = run_loop(sources, args.work, args.strategy, weights, args.min_quality, publish=_publisher(args))
    print(f"{result.extracted.summary()}\nreport: {result.report}\npublished: {result.published or 'no (no target)'}")
    return 0


def _in_training_env(module: str, extra: list[str]) -> int:
    """`python -m module` in the training environment, from the checkout this package runs from."""
    from gateway.mlops.pipeline import TRAINING_PYTHON

    if not TRAINING_PYTHON.exists():
        raise MLOpsError(f"training environment missing: {TRAINING_PYTHON} not found; run `make training-env` "
                         "(or set GATEWAY_TRAINING_PYTHON)")
    logger.info("running %s in %s (output follows as it goes)", module, TRAINING_PYTHON)
    # the training venv holds no copy of the gateway: it runs the package next to this one
    done = subprocess.run([str(TRAINING_PYTHON), "-m", module, *extra], cwd=CHECKOUT, check=False)
    return done.returncode


def _train(args: argparse.Namespace) -> int:
    return _in_training_env("gateway.mlops.train", args.extra)


def _bench(args: argparse.Namespace) -> int:
    module = f"bench.mlops_{args.suite}"
    if not (CHECKOUT / "bench" / f"mlops_{args.suite}.py").is_file():
        raise MLOpsError(f"gateway mlops bench needs a checkout of the repository (no bench/mlops_{args.suite}.py "
                         f"under {CHECKOUT}); the benchmarks are not part of the installed package")
    return _in_training_env(module, args.extra)


def _otlp_sink(args: argparse.Namespace) -> int:
    from gateway.mlops.otlp_sink import build, serve

    try:
        sink = build(args)
    except ValueError as exc:
        raise GatewayError(str(exc)) from None
    except OSError as exc:
        raise GatewayError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    serve(sink, args)
    return 0
