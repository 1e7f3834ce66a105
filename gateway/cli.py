"""The operator's command line: serve and check a config, build and publish routing artifacts, run
the MLOps loop, and build and audit the appliance. docs/cli.md is generated from this parser."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.errors import GatewayError

EXIT_OK = 0
#: the command ran and its answer is no
EXIT_REFUSED = 1
#: the command could not run as asked: usage, config, manifest, artifact or environment
EXIT_ERROR = 2
EXIT_CODES = """\
exit codes (every command):
  0  done
  1  refused: the command ran and its answer is no (`appliance audit` found drift; `mlops loop`
     stopped: too few labels, the evaluation gate not met, training failed)
  2  usage or configuration error: a bad option, config file, manifest, artifact or environment
     variable; the message names the file or variable, the key and the value"""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

logger = logging.getLogger("gateway.cli")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that remembers its subcommands (`subcommands`), for the CLI reference."""

    subcommands: dict[str, argparse.ArgumentParser]

    def add_subparsers(self, **kwargs):
        action = super().add_subparsers(**kwargs)
        self.subcommands = action.choices  # filled by add_parser, in order
        return action


def _serve(args: argparse.Namespace) -> int:
    from gateway.config.settings import ServeSettings
    from gateway.proxy.server import serve

    serve(ServeSettings.load(args.config, host=args.host, port=args.port, num_workers=args.num_workers,
                             ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    """Validate a config, its environment and its artifact as `serve` would, without starting the server."""
    from gateway.config.settings import ServeSettings
    from gateway.proxy.server import startup_summary
    from gateway.reload.loader import load_runtime

    settings = ServeSettings.load(args.config)
    runtime = asyncio.run(load_runtime(settings.config, settings.env.s3))
    for line in startup_summary(settings, runtime):
        print(line)
    return EXIT_OK


def _merge_config(args: argparse.Namespace) -> int:
    """The installed appliance's config: the operator's plus the keys the appliance owns (gateway.config.operator)."""
    from gateway.config.operator import merge_files, write_if_changed

    out = Path(args.out)
    print(f"{'written' if write_if_changed(merge_files(args.operator, args.owned), out) else 'unchanged'}: {out}")
    return EXIT_OK


def _build_demo(args: argparse.Namespace) -> int:
    from gateway.routing.demo import QUERIES, build_demo_artifact

    queries = Path(args.queries) if args.queries else QUERIES
    logger.info("building the demo artifact from %s (embedding every query)", queries)
    print(build_demo_artifact(Path(args.out), queries))
    return EXIT_OK


def _publish(args: argparse.Namespace) -> int:
    """Put an artifact where a gateway watches it in S3 (GATEWAY_S3_* settings), e.g. an installer's seed."""
    from gateway.config.settings import s3_settings_from_env
    from gateway.mlops.publish import publish_s3
    from gateway.reload.s3 import make_client

    settings = s3_settings_from_env()
    if settings is None:
        raise GatewayError("gateway artifact publish needs GATEWAY_S3_ENDPOINT and the other GATEWAY_S3_* settings")
    bucket, _, key = args.s3.partition("/")
    if not bucket or not key:
        raise GatewayError(f"--s3 {args.s3!r}: expected BUCKET/KEY")
    if args.if_absent and _s3_has(make_client(settings), bucket, key):
        print(f"present: s3://{bucket}/{key} (left as it is)")
        return EXIT_OK
    artifact = Path(args.artifact)
    if artifact.is_file():
        logger.info("uploading %s (%d bytes) to s3://%s/%s", artifact, artifact.stat().st_size, bucket, key)
    etag = publish_s3(artifact, settings, bucket, key)
    print(f"published {args.artifact} to s3://{bucket}/{key} (etag {etag})")
    return EXIT_OK


def _s3_has(client, bucket: str, key: str) -> bool:
    from minio.error import S3Error

    try:
        client.stat_object(bucket, key)
        return True
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            return False
        raise GatewayError(f"s3://{bucket}/{key}: {exc.code}: {exc.message}") from exc


def package_version() -> str:
    """The installed distribution's version; the source tree's when run from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gateway")
    except PackageNotFoundError:
        from gateway import __version__

        return __version__


def build_parser() -> Parser:
    parser = Parser(prog="gateway", description=__doc__, epilog=EXIT_CODES,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, metavar="LEVEL",
                        help=f"the log lines on stderr: {', '.join(LOG_LEVELS)} (default: INFO)")
    parser.set_defaults(refused=(), offline_defaults=True, passthrough=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from gateway.config.settings import ENVIRONMENT_HELP

    serve = sub.add_parser("serve", help="start the LiteLLM proxy with the gateway's extensions",
                           description="Validate the config, its environment and its routing artifact, then\n"
                                       "start LiteLLM's proxy with the gateway's routing hook, in this process.",
                           epilog=ENVIRONMENT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--config", required=True, metavar="FILE", help="a LiteLLM config YAML")
    serve.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                       help="listen address (default: 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=4000, help="listen port (default: 4000)")
    serve.add_argument("--num-workers", type=int, default=1, metavar="N",
                       help="LiteLLM worker processes (default: 1)")
    serve.add_argument("--ssl-certfile", metavar="FILE", help="server certificate chain (PEM): serve HTTPS")
    serve.add_argument("--ssl-keyfile", metavar="FILE", help="its private key (PEM, mode 0600)")
    serve.set_defaults(func=_serve)

    check = sub.add_parser("check", help="validate a config and its routing artifact, then exit",
                           description="Validate a config, the environment variables `serve` reads and the\n"
                                       "routing artifact (downloaded when it lives in S3), as `serve` does;\n"
                                       "print what `serve` would run.",
                           epilog=ENVIRONMENT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--config", required=True, metavar="FILE", help="a LiteLLM config YAML")
    check.set_defaults(func=_check)

    config = sub.add_parser("config", help="the installed appliance's config files")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    merge = config_sub.add_parser(
        "merge", help="merge an operator's LiteLLM config with the keys the appliance owns",
        description="Write the operator's LiteLLM config with the keys the appliance owns added\n"
                    "(routing strategy and args, master key, cache, callbacks). A key the operator\n"
                    "set to another value is refused, naming the file and the key (docs/install.md).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    merge.add_argument("--operator", required=True, metavar="FILE", help="the operator's LiteLLM config YAML")
    merge.add_argument("--owned", required=True, metavar="FILE", help="the appliance's keys (YAML, by section)")
    merge.add_argument("--out", required=True, metavar="FILE",
                       help="the merged config; left untouched when it already holds the result")
    merge.set_defaults(func=_merge_config)

    artifact = sub.add_parser("artifact", help="routing artifacts")
    artifact_sub = artifact.add_subparsers(dest="artifact_command", required=True, metavar="COMMAND")
    demo = artifact_sub.add_parser("build-demo", help="build the demo KNN artifact from examples/demo")
    demo.add_argument("--out", required=True, metavar="FILE", help="the artifact to write (.tar)")
    demo.add_argument("--queries", metavar="FILE",
                      help="queries.jsonl (default: examples/demo/queries.jsonl of a checkout)")
    demo.set_defaults(func=_build_demo)
    publish = artifact_sub.add_parser("publish", help="upload an artifact to S3 where gateways watch it")
    publish.add_argument("artifact", help="a routing artifact (checked before upload)")
    publish.add_argument("--s3", required=True, metavar="BUCKET/KEY",
                         help="where; the store comes from GATEWAY_S3_ENDPOINT and the other GATEWAY_S3_*")
    publish.add_argument("--if-absent", action="store_true", help="leave an existing object alone (seeding)")
    publish.set_defaults(func=_publish)

    from gateway.mlops.cli import register as register_mlops

    register_mlops(sub)

    from gateway.supply.cli import register as register_bundle

    register_bundle(sub)

    from gateway.appliance.cli import register as register_appliance
    from gateway.appliance.cli import run as run_appliance

    register_appliance(sub).set_defaults(func=run_appliance)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.passthrough:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    if args.offline_defaults:
        from gateway.proxy.offline import apply_offline_defaults

        apply_offline_defaults()  # before numpy or LiteLLM are imported: some settings are read at import
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or EXIT_OK)
    except GatewayError as exc:
        print(f"gateway: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED if isinstance(exc, args.refused) else EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
