"""The inference service's settings: one pydantic-settings class, read from the environment.

It extends the shared :class:`prodml.settings.Settings` (project, env, region, endpoint, naming), so bucket
and model package group names come from the one naming convention. Every name is ``PRODML_<FIELD>`` unless
an alias says otherwise (``REDIS_URL``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from prodml.settings import Settings, is_loopback_host


def _knowledge_service_environment() -> dict[str, str]:
    """knowledge.yaml's ``service_environment``: the variable names Terraform gives the service."""
    from importlib import resources

    import yaml

    text = resources.files("prodml.jobs").joinpath("knowledge.yaml").read_text(encoding="utf-8")
    names: dict[str, str] = yaml.safe_load(text)["service_environment"]
    return names


_KNOWLEDGE_ENV: Final = _knowledge_service_environment()
AUTH_API_KEY: Final = "api_key"
AUTH_NONE: Final = "none"


class InferenceSettings(Settings):
    # A refusal at start-up is logged: it must name the problem, never echo the input (the API key is in it).
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    # ---- registry -----------------------------------------------------------------------------------
    dataset: str | None = Field(
        default=None, description="Dataset name; the model package group is {project}-{env}-{dataset}."
    )
    registry_group: str | None = Field(
        default=None, description="Model package group, when it does not follow the naming convention."
    )
    contract_path: Path | None = Field(
        default=None,
        description="Pin the contract: a model whose contract.yaml differs (by fingerprint) is refused. "
        "Unset: serve each model with the contract it was trained on.",
    )
    poll_interval_s: float = Field(default=30.0, gt=0, description="How often the registry is polled.")
    model_dir: Path = Field(default=Path("/tmp/prodml-models"), description="Where artifacts are unpacked.")
    use_onnx: bool = Field(default=True, description="Use model.onnx when the artifact has one.")

    # ---- security -----------------------------------------------------------------------------------
    auth: Literal["api_key", "none"] = Field(
        default=AUTH_API_KEY,
        description="api_key: every request but the probes needs X-API-Key. none: no key, allowed only for a "
        "run bound to loopback against an AWS endpoint on this machine (the emulator), with no key configured.",
    )
    api_key: SecretStr | None = Field(default=None, description="The API key clients send in X-API-Key.")
    api_key_secret: str | None = Field(
        default=None, description="Name of the Secrets Manager secret holding the API key."
    )
    bind: str | None = Field(
        default=None,
        description="gunicorn's bind address (gunicorn.conf.py reads it too); unset, gunicorn listens on every "
        "interface.",
    )
    # Replaced by `auth`: it used to be guessed from the endpoint URL. Read only to refuse it (see _usable).
    local_mode: str | bool | None = Field(default=None, exclude=True)
    max_body_bytes: int = Field(default=1 << 20, gt=0, description="Larger request bodies get 413.")
    max_batch_rows: int = Field(default=1000, gt=0, description="Most rows one /predict/batch takes.")

    # ---- prediction ---------------------------------------------------------------------------------
    micro_batch_rows: int = Field(
        default=32,
        ge=1,
        description="Most single-row requests predicted in one model call when they arrive together "
        "(micro-batching); 1 turns it off.",
    )

    # ---- cache --------------------------------------------------------------------------------------
    cache_enabled: bool = True
    cache_ttl_s: float = Field(default=300.0, gt=0)
    cache_max_entries: int = Field(default=100_000, gt=0, description="In-memory LRU size, per worker.")
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "PRODML_REDIS_URL"), description="Use Redis."
    )

    # ---- canary -------------------------------------------------------------------------------------
    canary_version: int | None = Field(default=None, ge=1, description="Challenger model package version.")
    canary_fraction: float = Field(default=0.10, ge=0, le=1, description="Share of keys the challenger gets.")
    canary_key_header: str = Field(
        default="X-Request-Key", description="Header whose value pins a caller to one variant."
    )

    # ---- knowledge base (POST /ask) ---------------------------------------------------------------------
    knowledge_base: str | None = Field(
        default=None,
        description="Knowledge contract name whose promoted index /ask answers from; unset: /ask answers 503.",
    )
    knowledge_contracts_dir: Path | None = Field(
        default=None,
        description="Where knowledge contracts are (default: contracts/knowledge in the working directory, "
        "as in the image, else the checkout's).",
    )
    knowledge_prompts_dir: Path | None = Field(
        default=None, description="Where prompt templates are (default: prompts/ beside contracts/)."
    )
    knowledge_poll_interval_s: float = Field(
        default=30.0, gt=0, description="How often the promoted index pointer (CURRENT) is polled."
    )
    knowledge_first_load_wait_s: float = Field(
        default=15.0,
        ge=0,
        description="How long a starting worker waits for its first index before serving without it (/ask "
        "503 until it is loaded); keep it under gunicorn's worker timeout (PRODML_WORKER_TIMEOUT, 30 s).",
    )
    knowledge_answerer: Literal["auto", "extractive", "bedrock"] = Field(
        default="auto",
        description="auto: Bedrock Converse on real AWS, the offline extractive answerer anywhere else.",
    )
    knowledge_canary_version: str | None = Field(
        default=None, description="Challenger index version for a retrieval canary."
    )
    knowledge_canary_fraction: float = Field(
        default=0.10, ge=0, le=1, description="Share of request keys the challenger index gets."
    )
    # Named as src/prodml/jobs/knowledge.yaml's service_environment says (Terraform sets them from the
    # guardrail it creates).
    knowledge_guardrail_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices(_KNOWLEDGE_ENV["guardrail_identifier"]),
        description="Bedrock Guardrail identifier (ARN or id) the Converse answerer applies.",
    )
    knowledge_guardrail_version: str | None = Field(
        default=None,
        validation_alias=AliasChoices(_KNOWLEDGE_ENV["guardrail_version"]),
        description="The guardrail's numbered version.",
    )

    # ---- capture ------------------------------------------------------------------------------------
    capture_fraction: float = Field(default=0.10, ge=0, le=1, description="Share of predictions captured.")
    capture_flush_s: float = Field(default=30.0, gt=0, description="Longest a captured record waits.")
    capture_batch_rows: int = Field(default=500, gt=0, description="Flush as soon as this many wait.")
    capture_queue_rows: int = Field(default=20_000, gt=0, description="Beyond this, records are dropped.")

    # ---- operations ---------------------------------------------------------------------------------
    service_name: str = "prodml-inference"
    access_log: bool = Field(default=True, description="One JSON (and EMF) line per request.")
    fast_predict: bool = Field(
        default=True,
        description="Answer POST /predict in the middleware, without FastAPI's routing (same response).",
    )
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _usable(self) -> InferenceSettings:
        if not self.dataset and not self.registry_group:
            raise ValueError("set PRODML_DATASET (or PRODML_REGISTRY_GROUP) so the service knows its models")
        if self.local_mode is not None:
            raise ValueError(
                "PRODML_LOCAL_MODE is no longer read: set PRODML_AUTH=api_key (the default) or, for a local "
                "run against the emulator, PRODML_AUTH=none"
            )
        if self.api_key is not None and not self.api_key.get_secret_value().strip():
            raise ValueError("PRODML_API_KEY is set but empty: set the key, or unset it")
        key_configured = self.api_key is not None or bool(self.api_key_secret)
        if self.auth == AUTH_NONE:
            if key_configured:
                raise ValueError(
                    "PRODML_AUTH=none contradicts the API key configured (PRODML_API_KEY or "
                    "PRODML_API_KEY_SECRET): a configured key is always enforced; unset one of them"
                )
            if not self.is_local_endpoint:
                raise ValueError(
                    "PRODML_AUTH=none is only for a local run against the emulator, but the AWS endpoint is "
                    f"{self.endpoint_url or 'real AWS'}: set PRODML_API_KEY or PRODML_API_KEY_SECRET instead"
                )
            if not self.binds_loopback_only:
                raise ValueError(
                    f"PRODML_AUTH=none would serve without an API key on {self.bind or 'every interface'}: "
                    "bind to loopback (PRODML_BIND=127.0.0.1:<port>) or set an API key"
                )
        elif not key_configured:
            raise ValueError(
                "an API key is required (PRODML_AUTH=api_key, the default): set PRODML_API_KEY or "
                "PRODML_API_KEY_SECRET, or PRODML_AUTH=none for a loopback-bound local run on the emulator"
            )
        version = self.knowledge_guardrail_version
        if self.knowledge_guardrail_id and not (version and version.isdigit()):
            # Never DRAFT: it changes under the service, and the IAM grant names the numbered version only.
            raise ValueError(
                f"{_KNOWLEDGE_ENV['guardrail_identifier']} is set, so {_KNOWLEDGE_ENV['guardrail_version']} must "
                f"be the guardrail's numbered version (got {version!r}; Terraform's knowledge module outputs it)"
            )
        return self

    @property
    def binds_loopback_only(self) -> bool:
        """gunicorn listens on this machine only: a loopback address, or a unix socket."""
        if self.bind is None:
            return False  # gunicorn.conf.py's default, 0.0.0.0
        if self.bind.startswith("unix:"):
            return True
        host = self.bind.rpartition(":")[0] if ":" in self.bind else self.bind
        return is_loopback_host(host)

    @property
    def is_local(self) -> bool:
        """No API key is asked for: PRODML_AUTH=none, which validation allows only on a loopback-bound run
        against the emulator with no key configured (a configured key is always enforced)."""
        return self.auth == AUTH_NONE

    @property
    def group(self) -> str:
        return self.registry_group or self.model_package_group(self.dataset or "")


@lru_cache
def get_inference_settings() -> InferenceSettings:
    return InferenceSettings()
