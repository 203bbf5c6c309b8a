"""Which models serve: the champion from the registry, an optional canary challenger, and hot swaps.

The request path only ever reads ``store.champion`` / ``store.challenger`` (one attribute read each, atomic
under the GIL). Everything slow — listing the registry, downloading, verifying, opening an ONNX session,
warming — happens in :meth:`ModelStore.refresh`, off the request path, and the new model is published with
one assignment only once it has answered a warm-up prediction. A request that started on the old model
finishes on it. A rollback in the registry (the champion rejected) is just another champion change; recent
models stay loaded so switching back to one is instant.

This module never serves a model that failed verification, and never unloads the only model it has.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from prodml import aws
from prodml.contract import Contract, load_contract
from prodml.registry import ModelRegistry, ModelVersion, RegistryError

from ..core.config import InferenceSettings
from .model import LoadedModel, ModelLoadError, load_artifact
from .schema import example_row

log = logging.getLogger("prodml.inference.store")

KEEP_LOADED = 3  # the champion, the one before it (instant rollback), and the challenger


class ModelStore:
    def __init__(
        self,
        settings: InferenceSettings,
        *,
        on_load: Callable[[LoadedModel, str], None] | None = None,
    ):
        self.settings = settings
        self.champion: LoadedModel | None = None
        self.challenger: LoadedModel | None = None
        self.not_ready_reason = "model not loaded yet"
        self.last_refresh: float | None = None
        self.swaps = 0
        self._loaded: OrderedDict[int, LoadedModel] = OrderedDict()
        self._failed: dict[int, str] = {}
        self._lock = threading.Lock()  # one refresh at a time
        self._on_load = on_load
        self.pinned_contract: Contract | None = (
            load_contract(settings.contract_path) if settings.contract_path else None
        )
        self._registry: ModelRegistry | None = None
        self._s3 = None

    # ---- registry access ----------------------------------------------------------------------------
    @property
    def registry(self) -> ModelRegistry:
        if self._registry is None:
            self._registry = ModelRegistry(aws.client("sagemaker", self.settings), self.settings.group)
        return self._registry

    @property
    def s3(self):
        if self._s3 is None:
            self._s3 = aws.client("s3", self.settings)
        return self._s3

    # ---- loading ------------------------------------------------------------------------------------
    def _load(self, version: ModelVersion, variant: str) -> LoadedModel:
        if version.version in self._loaded:
            self._loaded.move_to_end(version.version)
            return self._loaded[version.version]
        if version.version in self._failed:
            raise ModelLoadError(self._failed[version.version])
        if not version.model_data_url:
            raise ModelLoadError(f"model v{version.version} has no ModelDataUrl")
        try:
            bucket, key = aws.split_s3_uri(version.model_data_url)
            self.settings.model_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.settings.model_dir) as tmp:
                tarball = Path(tmp) / "model.tar.gz"
                self.s3.download_file(bucket, key, str(tarball))
                model = load_artifact(
                    tarball,
                    version.version,
                    work_dir=self.settings.model_dir,
                    use_onnx=self.settings.use_onnx,
                    pinned_contract=self.pinned_contract,
                )
            model.predict([model.request_model(**example_row(model.contract)).model_dump()])
        except ModelLoadError as exc:
            self._failed[version.version] = str(exc)
            raise
        except Exception as exc:
            reason = f"model v{version.version} cannot be loaded: {type(exc).__name__}: {exc}"
            self._failed[version.version] = reason
            raise ModelLoadError(reason) from None
        log.info(
            "model loaded",
            extra={
                "model_version": model.version,
                "variant": variant,
                "backend": model.backend,
                "load_seconds": round(model.load_seconds, 3),
            },
        )
        if self._on_load:
            self._on_load(model, variant)
        self._loaded[version.version] = model
        self._evict()
        return model

    def _evict(self) -> None:
        keep = {m.version for m in (self.champion, self.challenger) if m is not None}
        while len(self._loaded) > KEEP_LOADED:
            oldest = next((v for v in self._loaded if v not in keep), None)
            if oldest is None:
                break
            self._loaded.pop(oldest).close()

    def refresh(self) -> bool:
        """Resolve the champion (and challenger) and swap in any change. True when something changed."""
        with self._lock:
            changed = False
            try:
                champion_version = self.registry.champion()
            except (RegistryError, Exception) as exc:
                log.warning("registry unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
                if self.champion is None:
                    self.not_ready_reason = f"model registry {self.settings.group!r} unavailable"
                return False
            self.last_refresh = time.time()
            if champion_version is None:
                if self.champion is None:
                    self.not_ready_reason = (
                        f"no approved model in model package group {self.settings.group!r}"
                    )
                else:
                    log.warning("registry has no approved model; keeping the loaded one")
            elif self.champion is None or self.champion.version != champion_version.version:
                try:
                    model = self._load(champion_version, "champion")
                except ModelLoadError as exc:
                    log.error("champion not loaded", extra={"error": str(exc)})
                    if self.champion is None:
                        self.not_ready_reason = str(exc)
                else:
                    previous = self.champion
                    self.champion = model  # the swap: one reference assignment
                    self.swaps += previous is not None
                    changed = True
                    log.info(
                        "champion swapped" if previous else "champion serving",
                        extra={
                            "model_version": model.version,
                            "previous_version": previous.version if previous else None,
                        },
                    )
            changed |= self._refresh_challenger()
            self._evict()
            return changed

    def _refresh_challenger(self) -> bool:
        wanted = self.settings.canary_version
        if wanted is None or self.settings.canary_fraction <= 0:
            return False
        if self.champion is not None and self.champion.version == wanted:
            if self.challenger is not None:
                self.challenger = None  # promoted: the canary is now everybody's model
                return True
            return False
        if self.challenger is not None and self.challenger.version == wanted:
            return False
        try:
            self.challenger = self._load(self.registry.describe(wanted), "challenger")
            return True
        except (ModelLoadError, RegistryError) as exc:
            log.error("challenger not loaded; canary off", extra={"error": str(exc)})
            return False

    def close(self) -> None:
        for model in self._loaded.values():
            model.close()
        self._loaded.clear()
