"""Publish a trained artifact where the gateway's hot reload watches (docs/hot-reload.md):
a local `model_path` (written next to it, then renamed over it: atomic on one filesystem), or the
S3 object `model_s3_bucket`/`model_s3_key` (one PUT is atomic; the new ETag triggers the reload).
The S3 client is the gateway's own (`gateway.reload.s3.make_client`: minio SDK, mTLS-capable).

Callers publish only after training finished and the evaluation gate passed
(`gateway.mlops.pipeline`); this module never decides that on its own.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

from gateway.config.models import S3Settings
from gateway.mlops.errors import MLOpsError
from gateway.routing.artifact import load_artifact


def _verified(artifact: Path) -> bytes:
    load_artifact(artifact)  # refuse to publish what the gateway would refuse to load
    return Path(artifact).read_bytes()


def publish_file(artifact: Path, target: Path) -> Path:
    data = _verified(artifact)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".publish-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def publish_s3(artifact: Path, settings: S3Settings, bucket: str, key: str,
               report: Path | None = None) -> str:
    """Upload the artifact (and its evaluation report as `<key>.evaluation.json`); returns the ETag."""
    from gateway.reload.s3 import upload_client

    data = _verified(artifact)
    client = upload_client(settings)
    try:
        if report is not None:
            body = Path(report).read_bytes()
            client.put_object(bucket, f"{key}.evaluation.json", io.BytesIO(body), len(body),
                              content_type="application/json")
        result = client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/x-tar")
    except Exception as exc:  # the SDK raises S3Error, urllib3 and ssl errors alike
        code = getattr(exc, "code", None) or type(exc).__name__
        raise MLOpsError(f"publishing to s3://{bucket}/{key} failed: {code}: {exc}") from exc
    return result.etag


def copy_report(report: Path, target: Path) -> None:
    shutil.copyfile(report, Path(str(target) + ".evaluation.json"))
