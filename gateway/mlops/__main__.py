"""`python -m gateway.mlops loop`: traces -> train -> evaluate -> gate -> publish. Only this CLI exits."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gateway.errors import GatewayError


def _publisher(args):
    if args.publish_path:
        from gateway.mlops.publish import copy_report, publish_file

        def to_path(artifact, report):
            publish_file(artifact, args.publish_path)
            copy_report(report, args.publish_path)
            return str(args.publish_path)
        return to_path
    if args.publish_s3:
        from gateway.config.models import S3Settings
        from gateway.mlops.publish import publish_s3
        from gateway.reload.s3 import settings_from_env  # GATEWAY_S3_* (docs/hot-reload.md)

        bucket, _, key = args.publish_s3.partition("/")
        settings: S3Settings | None = settings_from_env()
        if settings is None:
            from gateway.mlops.errors import MLOpsError

            raise MLOpsError("--publish-s3 needs GATEWAY_S3_ENDPOINT and the other GATEWAY_S3_* settings")
        return lambda artifact, report: publish_s3(artifact, settings, bucket, key, report)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.mlops")
    sub = parser.add_subparsers(dest="command", required=True)
    loop = sub.add_parser("loop", help="traces -> train -> evaluate -> publish")
    loop.add_argument("--traces", action="append", required=True, help="FORMAT:PATH (otlp, jaeger, tempo, xray)")
    loop.add_argument("--strategy", default="knn")
    loop.add_argument("--work", type=Path, required=True)
    loop.add_argument("--cost-weight", type=float, default=0.0)
    loop.add_argument("--latency-weight", type=float, default=0.0)
    loop.add_argument("--prior-weight", type=float, default=0.0,
                      help="tie-break toward the model that is better on average (docs/mlops-training.md)")
    loop.add_argument("--min-quality", type=float, default=0.0, help="evaluation gate (held-out mean quality)")
    loop.add_argument("--publish-path", type=Path)
    loop.add_argument("--publish-s3", help="BUCKET/KEY, S3 settings from GATEWAY_S3_*")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from gateway.mlops.dataset import ScoreWeights
    from gateway.mlops.pipeline import run_loop

    sources = []
    for item in args.traces:
        fmt, _, path = item.partition(":")
        sources.append((fmt, Path(path)))
    try:
        weights = ScoreWeights(args.cost_weight, args.latency_weight, args.prior_weight)
        result = run_loop(sources, args.work, args.strategy, weights, args.min_quality, publish=_publisher(args))
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{result.extracted.summary()}\nreport: {result.report}\npublished: {result.published or 'no (no target)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
