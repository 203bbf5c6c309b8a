"""Which models serve: the champion from the registry, an optional canary challenger, and hot swaps.

The request path only ever reads ``store.champion`` / ``store.challenger`` (one attribute read each, atomic
under the GIL). Everything slow — listing the registry, downloading, verifying, opening an ONNX session,
warming — happens in :meth:`ModelStore.refresh`, off the request path, and the new model is published with
one assignment only once it has answered a warm-up prediction. A request that started on the old model
finishes on it. A rollback in the registry (the champion rejected) is just another champion change; recent
models stay loaded so switching back to one is instant.

The registry is the control plane; serving must outlive its outage. Every model that serves is also kept as
a verified local copy (:mod:`.last_known_good`), so a worker (re)started while the registry or the artifact
store is unreachable serves the last known good champion instead of nothing, and says so. Whenever the
registry answers, its answer wins: a copy is only served then if the registry still approves it.

This module never serves a model that failed verification, and never unloads the only model it has.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from prodml import aws
from prodml.contract import Contract, load_contract
from prodml.registry import APPROVED, ModelRegistry, ModelVersion

from ..core.config import InferenceSettings
from .last_known_good import CopyError, LastKnownGood, LocalCopy
from .model import LoadedModel, ModelLoadError, load_artifact
from .schema import example_row

log = logging.getLogger("prodml.inference.store")

KEEP_LOADED = 3  # the champion, the one before it (instant rollback), and the challenger
LAST_KNOWN_GOOD_DIR = "last-known-good"  # under PRODML_MODEL_DIR: the task's disk, shared by its workers

Source = Literal["registry", "last_known_good"]
REGISTRY: Final = "registry"  # the registry's current answer
LAST_KNOWN_GOOD: Final = "last_known_good"  # a verified local copy the registry has not confirmed
SOURCES: tuple[Source, ...] = (REGISTRY, LAST_KNOWN_GOOD)


class ArtifactUnavailable(ModelLoadError):
    """The artifact could not be fetched (the store unreachable, a disk error): worth another try."""


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


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
        # "no_model" when the registry answered that it has no approved model (a first deploy: the service is
        # healthy and says so); "not_ready" for anything else that keeps it from answering.
        self.not_ready_code = "not_ready"
        self.last_refresh: float | None = None
        self.swaps = 0
        # Where each variant's model came from, and what this worker last heard from the registry.
        self.sources: dict[str, Source] = {}
        self.registry_reachable: bool | None = None  # None: not asked yet
        self.registry_unreachable_since: float | None = None
        self.registry_error: str | None = None
        self._fallback_cause: str | None = None  # why a copy serves although the registry answers
        self._fallback_copy: LocalCopy | None = None  # the copy serving as champion, if one does
        self._asking_since: float | None = None  # a registry call in flight, since
        self.last_known_good = LastKnownGood(settings.model_dir / LAST_KNOWN_GOOD_DIR / settings.group)
        self._loaded: OrderedDict[int, LoadedModel] = OrderedDict()
        self._failed: dict[int, str] = {}
        self._lock = threading.Lock()  # one refresh at a time
        # Publishing a model (and the loaded set) is also done by serve_last_known_good, which must not
        # wait for a refresh stuck on an unresponsive registry.
        self._publish_lock = threading.Lock()
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

    def _registry_answered(self) -> None:
        if self.registry_reachable is False:
            log.info("model registry reachable again", extra={"registry_group": self.settings.group})
        self.registry_reachable = True
        self.registry_unreachable_since = None
        self.registry_error = None
        self.last_refresh = time.time()

    def _registry_failed(self, error: str, since: float | None = None) -> None:
        if self.registry_unreachable_since is None:
            self.registry_unreachable_since = since or time.time()
        self.registry_reachable = False
        self.registry_error = error
        log.warning("registry unavailable", extra={"error": error})

    def registry_overdue(self, after_s: float) -> bool:
        """Count a registry call unanswered for ``after_s`` as the registry being unreachable: a call that
        hangs would otherwise leave it reported reachable until the client gives up, minutes later."""
        asking = self._asking_since
        if asking is None or time.time() - asking < after_s:
            return False
        if self.registry_reachable is not False:
            self._registry_failed(f"no answer for {after_s:.0f} s", since=asking)
        return True

    # ---- loading ------------------------------------------------------------------------------------
    def _open(self, tarball: Path, version: int, variant: str, origin: str) -> LoadedModel:
        """Unpack, verify, load and warm ``tarball``; any failure is a ModelLoadError."""
        try:
            self.settings.model_dir.mkdir(parents=True, exist_ok=True)
            model = load_artifact(
                tarball,
                version,
                work_dir=self.settings.model_dir,
                use_onnx=self.settings.use_onnx,
                pinned_contract=self.pinned_contract,
            )
            try:
                model.predict([model.request_model(**example_row(model.contract)).model_dump()])
            except Exception:
                model.close()
                raise
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"model v{version} cannot be loaded: {_error(exc)}") from None
        log.info(
            "model loaded",
            extra={
                "model_version": model.version,
                "variant": variant,
                "backend": model.backend,
                "artifact": origin,
                "load_seconds": round(model.load_seconds, 3),
            },
        )
        if self._on_load:
            self._on_load(model, variant)
        return model

    def _load(self, version: ModelVersion, variant: str) -> LoadedModel:
        """The registry's ``version``, loaded: from the verified local copy when there is one (no download,
        and no dependency on the artifact store), else downloaded and then kept as a local copy."""
        if version.version in self._loaded:
            self._loaded.move_to_end(version.version)
            return self._loaded[version.version]
        if version.version in self._failed:
            raise ModelLoadError(self._failed[version.version])
        if not version.model_data_url:
            raise ModelLoadError(f"model v{version.version} has no ModelDataUrl")
        model = None
        local = self.last_known_good.artifact_for(version)
        if local is not None:
            try:
                model = self._open(local, version.version, variant, "local copy")
            except ModelLoadError as exc:  # e.g. removed while being read: the artifact store decides
                log.warning("local copy not loaded; downloading", extra={"error": str(exc)})
        if model is None:
            model = self._download(version, variant)
        with self._publish_lock:
            self._loaded[version.version] = model
            self._evict()
        return model

    def _download(self, version: ModelVersion, variant: str) -> LoadedModel:
        url = version.model_data_url or ""
        try:
            bucket, key = aws.split_s3_uri(url)
        except ValueError as exc:
            self._failed[version.version] = f"model v{version.version}: {exc}"
            raise ModelLoadError(self._failed[version.version]) from None
        try:
            self.settings.model_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.settings.model_dir) as tmp:
                tarball = Path(tmp) / "model.tar.gz"
                try:
                    self.s3.download_file(bucket, key, str(tarball))
                except Exception as exc:
                    # Not remembered as failed: the next poll tries again (the store may be back).
                    raise ArtifactUnavailable(
                        f"model v{version.version} cannot be downloaded from {url}: {_error(exc)}"
                    ) from None
                try:
                    model = self._open(tarball, version.version, variant, url)
                except ModelLoadError as exc:
                    self._failed[version.version] = str(exc)
                    raise
                try:
                    self.last_known_good.keep(version, tarball, model.contract.fingerprint)
                except OSError as exc:  # a full disk costs the fallback, never the model
                    log.warning(
                        "local copy not kept", extra={"model_version": version.version, "error": _error(exc)}
                    )
        except OSError as exc:
            raise ArtifactUnavailable(f"model v{version.version} cannot be fetched: {_error(exc)}") from None
        return model

    def _evict(self) -> None:
        keep = {m.version for m in (self.champion, self.challenger) if m is not None}
        while len(self._loaded) > KEEP_LOADED:
            oldest = next((v for v in self._loaded if v not in keep), None)
            if oldest is None:
                break
            self._loaded.pop(oldest).close()

    # ---- publishing ---------------------------------------------------------------------------------
    def _publish(
        self, variant: str, model: LoadedModel | None, source: Source, *, unless_serving: bool = False
    ) -> LoadedModel | None:
        """Make ``model`` the variant's (one reference assignment); returns the one it replaced (with
        ``unless_serving``, the one serving, left in place)."""
        with self._publish_lock:
            previous = self.champion if variant == "champion" else self.challenger
            if unless_serving and previous is not None:
                return previous
            if variant == "champion":
                self.champion = model
            else:
                self.challenger = model
            if model is None:
                self.sources.pop(variant, None)
            else:
                self.sources[variant] = source
                self._loaded[model.version] = model
                self._loaded.move_to_end(model.version)
        if source == REGISTRY:
            try:  # what the workers serve on the registry's word is what a restarted one falls back to
                self.last_known_good.publish(variant, model.version if model else None)
            except OSError as exc:
                log.warning("last known good not recorded", extra={"error": _error(exc)})
        return previous

    def refresh(self) -> bool:
        """Resolve the champion (and challenger) and swap in any change. True when something changed."""
        with self._lock:
            changed = False
            self._asking_since = time.time()
            try:
                champion_version = self.registry.champion()
            except Exception as exc:
                self._asking_since = None
                self._registry_failed(_error(exc))
                if self.champion is None:
                    self.not_ready_code = "not_ready"
                    self.not_ready_reason = (
                        f"model registry {self.settings.group!r} unavailable ({self.registry_error})"
                    )
                    return self._fall_back(registry_answered=False)
                return False
            self._asking_since = None
            self._registry_answered()
            if champion_version is None:
                if self.champion is None:
                    self.not_ready_code = "no_model"
                    self.not_ready_reason = (
                        f"no approved model in model package group {self.settings.group!r}"
                    )
                else:
                    log.warning("registry has no approved model; keeping the loaded one")
            elif self.champion is not None and self.champion.version == champion_version.version:
                if self.sources.get("champion") != REGISTRY:  # the copy serving is the registry's champion
                    self._publish("champion", self.champion, REGISTRY)
                    self._fallback_cause = None
                    changed = True
            else:
                try:
                    model = self._load(champion_version, "champion")
                except ModelLoadError as exc:
                    log.error("champion not loaded", extra={"error": str(exc)})
                    if self.champion is None:
                        self.not_ready_code = "not_ready"
                        self.not_ready_reason = str(exc)
                        changed |= self._fall_back(registry_answered=True, cause=str(exc))
                    elif self.sources.get("champion") == LAST_KNOWN_GOOD:
                        self._fallback_cause = str(exc)
                else:
                    previous = self._publish("champion", model, REGISTRY)
                    self._fallback_cause = None
                    self.swaps += previous is not None and previous is not model
                    changed = True
                    log.info(
                        "champion swapped" if previous else "champion serving",
                        extra={
                            "model_version": model.version,
                            "previous_version": previous.version if previous else None,
                        },
                    )
            changed |= self._refresh_challenger()
            with self._publish_lock:
                self._evict()
            return changed

    def _refresh_challenger(self) -> bool:
        wanted = self.settings.canary_version
        if wanted is None or self.settings.canary_fraction <= 0:
            return False
        if self.champion is not None and self.champion.version == wanted:
            if self.challenger is not None:
                self._publish("challenger", None, REGISTRY)  # promoted: the canary is everybody's model
                return True
            return False
        if self.challenger is not None and self.challenger.version == wanted:
            if self.sources.get("challenger") != REGISTRY:
                self._publish("challenger", self.challenger, REGISTRY)
            return False
        try:
            self._publish("challenger", self._load(self.registry.describe(wanted), "challenger"), REGISTRY)
            return True
        except Exception as exc:  # a registry that stops answering mid-refresh too: the canary waits
            log.error("challenger not loaded; canary off", extra={"error": _error(exc)})
            return False

    # ---- the last known good model ------------------------------------------------------------------
    def serve_last_known_good(self, why: str) -> bool:
        """Serve the last known good copy now if nothing serves yet: for a start-up whose registry call has
        not returned (a refresh may be stuck on it, so this takes no refresh lock). True when it serves."""
        if self.champion is not None:
            return False
        self._registry_failed(why, since=self._asking_since)
        self.not_ready_code = "not_ready"
        self.not_ready_reason = f"model registry {self.settings.group!r} unavailable ({why})"
        return self._fall_back(registry_answered=False)

    def _fall_back(self, *, registry_answered: bool, cause: str | None = None) -> bool:
        """Serve the verified copy of the champion the workers last served, when nothing serves: while the
        registry cannot be asked, or when it answers but its champion cannot be loaded and it still
        approves the copy. Never a damaged copy, never one the registry has since rejected."""
        try:
            copy = self.last_known_good.published("champion")
            if copy is None:
                self.not_ready_reason += "; no last known good model on this task"
                return False
            if registry_answered:
                status = self.registry.describe(copy.arn).status
                if status != APPROVED:
                    self.not_ready_reason += (
                        f"; the last known good model v{copy.version} is {status} in the registry"
                    )
                    return False
            model = self._load_copy(copy, "champion")
            self._fallback_copy = copy
        except (CopyError, ModelLoadError) as exc:
            self.not_ready_reason += f"; the last known good model cannot serve: {exc}"
            log.error("last known good model not served", extra={"error": str(exc)})
            return False
        except Exception as exc:  # the registry failing while asked about the copy: it cannot be asked
            if registry_answered:
                self._registry_failed(_error(exc))
                return self._fall_back(registry_answered=False)
            raise
        if self._publish("champion", model, LAST_KNOWN_GOOD, unless_serving=True) is not None:
            if self._loaded.get(model.version) is not model:  # a refresh got there first: its answer wins
                model.close()
            return False
        self._fallback_cause = cause
        log.warning(
            "serving the last known good model",
            extra={"model_version": model.version, "reason": self.note()},
        )
        if not registry_answered:
            self._fall_back_challenger()
        return True

    def _fall_back_challenger(self) -> None:
        wanted = self.settings.canary_version
        if wanted is None or self.settings.canary_fraction <= 0 or self.challenger is not None:
            return
        try:
            copy = self.last_known_good.published("challenger")
            if copy is None or copy.version != wanted or (self.champion and self.champion.version == wanted):
                return
            self._publish("challenger", self._load_copy(copy, "challenger"), LAST_KNOWN_GOOD)
        except (CopyError, ModelLoadError) as exc:
            log.error("last known good challenger not served; canary off", extra={"error": str(exc)})

    def _load_copy(self, copy: LocalCopy, variant: str) -> LoadedModel:
        loaded = self._loaded.get(copy.version)
        if loaded is not None:
            return loaded
        model = self._open(copy.path, copy.version, variant, "last known good copy")
        if model.contract.fingerprint != copy.contract_fingerprint:
            model.close()
            raise ModelLoadError(
                f"the local copy of model v{copy.version} holds another contract than the one recorded"
            )
        return model

    # ---- state --------------------------------------------------------------------------------------
    def note(self) -> str | None:
        """What /ready says besides the version when serving is degraded: a copy serves, or the registry
        is unreachable (None when neither)."""
        champion = self.champion
        since = self.registry_unreachable_since
        outage = (
            f"the model registry has been unreachable since {_when(since)} ({self.registry_error})"
            if since is not None and not self.registry_reachable
            else None
        )
        if champion is None:
            return None
        if self.sources.get("champion") == LAST_KNOWN_GOOD:
            because = outage or self._fallback_cause or "the registry has not confirmed it yet"
            copy = self._fallback_copy
            served = (
                f"; this task's champion since {_when(copy.served_since)}"
                if copy and copy.served_since
                else ""
            )
            return (
                f"serving the last known good model v{champion.version} (a hash-verified local copy{served}) "
                f"because {because}"
            )
        if outage:
            return f"{outage}; serving v{champion.version}, loaded from the registry before the outage"
        return None

    def close(self) -> None:
        for model in self._loaded.values():
            model.close()
        self._loaded.clear()
