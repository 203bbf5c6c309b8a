"""AWS clients that honour ``AWS_ENDPOINT_URL``: the embedded emulator, a user's LocalStack, or real AWS.

Every AWS call in prodml goes through :func:`client` so the same code runs in all three.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from prodml.settings import Settings, get_settings

_RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})
_EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _session_kwargs(settings: Settings) -> dict:
    kwargs: dict = {"region_name": settings.region}
    if settings.is_local_endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):
        # The emulator accepts any credentials; never let a laptop's real ones leak towards it.
        kwargs.update(_EMULATOR_CREDENTIALS)
    return kwargs


def client(service: str, settings: Settings | None = None):
    settings = settings or get_settings()
    session = boto3.session.Session(**_session_kwargs(settings))
    return session.client(service, endpoint_url=settings.endpoint_url, config=_RETRIES)


def boto3_session(settings: Settings | None = None) -> boto3.session.Session:
    """A session for libraries that take one (awswrangler). Endpoints come from ``AWS_ENDPOINT_URL``."""
    settings = settings or get_settings()
    return boto3.session.Session(**_session_kwargs(settings))


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def read_s3_text(uri: str, settings: Settings | None = None) -> str:
    bucket, key = split_s3_uri(uri)
    body = client("s3", settings).get_object(Bucket=bucket, Key=key)["Body"]
    return body.read().decode("utf-8")


def s3_object_exists(s3, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
