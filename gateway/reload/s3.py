"""The one module that talks to S3 (the `minio` SDK: works with MinIO, Ceph RGW, SeaweedFS).

Its settings come from a config's `s3:` block or `GATEWAY_S3_*` (`gateway.config.settings`); keys
left out fall back to `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, as other S3 clients do.
"""

from __future__ import annotations

import os
import ssl

import urllib3
from minio import Minio

from gateway.config.models import S3Settings

# A publisher's client (artifacts of tens of MB, multipart): a store may take seconds to answer a part
# (SeaweedFS grows a volume on a collection's first write), and a part's PUT is idempotent, so it waits
# longer and retries. The reload loop keeps the short, retry-free default.
UPLOAD_TIMEOUT = 60.0
UPLOAD_RETRIES = 2


def make_client(settings: S3Settings, timeout: float = 5.0, retries: int = 0) -> Minio:
    """A client that verifies the server against the site CA and presents a client certificate.

    Retries are off by default: the reload loop has its own back-off, and a hung store must not stall it.
    """
    pool: dict = {
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": urllib3.Retry(total=retries, raise_on_status=False),
    }
    if settings.secure:
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if settings.cert_file and settings.key_file:
            context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
        pool["ssl_context"] = context
        if settings.tls_server_name:
            pool["server_hostname"] = settings.tls_server_name
            pool["assert_hostname"] = settings.tls_server_name
    http_client = urllib3.PoolManager(**pool)
    return Minio(
        settings.endpoint,
        access_key=settings.access_key or os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=settings.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        secure=settings.secure,
        region=settings.region,
        http_client=http_client,
    )


def upload_client(settings: S3Settings) -> Minio:
    """The client that publishes: longer read timeout, idempotent PUTs retried (`UPLOAD_TIMEOUT`)."""
    return make_client(settings, timeout=UPLOAD_TIMEOUT, retries=UPLOAD_RETRIES)
