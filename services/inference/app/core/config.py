"""The inference service's settings: one pydantic-settings class, read from the environment.

It extends the shared :class:`prodml.settings.Settings` (project, env, region, endpoint, naming), so bucket
and model package group names come from the one naming convention. Every name is ``PRODML_<FIELD>`` unless
an alias says otherwise (``REDIS_URL``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator

from prodml.settings import Settings


class InferenceSettings(Settings):
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
    local_mode: bool | None = Field(
        default=None,
        description="Local mode skips the API key. Unset: local when the AWS endpoint is on this machine.",
    )
    api_key: SecretStr | None = Field(default=None, description="The API key clients send in X-API-Key.")
    api_key_secret: str | None = Field(
        default=None, description="Name of the Secrets Manager secret holding the API key."
    )
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
        if not self.is_local and self.api_key is None and not self.api_key_secret:
            raise ValueError(
                "outside local mode an API key is required: set PRODML_API_KEY or PRODML_API_KEY_SECRET"
            )
        return self

    @property
    def is_local(self) -> bool:
        return self.is_local_endpoint if self.local_mode is None else self.local_mode

    @property
    def group(self) -> str:
        return self.registry_group or self.model_package_group(self.dataset or "")


@lru_cache
def get_inference_settings() -> InferenceSettings:
    return InferenceSettings()
