"""The operator's command line: `gateway serve`, `gateway artifact ...`, `gateway appliance ...`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.errors import GatewayError


def _serve(args: argparse.Namespace) -> int:
    from gateway.config.loader import load_config
    from gateway.proxy.server import ServeOptions, serve

    config = load_config(args.config)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise GatewayError("--ssl-certfile and --ssl-keyfile go together")
    serve(config, ServeOptions(host=args.host, port=args.port, num_workers=args.num_workers,
                               ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile))
    return 0


def _check(args: argparse.Namespace) -> int:
    """Validate a config and its artifact without starting the server."""
    from gateway.config.loader import load_config
    from gateway.proxy.server import ServeOptions, startup_summary
    from gateway.routing.runtime import RoutingRuntime

    config = load_config(args.config)
    runtime = RoutingRuntime.from_config(config) if config.strategy else None
    for line in startup_summary(config, runtime, ServeOptions()):
        print(line)
    return 0


def _build_demo(args: argparse.Namespace) -> int:
    from gateway.routing.demo import QUERIES, build_demo_artifact

    print(build_demo_artifact(Path(args.out), Path(args.queries) if args.queries else QUERIES))
    return 0


def _publish(args: argparse.Namespace) -> int:
    """Put an artifact where a gateway watches it in S3 (GATEWAY_S3_* settings), e.g. an installer's seed."""
    from gateway.mlops.publish import publish_s3
    from gateway.reload.s3 import make_client, settings_from_env

    settings = settings_from_env()
    if settings is None:
        raise GatewayError("gateway artifact publish needs GATEWAY_S3_ENDPOINT and the other GATEWAY_S3_* settings")
    bucket, _, key = args.s3.partition("/")
    if not bucket or not key:
        raise GatewayError(f"--s3 {args.s3!r}: expected BUCKET/KEY")
    if args.if_absent and _s3_has(make_client(settings), bucket, key):
        print(f"present: s3://{bucket}/{key} (left as it is)")
        return 0
    etag = publish_s3(Path(args.artifact), settings, bucket, key)
    print(f"published {args.artifact} to s3://{bucket}/{key} (etag {etag})")
    return 0


def _s3_has(client, bucket: str, key: str) -> bool:
    from minio.error import S3Error

    try:
        client.stat_object(bucket, key)
        return True
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            return False
        raise GatewayError(f"s3://{bucket}/{key}: {exc.code}: {exc.message}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the LiteLLM proxy with the gateway's extensions")
    serve.add_argument("--config", required=True, help="a LiteLLM config YAML")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default: loopback only)")
    serve.add_argument("--port", type=int, default=4000)
    serve.add_argument("--num-workers", type=int, default=1)
    serve.add_argument("--ssl-certfile", help="server certificate chain (PEM): serve HTTPS")
    serve.add_argument("--ssl-keyfile", help="its private key (PEM, mode 0600)")
    serve.set_defaults(func=_serve)

    check = sub.add_parser("check", help="validate a config and its routing artifact, then exit")
    check.add_argument("--config", required=True)
    check.set_defaults(func=_check)

    artifact = sub.add_parser("artifact", help="routing artifacts")
    artifact_sub = artifact.add_subparsers(dest="artifact_command", required=True)
    demo = artifact_sub.add_parser("build-demo", help="build the demo KNN artifact from examples/demo")
    demo.add_argument("--out", required=True)
    demo.add_argument("--queries", help="queries.jsonl (default: examples/demo/queries.jsonl of a checkout)")
    demo.set_defaults(func=_build_demo)
    publish = artifact_sub.add_parser("publish", help="upload an artifact to S3 where gateways watch it")
    publish.add_argument("artifact", help="a routing artifact (checked before upload)")
    publish.add_argument("--s3", required=True, metavar="BUCKET/KEY")
    publish.add_argument("--if-absent", action="store_true", help="leave an existing object alone (seeding)")
    publish.set_defaults(func=_publish)

    from gateway.appliance.cli import register, run

    register(sub).set_defaults(func=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from gateway.proxy.offline import apply_offline_defaults

    apply_offline_defaults()  # before numpy or LiteLLM are imported: some settings are read at import
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except GatewayError as exc:
        print(f"gateway: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
