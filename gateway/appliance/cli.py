"""`gateway appliance ...`: validate, generate, renew, revoke, audit (and schema).

Exit codes: 0 success / no drift, 1 drift found by audit, 2 an error (invalid manifest, missing tool).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.errors import GatewayError

DEFAULT_OUT = Path("certs/out")
DEFAULT_PKI_DIR = Path("/etc/gateway/pki")  # where the pki role installs a host's certificates and CRLs


def register(subparsers) -> argparse.ArgumentParser:
    """Adds `appliance` to the gateway CLI; `run(args)` executes it."""
    parser = subparsers.add_parser(
        "appliance",
        help="manifest, PKI, firewall, port map, network docs, audit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_commands(parser)
    parser.set_defaults(handler=run)
    return parser


def add_commands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="appliance_command", required=True, metavar="COMMAND")
    p = sub.add_parser("validate", help="check a manifest; errors name the line and the path")
    p.add_argument("manifest", type=Path)
    p = sub.add_parser("generate", help="CA, certificates, firewall, TLS fronts, port map and network document")
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path, help=f"output directory (default {DEFAULT_OUT}/<site>)")
    p.add_argument("--no-pki", action="store_true", help="documents and rules only (what examples commit)")
    p.add_argument("--no-render", action="store_true", help="skip the SVG diagram (no Graphviz)")
    p.add_argument("--target", action="append", choices=["kubernetes", "compose", "ecs", "apprunner"],
                   help="an orchestrator's files instead of the appliance's, under OUT/<target>/ (repeatable; "
                   "docs/orchestrators.md)")
    p.add_argument("--image", help="the gateway image the orchestrator pulls (default: a placeholder registry)")
    p.add_argument("--namespace", help="Kubernetes namespace (default ai-gateway)")
    p.add_argument("--irsa-role-arn", help="EKS: IAM role of the gateway's service account (Bedrock, S3)")
    p = sub.add_parser("renew", help="re-issue certificates and CRLs expiring within the threshold")
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--threshold-days", type=int, help="default: ca.renew_before_days of the manifest")
    p = sub.add_parser("revoke", help="add a service's or client's certificate to the CRL")
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--client", help="client identity name")
    who.add_argument("--service", help="service name")
    p.add_argument("--reason", default="unspecified")
    p = sub.add_parser("audit", help="compare this host's nftables and listening sockets with the manifest")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--host", required=True, help="the manifest's name of the host being audited")
    p.add_argument(
        "--ruleset", type=Path, help="`nft -j list ruleset` output collected earlier (default: live)"
    )
    p.add_argument(
        "--proc-net", type=Path, default=Path("/proc/net"), help="socket tables (default /proc/net)"
    )
    p.add_argument("--pki-dir", type=Path,
                   help=f"installed certificates and CRLs whose expiry is audited (default {DEFAULT_PKI_DIR}, "
                   "if present)")
    p.add_argument("--expiry-warn-days", type=int,
                   help="a certificate or CRL expiring within this is a finding (default: ca.renew_before_days)")
    p.add_argument("--certificates-only", action="store_true",
                   help="audit only the certificates' expiry (no nftables or sockets: no root needed)")
    p.add_argument("--json", action="store_true", help="print findings as JSON")
    sub.add_parser("schema", help="print the manifest's JSON schema")


def _out(args, loaded) -> Path:
    return args.out if args.out is not None else DEFAULT_OUT / loaded.manifest.site.name


def run(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.appliance_command](args)
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _validate(args) -> int:
    from gateway.appliance.loader import load

    m = load(args.manifest).manifest
    print(
        f"{args.manifest}: valid ({len(m.hosts)} hosts, {len(m.services)} services, {len(m.clients)} "
        f"client identities, {len(m.flows)} flows)"
    )
    return 0


def _generate(args) -> int:
    from gateway.appliance.generate import generate
    from gateway.appliance.loader import load

    loaded = load(args.manifest)
    out = _out(args, loaded)
    if args.target:
        changed = _generate_targets(args, loaded, out)
    else:
        changed = generate(loaded, out, with_pki=not args.no_pki, render=not args.no_render)
    for c in changed:
        print(f"  {c}")
    print(f"{out}: {len(changed)} changed")
    return 0


def _generate_targets(args, loaded, out: Path) -> list[str]:
    from gateway.appliance import targets

    given = {k: v for k, v in {"image": args.image, "namespace": args.namespace,
                               "irsa_role_arn": args.irsa_role_arn}.items() if v}
    return targets.generate(loaded, out, list(dict.fromkeys(args.target)), targets.Options(**given))


def _renew(args) -> int:
    from gateway.appliance import pki
    from gateway.appliance.loader import load

    loaded = load(args.manifest)
    done = pki.ensure(loaded.manifest, _out(args, loaded) / "pki", threshold_days=args.threshold_days)
    print("\n".join(f"  re-issued {d}" for d in done) if done else "nothing to renew")
    return 0


def _revoke(args) -> int:
    from gateway.appliance import pki
    from gateway.appliance.loader import load

    loaded = load(args.manifest)
    kind, name = ("client", args.client) if args.client else ("server", args.service)
    serial = pki.revoke(loaded.manifest, _out(args, loaded) / "pki", kind, name, args.reason)
    print(
        f"revoked {kind} {name} serial {serial}; run `renew` to issue its replacement, then deploy "
        "crl-bundle.pem and reload what checks CRLs (HAProxy TLS fronts, PostgreSQL)"
    )
    return 0


def _audit(args) -> int:
    from gateway.appliance import audit
    from gateway.appliance.errors import ManifestError
    from gateway.appliance.loader import load

    m = load(args.manifest).manifest
    if args.host not in {h.name for h in m.hosts}:
        raise ManifestError(str(args.manifest), [f"--host {args.host!r} is not a host of the manifest"])
    warn = m.ca.renew_before_days if args.expiry_warn_days is None else args.expiry_warn_days
    certs, expiries = audit.audit_certificates(args.pki_dir or DEFAULT_PKI_DIR, warn, required=bool(args.pki_dir))
    report = audit.Report([], [])
    if not args.certificates_only:
        ruleset = json.loads(args.ruleset.read_text()) if args.ruleset else audit.read_ruleset()
        report = audit.audit(m, args.host, ruleset, audit.read_listeners(args.proc_net))
    report = audit.Report(report.findings + certs.findings, report.notes + certs.notes)
    if args.json:
        print(
            json.dumps(
                {
                    "host": args.host,
                    "clean": report.clean,
                    "findings": report.findings,
                    "notes": report.notes,
                    "certificates": [
                        {"name": e.name, "kind": e.kind, "subject": e.subject,
                         "not_after": e.not_after.isoformat(), "days": round(e.days, 2)} for e in expiries
                    ],
                },
                indent=2,
            )
        )
    else:
        for n in report.notes:
            print(f"note: {n}")
        for f in report.findings:
            print(f"DRIFT: {f}")
        verdict = "matches the manifest" if report.clean else f"{len(report.findings)} differences"
        print(f"{args.host}: {verdict}")
    return 0 if report.clean else 1


def _schema(args) -> int:
    from gateway.appliance.loader import json_schema

    sys.stdout.write(json_schema())
    return 0


_COMMANDS = {
    "validate": _validate,
    "generate": _generate,
    "renew": _renew,
    "revoke": _revoke,
    "audit": _audit,
    "schema": _schema,
}
