"""The operator's side of the MLOps loop on the site test, from the users' network through the load
balancer over TLS (run in the client namespace by tests/ansible/test_site.py; prints JSON):

- `traffic`: each query to the routed group `auto`: [{query, status, routed, id}];
- `feedback`: one user label through POST /gateway/feedback;
- `shadow`: `gateway.mlops.shadow.replay` of the queries to every candidate group, scored by reference
  answers, written as capture and feedback spans to an OTLP/JSON file (the collector's format).
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
from pathlib import Path

import httpx

USER_ADDRESS = "198.19.20.5"
NODE = "https://198.18.0.10"  # the load balancer's certificate names this address too


def client(ca: str, key: str) -> httpx.Client:
    context = ssl.create_default_context(cafile=ca)
    transport = httpx.HTTPTransport(local_address=USER_ADDRESS, verify=context, retries=0)
    return httpx.Client(base_url=NODE, transport=transport, timeout=60,
                        headers={"Authorization": f"Bearer {key}"})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["traffic", "feedback", "shadow"])
    parser.add_argument("--ca", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--queries", type=Path, help="JSON list of queries")
    parser.add_argument("--references", type=Path, help="JSON {query: reference answer}")
    parser.add_argument("--candidates", default="demo-small,demo-coder,demo-large")
    parser.add_argument("--out", type=Path, help="shadow: the OTLP/JSON file to write")
    parser.add_argument("--response-id")
    parser.add_argument("--score", type=float)
    args = parser.parse_args()
    with client(args.ca, args.key) as http:
        if args.command == "traffic":
            rows = []
            for query in json.loads(args.queries.read_text()):
                answer = http.post("/v1/chat/completions",
                                   json={"model": "auto", "messages": [{"role": "user", "content": query}]})
                body = answer.json() if answer.status_code == 200 else {}
                rows.append({"query": query, "status": answer.status_code, "id": body.get("id"),
                             "routed": answer.headers.get("x-gateway-routed-model"),
                             "content": (body.get("choices") or [{}])[0].get("message", {}).get("content")})
            json.dump(rows, sys.stdout)
        elif args.command == "feedback":
            answer = http.post("/gateway/feedback", json={"response_id": args.response_id, "score": args.score})
            json.dump({"status": answer.status_code, "body": answer.text[:300]}, sys.stdout)
        else:
            from gateway.mlops.shadow import ReferenceScorer, replay

            references = json.loads(args.references.read_text())
            counts = replay(http, sorted(references), args.candidates.split(","), ReferenceScorer(references), args.out)
            json.dump(counts, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
