"""Runtime settings, one pydantic-settings class for every deployable.

Values come from the environment (``PRODML_*`` plus the standard ``AWS_*`` names) and, optionally, from the
env file that ``make apply`` writes from ``terraform output`` (``PRODML_ENV_FILE``).
"""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from prodml import naming

EMULATOR_HOST = "127.0.0.1"
EMULATOR_PORT = 4566


def is_loopback_host(host: str | None) -> bool:
    """Whether a host name (as parsed from a URL or a bind address) can only mean this machine: exactly
    ``localhost`` or a loopback IP address. Never a substring test: ``localhost-gateway.example.com`` is remote."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRODML_",
        env_file=os.environ.get("PRODML_ENV_FILE"),
        extra="ignore",
        frozen=True,
        # Settings(endpoint_url=...) sets the field too (beside its environment names), rather than being
        # silently ignored.
        populate_by_name=True,
    )

    project: str = "prodml"
    env: str = "dev"
    region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("PRODML_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    # Unset means real AWS. The demo and the tests point it at the embedded emulator.
    endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("PRODML_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    state_dir: Path = Path(".prodml")

    @property
    def is_real_aws(self) -> bool:
        return not self.endpoint_url

    @property
    def endpoint_host(self) -> str | None:
        """The host the AWS endpoint URL names (parsed, so a path, query or user part never counts)."""
        return urlparse(self.endpoint_url).hostname if self.endpoint_url else None

    @property
    def is_local_endpoint(self) -> bool:
        """The endpoint is on this machine (the emulator): decides whether prodml starts the emulator and
        hands it dummy credentials, and whether the inference service may run without an API key."""
        return is_loopback_host(self.endpoint_host)

    @cached_property
    def emulator_port(self) -> int:
        if self.endpoint_url:
            parsed = urlparse(self.endpoint_url)
            if parsed.port:
                return parsed.port
        return EMULATOR_PORT

    def bucket(self, zone: str) -> str:
        return naming.bucket_name(self.project, self.env, zone)

    @property
    def glue_database(self) -> str:
        return naming.glue_database_name(self.project, self.env)

    @property
    def ecr_repository(self) -> str:
        return naming.ecr_repository_name(self.project, self.env)

    def log_group(self, purpose: str) -> str:
        return naming.log_group_name(self.project, self.env, purpose)

    def model_package_group(self, dataset: str) -> str:
        return naming.model_package_group_name(self.project, self.env, dataset)


def get_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
