"""AWS clients that honour ``AWS_ENDPOINT_URL``: the embedded emulator, a user's LocalStack, or real AWS.

Every AWS call in prodml goes through :func:`client` so the same code runs in all three.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Literal, overload
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from prodml.settings import Settings, get_settings

if TYPE_CHECKING:
    # The stubs are a lint-time dependency: deployables (Glue, SageMaker, the service image) never import them.
    from botocore.client import BaseClient
    from types_boto3_ecr import ECRClient
    from types_boto3_glue import GlueClient
    from types_boto3_logs import CloudWatchLogsClient
    from types_boto3_s3 import S3Client
    from types_boto3_sagemaker import SageMakerClient
    from types_boto3_secretsmanager import SecretsManagerClient
    from types_boto3_sts import STSClient

_RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})
_EMULATOR_CREDENTIAL = "testing"


def _session(settings: Settings) -> boto3.session.Session:
    """A new session: the credentials and region ``settings`` and the environment give."""
    if settings.is_local_endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):
        # The emulator accepts any credentials; never let a laptop's real ones leak towards it.
        return boto3.session.Session(
            region_name=settings.region,
            aws_access_key_id=_EMULATOR_CREDENTIAL,
            aws_secret_access_key=_EMULATOR_CREDENTIAL,
        )
    return boto3.session.Session(region_name=settings.region)


# The environment that decides which credentials a session finds: a change makes a new session.
_CREDENTIAL_ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_SHARED: dict[tuple[str | None, ...], boto3.session.Session] = {}
_SHARED_LOCK = threading.Lock()


def _client(settings: Settings, service: str) -> BaseClient:
    """A client from the session shared by every client with the same region, endpoint kind and credential
    environment. A session parses each service's model once: a new session for every client cost 60-120 ms
    a client, in every command and every job. A session is not thread-safe, so clients are made under a
    lock (clients themselves are)."""
    key = (settings.region, str(settings.is_local_endpoint), *map(os.environ.get, _CREDENTIAL_ENVIRONMENT))
    with _SHARED_LOCK:
        session = _SHARED.get(key)
        if session is None:
            session = _SHARED[key] = _session(settings)
        return session.client(service, endpoint_url=settings.endpoint_url, config=_RETRIES)  # type: ignore[call-overload, no-any-return]  # one call serves every service; the overloads type each


# One overload per service prodml calls, so every caller gets the typed client of types-boto3.
@overload
def client(service: Literal["s3"], settings: Settings | None = None) -> S3Client: ...
@overload
def client(service: Literal["sagemaker"], settings: Settings | None = None) -> SageMakerClient: ...
@overload
def client(service: Literal["sts"], settings: Settings | None = None) -> STSClient: ...
@overload
def client(service: Literal["glue"], settings: Settings | None = None) -> GlueClient: ...
@overload
def client(service: Literal["logs"], settings: Settings | None = None) -> CloudWatchLogsClient: ...
@overload
def client(service: Literal["ecr"], settings: Settings | None = None) -> ECRClient: ...
@overload
def client(service: Literal["secretsmanager"], settings: Settings | None = None) -> SecretsManagerClient: ...
def client(service: str, settings: Settings | None = None) -> BaseClient:
    return _client(settings or get_settings(), service)


def boto3_session(settings: Settings | None = None) -> boto3.session.Session:
    """A session of its own for libraries that take one (awswrangler, which makes clients from it in its own
    threads). Endpoints come from ``AWS_ENDPOINT_URL``."""
    settings = settings or get_settings()
    return _session(settings)


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def read_s3_text(uri: str, settings: Settings | None = None) -> str:
    bucket, key = split_s3_uri(uri)
    body = client("s3", settings).get_object(Bucket=bucket, Key=key)["Body"]
    return body.read().decode("utf-8")


def s3_object_exists(s3: S3Client, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True
