"""Verified local copies of the models a worker served, so a worker (re)started while the registry or the
artifact store is unreachable can serve the last known good model instead of answering 503.

One directory a model package group, on the task's own disk and shared by its workers:

    v<version>.tar.gz     the artifact exactly as downloaded (the registry's ModelDataUrl)
    v<version>.json       which registry version it is (ARN, ModelDataUrl, contract fingerprint) and its sha256
    champion.json         the version the workers last served as champion (and since when); challenger.json too

Every file is written to a temporary name and renamed into place, so a reader sees a whole file or none. A
copy is only handed out after its sha256 matches the one recorded when it was saved (and ``load_artifact``
then checks every file against ``lineage.json`` again), so a corrupted copy is never served. This module
decides nothing about *whether* a copy may serve (the store asks the registry when it can); it never
deletes the copy a pointer names.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodml import artifact
from prodml.registry import ModelVersion

log = logging.getLogger("prodml.inference.last_known_good")

KEEP_COPIES = 3  # besides the ones a pointer names: enough for a rollback to a recent version


class CopyError(RuntimeError):
    """A local copy that exists but must not serve: unreadable record, missing or altered artifact."""


@dataclass(frozen=True)
class LocalCopy:
    version: int
    arn: str
    model_data_url: str
    contract_fingerprint: str
    sha256: str
    saved_at: float
    path: Path
    served_since: float | None = None  # when the workers started serving it as the pointer's variant


class LastKnownGood:
    def __init__(self, directory: Path):
        self.directory = directory

    # ---- saving -------------------------------------------------------------------------------------
    def keep(self, version: ModelVersion, tarball: Path, contract_fingerprint: str) -> None:
        """Copy a verified, loaded artifact in (once: a worker that finds an intact copy leaves it)."""
        if not version.model_data_url:
            return
        if self._intact(version):
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self._artifact(version.version)
        digest = artifact.sha256_file(tarball)
        temporary = self._temporary(target)
        try:
            shutil.copyfile(tarball, temporary)
            _fsync(temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        record = {
            "version": version.version,
            "arn": version.arn,
            "model_data_url": version.model_data_url,
            "contract_fingerprint": contract_fingerprint,
            "sha256": digest,
            "saved_at": time.time(),
        }
        self._write_json(self._record(version.version), record)
        self._prune()

    def publish(self, variant: str, version: int | None) -> None:
        """Point ``variant`` at the copy of ``version`` (None, or no copy of it: no pointer, so a worker
        never falls back to a model the others have stopped serving)."""
        pointer = self.directory / f"{variant}.json"
        if version is None or not self._artifact(version).exists() or not self._record(version).exists():
            pointer.unlink(missing_ok=True)
            return
        current = self._read_json(pointer) if pointer.exists() else None
        if current is not None and current.get("version") == version:
            return  # unchanged: keep when it started serving
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_json(pointer, {"version": version, "served_since": time.time()})

    # ---- reading ------------------------------------------------------------------------------------
    def has(self, variant: str) -> bool:
        return (self.directory / f"{variant}.json").exists()

    def published(self, variant: str) -> LocalCopy | None:
        """The verified copy ``variant`` points at; None without a pointer; CopyError when it is damaged."""
        pointer = self.directory / f"{variant}.json"
        if not pointer.exists():
            return None
        try:
            target = self._read_json(pointer)
            version = int(target["version"])
            served_since = float(target["served_since"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CopyError(f"the last known good {variant} record {pointer} is unreadable: {exc}") from None
        return self._verified(version, served_since)

    def artifact_for(self, version: ModelVersion) -> Path | None:
        """The verified local artifact of this registry version, or None (no copy, another ModelDataUrl,
        or a damaged copy: then it is logged and the caller downloads)."""
        if not self._record(version.version).exists():
            return None
        try:
            copy = self._verified(version.version, None)
        except CopyError as exc:
            log.warning("local copy not used", extra={"model_version": version.version, "error": str(exc)})
            return None
        if copy.arn != version.arn or copy.model_data_url != version.model_data_url:
            return None
        return copy.path

    def _verified(self, version: int, served_since: float | None) -> LocalCopy:
        record_path = self._record(version)
        try:
            record = self._read_json(record_path)
            copy = LocalCopy(
                version=int(record["version"]),
                arn=str(record["arn"]),
                model_data_url=str(record["model_data_url"]),
                contract_fingerprint=str(record["contract_fingerprint"]),
                sha256=str(record["sha256"]),
                saved_at=float(record["saved_at"]),
                path=self._artifact(version),
                served_since=served_since,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CopyError(f"the local copy record {record_path} is unreadable: {exc}") from None
        if copy.version != version:
            raise CopyError(f"{record_path} describes version {copy.version}, not {version}")
        try:
            digest = artifact.sha256_file(copy.path)
        except OSError as exc:
            raise CopyError(f"the local copy of model v{version} is unreadable: {exc}") from None
        if digest != copy.sha256:
            raise CopyError(
                f"the local copy of model v{version} does not match the sha256 recorded when saved"
            )
        return copy

    def _intact(self, version: ModelVersion) -> bool:
        try:
            copy = self._verified(version.version, None)
        except CopyError:
            return False
        return copy.arn == version.arn and copy.model_data_url == version.model_data_url

    # ---- files --------------------------------------------------------------------------------------
    def _artifact(self, version: int) -> Path:
        return self.directory / f"v{version}.tar.gz"

    def _record(self, version: int) -> Path:
        return self.directory / f"v{version}.json"

    def _temporary(self, target: Path) -> Path:
        # Unique a writer: two workers saving the same copy at once each rename a whole file into place.
        return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")

    def _write_json(self, path: Path, value: dict[str, Any]) -> None:
        temporary = self._temporary(path)
        try:
            temporary.write_text(json.dumps(value, sort_keys=True))
            _fsync(temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        value = json.loads(path.read_text())
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value

    def _prune(self) -> None:
        """Keep the copies a pointer names and the ``KEEP_COPIES`` newest; remove the rest."""
        named = set()
        for pointer in ("champion.json", "challenger.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                named.add(int(self._read_json(self.directory / pointer)["version"]))

        def saved(version: int) -> float:
            try:
                return float(self._read_json(self._record(version))["saved_at"])
            except (OSError, ValueError, KeyError, TypeError):  # pruned meanwhile, or damaged: first to go
                return 0.0

        versions = sorted(
            (int(p.name[1:-5]) for p in self.directory.glob("v*.json") if p.name[1:-5].isdigit()),
            key=saved,
            reverse=True,
        )
        for version in versions[KEEP_COPIES:]:
            if version not in named:
                self._record(version).unlink(missing_ok=True)  # the record first: no record, no copy
                self._artifact(version).unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
