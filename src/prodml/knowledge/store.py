"""A knowledge base in S3: landed documents, processed documents, committed index versions and pointers.

Never overwrites a landed document (the raw zone is content-addressed: the same bytes landing twice is a
no-op), never exposes an index version before its manifest is written (the manifest is written last, after
the index file it names and hashes), and never moves ``CURRENT`` itself: only the evaluation gate does.
Paths come from :class:`prodml.zones.Zones`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from prodml import aws
from prodml.knowledge.contract import KnowledgeContract
from prodml.knowledge.embedding import OFFLINE_MODEL_ID
from prodml.knowledge.index import EmbeddingSpec, KnowledgeIndex, ProcessedDocument
from prodml.knowledge.normalise import NORMALISER_VERSION
from prodml.settings import Settings
from prodml.zones import Zones

_CONTENT_TYPES = {
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "text": "text/plain; charset=utf-8",
}


class LandingError(ValueError):
    """A document that must not land (refused type, too large, not a file). Nothing was written."""


@dataclass(frozen=True)
class DocumentRecord:
    """The landing record of one document version: written last, so a record means its bytes are there."""

    kb: str
    document: str
    sha256: str
    document_type: str
    size_bytes: int
    key: str
    uri: str
    ingested_at: str
    contract_version: int


@dataclass(frozen=True)
class Landed:
    record: DocumentRecord
    landed: bool  # False: these bytes were already in the raw zone
    current_changed: bool = True  # False: they were already the document's current version


def embedding_spec(contract: KnowledgeContract, settings: Settings) -> EmbeddingSpec:
    """The embedding model an index is built with here: Bedrock on real AWS, the offline model elsewhere
    (``embedding.use`` in the contract can force either)."""
    use = contract.embedding.use
    if use == "auto":
        use = "aws" if settings.is_real_aws else "offline"
    if use == "aws":
        return EmbeddingSpec(contract.embedding.aws.model_id, contract.embedding.aws.dimensions)
    return EmbeddingSpec(OFFLINE_MODEL_ID, 256)


def pipeline_id(contract: KnowledgeContract, embedding: EmbeddingSpec) -> str:
    """What turns a document into chunks and vectors: part of a processed document's key."""
    canonical = json.dumps(
        {
            "chunking": contract.chunking_config(),
            "normaliser": NORMALISER_VERSION,
            "embedding": embedding.as_dict(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@cache
def _s3_client(settings: Settings) -> Any:
    # Creating a botocore client costs ~0.2 s; a worker makes one per process and settings.
    return aws.client("s3", settings)


class KnowledgeStore:
    """One knowledge base's objects in the raw and artifacts buckets."""

    def __init__(self, contract: KnowledgeContract, settings: Settings, s3: Any = None) -> None:
        self.contract = contract
        self.kb = contract.name
        self.settings = settings
        self.zones = Zones(settings)
        self.raw_bucket = self.zones.bucket("raw")
        self.artifacts_bucket = self.zones.bucket("artifacts")
        self.s3 = s3 or _s3_client(settings)

    # ---- landing ----------------------------------------------------------------------------------------
    def land(self, path: Path, document: str, *, now: datetime | None = None) -> Landed:
        """Land one file as ``document``, content-addressed. The same bytes again is a no-op."""
        if not path.is_file():
            raise LandingError(f"{path}: no such file")
        document_type = self.contract.documents.type_of(path.name)
        if document_type is None:
            raise LandingError(
                f"{path.name}: knowledge base {self.kb!r} does not accept {path.suffix or 'extensionless'} "
                f"files (accepted: {', '.join(self.contract.documents.extensions)})"
            )
        size = path.stat().st_size
        if size > self.contract.documents.max_bytes:
            raise LandingError(
                f"{path.name}: {size} bytes is over the contract's max_bytes ({self.contract.documents.max_bytes})"
            )
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        record_key = self.zones.knowledge_landing_key(self.kb, sha)
        existing = self._read_json(self.raw_bucket, record_key)
        now = now or datetime.now(UTC)
        if existing is not None:
            # Known bytes: nothing lands, but they may become the document's current version again.
            moved = self._move_head(document, sha, now)
            return Landed(DocumentRecord(**existing), landed=False, current_changed=moved)
        key = self.zones.knowledge_document_key(self.kb, now.date(), sha, path.suffix.lower().lstrip("."))
        record = DocumentRecord(
            kb=self.kb,
            document=document,
            sha256=sha,
            document_type=document_type,
            size_bytes=size,
            key=key,
            uri=f"s3://{self.raw_bucket}/{key}",
            ingested_at=now.isoformat(timespec="microseconds"),
            contract_version=self.contract.version,
        )
        # An interrupted earlier landing may have left the object without its record: same bytes, same key.
        if not aws.s3_object_exists(self.s3, self.raw_bucket, key):
            self.s3.put_object(
                Bucket=self.raw_bucket,
                Key=key,
                Body=data,
                ContentType=_CONTENT_TYPES[document_type],
                Metadata={"sha256": sha, "document": document.encode("ascii", "replace").decode()},
            )
        self._write_json(self.raw_bucket, record_key, asdict(record))
        self._move_head(document, sha, now)
        return Landed(record, landed=True, current_changed=True)

    def _move_head(self, document: str, sha256: str, now: datetime) -> bool:
        key = self.zones.knowledge_head_key(self.kb, document)
        head = self._read_json(self.raw_bucket, key)
        if head is not None and head["sha256"] == sha256:
            return False
        self._write_json(
            self.raw_bucket,
            key,
            {"document": document, "sha256": sha256, "since": now.isoformat(timespec="microseconds")},
        )
        return True

    def landing_record(self, sha256: str) -> DocumentRecord | None:
        found = self._read_json(self.raw_bucket, self.zones.knowledge_landing_key(self.kb, sha256))
        return DocumentRecord(**found) if found else None

    def landed(self) -> list[DocumentRecord]:
        """Every landed document version, oldest first."""
        records = [
            DocumentRecord(**self._read_json_required(self.raw_bucket, key))
            for key in self._keys(self.raw_bucket, self.zones.knowledge_landing_prefix(self.kb))
            if not key.startswith(self.zones.knowledge_heads_prefix(self.kb))
        ]
        return sorted(records, key=lambda r: (r.ingested_at, r.document, r.sha256))

    def current_documents(self) -> list[DocumentRecord]:
        """The current version of each document (its head): what the next index is built from."""
        current = []
        for key in self._keys(self.raw_bucket, self.zones.knowledge_heads_prefix(self.kb)):
            head = self._read_json_required(self.raw_bucket, key)
            record = self.landing_record(head["sha256"])
            if record is None:
                raise LookupError(
                    f"document {head['document']!r}: its current version {head['sha256']} has no landing record"
                )
            if record.document != head["document"]:  # the same bytes landed first under another name
                record = DocumentRecord(**{**asdict(record), "document": head["document"]})
            current.append(record)
        return sorted(current, key=lambda r: r.document)

    def read_document(self, record: DocumentRecord) -> bytes:
        data: bytes = self.s3.get_object(Bucket=self.raw_bucket, Key=record.key)["Body"].read()
        if hashlib.sha256(data).hexdigest() != record.sha256:
            raise LandingError(f"{record.uri}: its bytes no longer hash to {record.sha256}")
        return data

    # ---- processed documents -------------------------------------------------------------------------
    def save_processed(self, pipeline: str, processed: ProcessedDocument) -> str:
        key = self.zones.knowledge_processed_key(self.kb, pipeline, processed.sha256)
        self.s3.put_object(Bucket=self.artifacts_bucket, Key=key, Body=processed.to_bytes())
        return f"s3://{self.artifacts_bucket}/{key}"

    def processed_exists(self, pipeline: str, sha256: str) -> bool:
        key = self.zones.knowledge_processed_key(self.kb, pipeline, sha256)
        return aws.s3_object_exists(self.s3, self.artifacts_bucket, key)

    def load_processed(self, pipeline: str, record: DocumentRecord) -> ProcessedDocument | None:
        key = self.zones.knowledge_processed_key(self.kb, pipeline, record.sha256)
        if not aws.s3_object_exists(self.s3, self.artifacts_bucket, key):
            return None
        data = self.s3.get_object(Bucket=self.artifacts_bucket, Key=key)["Body"].read()
        processed = ProcessedDocument.from_bytes(data)
        # The same bytes may land under another name: the name is the landing record's.
        if processed.document != record.document:
            processed = ProcessedDocument(
                document=record.document,
                sha256=processed.sha256,
                document_type=processed.document_type,
                raw_uri=processed.raw_uri,
                text=processed.text,
                spans=processed.spans,
                vectors=processed.vectors,
            )
        return processed

    def save_failure(self, pipeline: str, record: DocumentRecord, reason: str) -> None:
        key = self.zones.knowledge_failure_key(self.kb, pipeline, record.sha256)
        self._write_json(
            self.artifacts_bucket,
            key,
            {
                "document": record.document,
                "sha256": record.sha256,
                "uri": record.uri,
                "reason": reason,
                "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )

    def failure(self, pipeline: str, sha256: str) -> dict[str, Any] | None:
        return self._read_json(
            self.artifacts_bucket, self.zones.knowledge_failure_key(self.kb, pipeline, sha256)
        )

    # ---- index versions --------------------------------------------------------------------------------
    def manifest(self, version: str) -> dict[str, Any] | None:
        return self._read_json(self.artifacts_bucket, self.zones.knowledge_manifest_key(self.kb, version))

    def commit_index(self, index: KnowledgeIndex, extra: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Write ``index`` and then its manifest. An existing manifest means the version is already there:
        nothing is written (the same inputs give the same version). Returns the manifest and whether it is new."""
        existing = self.manifest(index.version)
        if existing is not None:
            return existing, False
        body = index.to_bytes()
        key = self.zones.knowledge_index_key(self.kb, index.version)
        self.s3.put_object(Bucket=self.artifacts_bucket, Key=key, Body=body)
        manifest = {
            "kb": self.kb,
            "version": index.version,
            "index_uri": f"s3://{self.artifacts_bucket}/{key}",
            "index_sha256": hashlib.sha256(body).hexdigest(),
            "size_bytes": len(body),
            "chunks": len(index),
            "embedding": index.embedding.as_dict(),
            "chunking": self.contract.chunking_config(),
            "normaliser": NORMALISER_VERSION,
            "documents": index.documents,
            "contract_version": self.contract.version,
            "contract_sha256": self.contract.fingerprint(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **extra,
        }
        self._write_json(
            self.artifacts_bucket, self.zones.knowledge_manifest_key(self.kb, index.version), manifest
        )
        self._put_text(self.zones.knowledge_latest_key(self.kb), index.version)
        return manifest, True

    def load_index(self, version: str) -> KnowledgeIndex:
        manifest = self.manifest(version)
        if manifest is None:
            raise LookupError(f"knowledge base {self.kb!r} has no committed index version {version}")
        return KnowledgeIndex.load(
            manifest["index_uri"], self.settings, expected_sha256=manifest["index_sha256"]
        )

    def latest_version(self) -> str | None:
        return self._get_text(self.zones.knowledge_latest_key(self.kb))

    def versions(self) -> list[dict[str, Any]]:
        """Every committed version's manifest, oldest first."""
        prefix = f"knowledge/{self.kb}/index/"
        manifests = [
            self._read_json_required(self.artifacts_bucket, key)
            for key in self._keys(self.artifacts_bucket, prefix)
            if key.endswith("/_MANIFEST.json")
        ]
        return sorted(manifests, key=lambda m: (m["created_at"], m["version"]))

    # ---- evaluation and the promoted pointer ---------------------------------------------------------
    def save_evaluation(self, version: str, report: dict[str, Any]) -> None:
        self._write_json(self.artifacts_bucket, self.zones.knowledge_evaluation_key(self.kb, version), report)

    def evaluation(self, version: str) -> dict[str, Any] | None:
        return self._read_json(self.artifacts_bucket, self.zones.knowledge_evaluation_key(self.kb, version))

    def current(self) -> dict[str, Any] | None:
        """The promoted pointer: ``{"version", "index_uri", "index_sha256", "promoted_at", ...}``."""
        return self._read_json(self.artifacts_bucket, self.zones.knowledge_current_key(self.kb))

    def set_current(self, pointer: dict[str, Any]) -> None:
        self._write_json(self.artifacts_bucket, self.zones.knowledge_current_key(self.kb), pointer)

    # ---- plumbing ------------------------------------------------------------------------------------------
    def _keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def _read_json(self, bucket: str, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        document: dict[str, Any] = json.loads(body)
        return document

    def _read_json_required(self, bucket: str, key: str) -> dict[str, Any]:
        found = self._read_json(bucket, key)
        if found is None:
            raise LookupError(f"s3://{bucket}/{key} vanished while it was being read")
        return found

    def _write_json(self, bucket: str, key: str, document: dict[str, Any]) -> None:
        self.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps(document, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
        )

    def _put_text(self, key: str, text: str) -> None:
        self.s3.put_object(
            Bucket=self.artifacts_bucket, Key=key, Body=text.encode(), ContentType="text/plain"
        )

    def _get_text(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            body: bytes = self.s3.get_object(Bucket=self.artifacts_bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return body.decode().strip()


def load_promoted(contract: KnowledgeContract, settings: Settings) -> KnowledgeIndex:
    """The promoted index (``CURRENT``), hash-verified: what the service serves."""
    store = KnowledgeStore(contract, settings)
    pointer = store.current()
    if pointer is None:
        raise LookupError(
            f"knowledge base {contract.name!r} has no promoted index: run `prodml kb ingest` and `prodml kb promote`"
        )
    return KnowledgeIndex.load(pointer["index_uri"], settings, expected_sha256=pointer["index_sha256"])
