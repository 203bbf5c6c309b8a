"""Ingestion: landed documents reach the worker as S3 events on an SQS queue, the same path on AWS and on
the emulator (moto delivers S3 event notifications to SQS).

    raw bucket: knowledge/_landing/<kb>/<sha256>.json created
      → S3 event notification (filter: the landing prefix) → SQS ``{project}-{env}-knowledge-ingest``
      → :func:`process_message` (an ECS task or a Lambda wraps it; ``prodml kb worker`` runs it here)
      → the processed document (normalised text, chunk offsets, vectors) in the artifacts bucket
      → :func:`build_index` when the queue is drained.

A document that cannot be processed for a reason that will not change on retry (a corrupt PDF, a refused
type) is sent to the dead-letter queue with that reason, recorded beside the processed documents, and its
message deleted: it never blocks the rest. Anything else (a throttled embedding call, S3 unavailable) leaves
the message on the queue; SQS redelivers it, and its redrive policy moves it to the same dead-letter queue
after ``maxReceiveCount`` receives.

On AWS, Terraform owns the queues and the bucket notification; :func:`ensure_queues` creates the same on the
emulator (and is a no-op where they exist).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from prodml import aws, naming
from prodml.knowledge.chunking import chunk_spans
from prodml.knowledge.contract import KnowledgeContract
from prodml.knowledge.embedding import EmbeddingError, embed_in_batches, embedder_for
from prodml.knowledge.index import KnowledgeIndex, ProcessedDocument
from prodml.knowledge.normalise import NormalisationError, normalise
from prodml.knowledge.store import (
    DocumentRecord,
    KnowledgeStore,
    Landed,
    LandingError,
    embedding_spec,
    pipeline_id,
)
from prodml.settings import Settings
from prodml.zones import Zones

MAX_RECEIVE_COUNT = 3
VISIBILITY_TIMEOUT_SECONDS = 300
RECEIVE_WAIT_SECONDS = 20


class PermanentFailure(Exception):
    """Processing a document will never succeed as it is: dead-letter it now, with this reason."""


@dataclass(frozen=True)
class Queues:
    url: str
    dead_letter_url: str
    arn: str
    dead_letter_arn: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one message."""

    status: str  # processed | unchanged | dead_lettered | retry | ignored
    kb: str = ""
    document: str = ""
    sha256: str = ""
    chunks: int = 0
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", 0) or k == "status"}


@dataclass
class WorkerReport:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def chunks(self) -> int:
        return sum(o.chunks for o in self.outcomes if o.status == "processed")


@cache
def sqs_client(settings: Settings) -> Any:
    return aws.boto3_session(settings).client("sqs", endpoint_url=settings.endpoint_url)


def queue_names(settings: Settings) -> tuple[str, str]:
    return (
        naming.knowledge_queue_name(settings.project, settings.env),
        naming.knowledge_dead_letter_queue_name(settings.project, settings.env),
    )


def find_queues(settings: Settings, sqs: Any = None) -> Queues:
    sqs = sqs or sqs_client(settings)
    name, dlq_name = queue_names(settings)
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        raise LookupError(
            f"no ingestion queue {name} (or {dlq_name}): provision it with `make apply` on AWS; "
            "on the emulator `prodml kb ingest` creates it"
        ) from None

    def arn(queue_url: str) -> str:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    return Queues(url, dlq_url, arn(url), arn(dlq_url))


def ensure_queues(settings: Settings) -> Queues:
    """The ingestion queue, its dead-letter queue (redrive after ``MAX_RECEIVE_COUNT``) and the raw bucket's
    notification to it, as Terraform provisions them. For the emulator: on AWS, Terraform owns these."""
    if settings.is_real_aws:
        return find_queues(settings)
    sqs = sqs_client(settings)
    name, dlq_name = queue_names(settings)
    dlq_url = sqs.create_queue(
        QueueName=dlq_name, Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)})
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        url = sqs.create_queue(
            QueueName=name,
            Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS), "RedrivePolicy": redrive},
        )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3 = aws.client("s3", settings)
    bucket = Zones(settings).bucket("raw")
    if not _bucket_exists(s3, bucket):
        raise LookupError(f"no raw zone bucket {bucket}: provision the platform first (`prodml bootstrap`)")
    wanted = {
        "Id": "knowledge-ingest",
        "QueueArn": arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": Zones.knowledge_landing_prefix()}]}},
    }
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    queues = [q for q in current.get("QueueConfigurations", []) if q.get("Id") != wanted["Id"]]
    if not any(q.get("Id") == wanted["Id"] for q in current.get("QueueConfigurations", [])):
        configuration: dict[str, Any] = {
            key: current[key]
            for key in ("TopicConfigurations", "LambdaFunctionConfigurations", "EventBridgeConfiguration")
            if key in current
        }
        configuration["QueueConfigurations"] = [*queues, wanted]
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration=configuration,  # type: ignore[arg-type]  # built from the response
        )
    return Queues(url, dlq_url, arn, dlq_arn)


def _bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


# ---------------------------------------------------------------------------------------------------------
# One message
# ---------------------------------------------------------------------------------------------------------


def landing_events(body: str) -> list[tuple[str, str]]:
    """``(bucket, key)`` of each object-created record in an S3 event message; [] for a test event."""
    event = json.loads(body)
    found = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3", {})
        found.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
    return found


def kb_of_landing_key(key: str) -> tuple[str, str | None] | None:
    """``knowledge/_landing/<kb>/<sha256>.json`` → ``(kb, sha256)``; a head (a document's current version
    moved) → ``(kb, None)``; anything else → None."""
    prefix = Zones.knowledge_landing_prefix()
    if not key.startswith(prefix) or not key.endswith(".json"):
        return None
    parts = key[len(prefix) :].split("/")
    if len(parts) == 2:
        return parts[0], parts[1][: -len(".json")]
    if len(parts) == 3 and parts[1] == "heads":
        return parts[0], None
    return None


def process_document(store: KnowledgeStore, record: DocumentRecord, *, force: bool = False) -> Outcome:
    """Normalise, chunk and embed one landed document version, and save the result. Raises
    :class:`PermanentFailure` for a document that will never succeed as it is."""
    contract = store.contract
    spec = embedding_spec(contract, store.settings)
    pipeline = pipeline_id(contract, spec)
    if not force and store.processed_exists(pipeline, record.sha256):
        return Outcome("unchanged", record.kb, record.document, record.sha256)
    if contract.documents.type_of(record.key) != record.document_type:
        raise PermanentFailure(
            f"{record.document}: type {record.document_type} is no longer accepted by contract "
            f"{contract.name} v{contract.version}"
        )
    data = store.read_document(record)
    try:
        text = normalise(data, record.document_type, record.document)
    except NormalisationError as exc:
        raise PermanentFailure(str(exc)) from None
    chunking = contract.chunking_for(record.document_type)
    spans = chunk_spans(text, chunking.size, chunking.overlap)
    embedder = embedder_for(spec.model_id, store.settings, spec.dimensions)
    vectors = embed_in_batches(
        embedder,
        [text[s.start : s.end] for s in spans],
        contract.embedding.batch_size,
        contract.embedding.max_attempts,
    )
    processed = ProcessedDocument(
        document=record.document,
        sha256=record.sha256,
        document_type=record.document_type,
        raw_uri=record.uri,
        text=text,
        spans=spans,
        vectors=vectors,
    )
    store.save_processed(pipeline, processed)
    return Outcome("processed", record.kb, record.document, record.sha256, chunks=len(spans))


def process_message(
    body: str,
    contracts: Mapping[str, KnowledgeContract],
    settings: Settings,
    *,
    dead_letter: Callable[[dict[str, Any]], None],
    stores: dict[str, KnowledgeStore] | None = None,
) -> list[Outcome]:
    """Handle one SQS message body (an S3 event). A permanent failure is dead-lettered through
    ``dead_letter`` (with its reason) and reported; a transient one raises, so the message stays queued."""
    try:
        events = landing_events(body)
    except (ValueError, KeyError, TypeError) as exc:
        dead_letter({"reason": f"not an S3 event message ({exc})", "message": body[:2000]})
        return [Outcome("dead_lettered", reason=f"not an S3 event message ({exc})")]
    outcomes = []
    for bucket, key in events:
        parsed = kb_of_landing_key(key)
        if parsed is None:
            outcomes.append(
                Outcome("ignored", reason=f"s3://{bucket}/{key} is not a knowledge landing record")
            )
            continue
        kb, sha = parsed
        if sha is None:
            # A document's current version moved (to new bytes, or back to earlier ones): rebuild the index.
            outcomes.append(Outcome("current_changed", kb) if kb in contracts else Outcome("ignored", kb))
            continue
        if kb not in contracts:
            reason = (
                f"no knowledge contract for {kb!r} in this worker (it has {', '.join(sorted(contracts))})"
            )
            dead_letter({"reason": reason, "kb": kb, "sha256": sha, "key": key})
            outcomes.append(Outcome("dead_lettered", kb, sha256=sha, reason=reason))
            continue
        stores = {} if stores is None else stores
        store = stores.get(kb) or stores.setdefault(kb, KnowledgeStore(contracts[kb], settings))
        record = store.landing_record(sha)
        if record is None:
            reason = f"landing record s3://{bucket}/{key} is gone"
            dead_letter({"reason": reason, "kb": kb, "sha256": sha, "key": key})
            outcomes.append(Outcome("dead_lettered", kb, sha256=sha, reason=reason))
            continue
        try:
            outcomes.append(process_document(store, record))
        except (PermanentFailure, LandingError) as exc:
            reason = str(exc)
            spec = embedding_spec(store.contract, settings)
            store.save_failure(pipeline_id(store.contract, spec), record, reason)
            dead_letter(
                {
                    "reason": reason,
                    "kb": kb,
                    "document": record.document,
                    "sha256": record.sha256,
                    "uri": record.uri,
                }
            )
            outcomes.append(Outcome("dead_lettered", kb, record.document, record.sha256, reason=reason))
    return outcomes


# ---------------------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------------------


def run_worker(
    contracts: Mapping[str, KnowledgeContract],
    settings: Settings,
    *,
    drain: bool = False,
    wait_seconds: int = RECEIVE_WAIT_SECONDS,
    on_outcome: Callable[[Outcome], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    build_indexes: bool = True,
) -> WorkerReport:
    """Long-poll the ingestion queue and process each message. With ``drain``, return once the queue is
    empty (nothing visible and nothing in flight); otherwise run until ``should_stop``. After a batch that
    processed anything and left the queue empty, the affected knowledge bases' indexes are built; and when
    stopped, before returning, so no processed document waits for the next one's build."""
    sqs = sqs_client(settings)
    queues = find_queues(settings, sqs)
    report = WorkerReport()
    started = time.monotonic()
    touched: set[str] = set()
    stores: dict[str, KnowledgeStore] = {}

    def send_dead_letter(payload: dict[str, Any]) -> None:
        sqs.send_message(
            QueueUrl=queues.dead_letter_url,
            MessageBody=json.dumps(payload, sort_keys=True),
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": str(payload.get("reason", ""))[:256]}
            },
        )

    def build_touched() -> None:
        if touched and build_indexes:
            for kb in sorted(touched):
                build_index(contracts[kb], settings)
        touched.clear()

    while not should_stop():
        response = sqs.receive_message(
            QueueUrl=queues.url,
            MaxNumberOfMessages=10,
            # Draining polls short and asks the queue whether anything is left (below) instead.
            WaitTimeSeconds=0 if drain else wait_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        for message in messages:
            try:
                outcomes = process_message(
                    message["Body"], contracts, settings, dead_letter=send_dead_letter, stores=stores
                )
            except (EmbeddingError, OSError, ClientError, BotoCoreError) as exc:
                # Transient: leave it queued, visible again after a backoff; SQS redrives it after
                # MAX_RECEIVE_COUNT receives.
                receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                sqs.change_message_visibility(
                    QueueUrl=queues.url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=min(2**receives, VISIBILITY_TIMEOUT_SECONDS),
                )
                outcomes = [Outcome("retry", reason=f"{type(exc).__name__}: {exc}")]
            else:
                sqs.delete_message(QueueUrl=queues.url, ReceiptHandle=message["ReceiptHandle"])
            for outcome in outcomes:
                report.outcomes.append(outcome)
                if outcome.status in ("processed", "current_changed") and outcome.kb:
                    touched.add(outcome.kb)
                if on_outcome:
                    on_outcome(outcome)
        if messages:
            continue
        build_touched()
        if drain:
            if _queue_empty(sqs, queues.url):
                break
            time.sleep(0.2)  # messages in flight (a retry's backoff): wait for them to be visible again
    build_touched()  # stopped right after a batch: its documents still reach an index
    report.seconds = time.monotonic() - started
    return report


def _queue_empty(sqs: Any, url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]) == 0
        and int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0
    )


def run_until_terminated(
    contracts: Mapping[str, KnowledgeContract], settings: Settings, **kwargs: Any
) -> WorkerReport:
    """:func:`run_worker` as a long-running task (ECS): SIGTERM or SIGINT finishes the current batch and
    returns, so a deployment or a scale-in never abandons a document halfway (its message would only be
    redelivered, but the work would be lost)."""
    import signal

    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return run_worker(contracts, settings, should_stop=lambda: stopping, **kwargs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def handle_sqs_batch(
    event: Mapping[str, Any], contracts: Mapping[str, KnowledgeContract], settings: Settings
) -> dict[str, Any]:
    """An SQS-triggered Lambda's body (with ``ReportBatchItemFailures``): each record is one message; a
    permanent failure is dead-lettered with its reason and counts as handled; a transient one is reported as
    a batch item failure, so SQS retries only it (and redrives it after ``maxReceiveCount``)."""
    sqs = sqs_client(settings)
    queues = find_queues(settings, sqs)
    stores: dict[str, KnowledgeStore] = {}
    failures: list[dict[str, str]] = []
    touched: set[str] = set()

    def send_dead_letter(payload: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=queues.dead_letter_url, MessageBody=json.dumps(payload, sort_keys=True))

    for record in event.get("Records", []):
        try:
            outcomes = process_message(
                record["body"], contracts, settings, dead_letter=send_dead_letter, stores=stores
            )
        except (EmbeddingError, OSError, ClientError, BotoCoreError):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        touched.update(o.kb for o in outcomes if o.status in ("processed", "current_changed") and o.kb)
    for kb in sorted(touched):
        build_index(contracts[kb], settings)
    return {"batchItemFailures": failures}


# ---------------------------------------------------------------------------------------------------------
# Landing and building
# ---------------------------------------------------------------------------------------------------------


def document_name(path: Path, root: Path | None) -> str:
    """A document's name in the knowledge base: its path below ``root`` (POSIX), else its file name."""
    resolved = path.resolve()
    if root is not None:
        try:
            return resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def land_documents(
    paths: Iterable[Path],
    contract: KnowledgeContract,
    settings: Settings,
    *,
    root: Path | None = None,
    on_landed: Callable[[Path, Landed | LandingError], None] | None = None,
) -> list[Landed]:
    """Land each file in the raw zone. A file the contract refuses is reported, and never stops the rest."""
    store = KnowledgeStore(contract, settings)
    landed = []
    for path in paths:
        try:
            result = store.land(path, document_name(path, root))
        except LandingError as exc:
            if on_landed:
                on_landed(path, exc)
            continue
        landed.append(result)
        if on_landed:
            on_landed(path, result)
    return landed


@dataclass(frozen=True)
class BuildResult:
    version: str
    created: bool  # False: this version was already committed (same documents, same configuration)
    manifest: dict[str, Any]
    failed: list[dict[str, Any]]
    pending: list[str]  # landed but neither processed nor failed yet

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created": self.created,
            "chunks": self.manifest["chunks"],
            "documents": len(self.manifest["documents"]),
            "index_uri": self.manifest["index_uri"],
            "failed": self.failed,
            "pending": self.pending,
        }


def build_index(contract: KnowledgeContract, settings: Settings) -> BuildResult:
    """Commit the index of the newest version of every landed document that processed; documents whose
    newest version failed are left out and listed (in the manifest too)."""
    store = KnowledgeStore(contract, settings)
    spec = embedding_spec(contract, settings)
    pipeline = pipeline_id(contract, spec)
    processed, failed, pending = [], [], []
    for record in store.current_documents():
        document = store.load_processed(pipeline, record)
        if document is not None:
            processed.append(document)
            continue
        failure = store.failure(pipeline, record.sha256)
        if failure is not None:
            failed.append(failure)
        else:
            pending.append(record.document)
    index = KnowledgeIndex.build(processed, contract.chunking_config(), spec)
    manifest, created = store.commit_index(index, {"failed_documents": failed, "pipeline": pipeline})
    return BuildResult(index.version, created, manifest, failed, pending)


def dead_letters(settings: Settings, max_messages: int = 10) -> list[dict[str, Any]]:
    """A peek at the dead-letter queue (messages become visible again after a short timeout)."""
    sqs = sqs_client(settings)
    queues = find_queues(settings, sqs)
    response = sqs.receive_message(
        QueueUrl=queues.dead_letter_url,
        MaxNumberOfMessages=max_messages,
        VisibilityTimeout=1,
        MessageAttributeNames=["All"],
        WaitTimeSeconds=0,
    )
    found = []
    for message in response.get("Messages", []):
        try:
            found.append(json.loads(message["Body"]))
        except ValueError:
            found.append({"reason": "redriven by SQS after repeated failures", "message": message["Body"]})
    return found


def queue_depths(settings: Settings) -> dict[str, int]:
    sqs = sqs_client(settings)
    queues = find_queues(settings, sqs)
    depths = {}
    for label, url in (("queued", queues.url), ("dead_letters", queues.dead_letter_url)):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths[label] = int(attributes["ApproximateNumberOfMessages"])
        if label == "queued":
            depths["in_flight"] = int(attributes["ApproximateNumberOfMessagesNotVisible"])
    return depths


def requeue_unprocessed(
    contract: KnowledgeContract, settings: Settings, skip: Collection[str] = ()
) -> list[str]:
    """Queue every current document that this contract's pipeline has neither processed nor failed (after a
    chunking or embedding change, say), as the S3 event its landing raised once. ``skip``: bytes whose event
    is on its way. Returns the documents queued."""
    store = KnowledgeStore(contract, settings)
    pipeline = pipeline_id(contract, embedding_spec(contract, settings))
    queued = []
    sqs = sqs_client(settings)
    url = find_queues(settings, sqs).url
    for record in store.current_documents():
        if record.sha256 in skip or store.processed_exists(pipeline, record.sha256):
            continue
        if store.failure(pipeline, record.sha256) is not None:
            continue
        key = Zones.knowledge_landing_key(contract.name, record.sha256)
        event = {
            "Records": [
                {
                    "eventSource": "prodml:requeue",
                    "eventName": "ObjectCreated:Requeue",
                    "s3": {"bucket": {"name": store.raw_bucket}, "object": {"key": key}},
                }
            ]
        }
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
        queued.append(record.document)
    return queued


@dataclass
class IngestReport:
    landed: list[Landed]
    refused: list[tuple[str, str]]  # (path, reason)
    worker: WorkerReport | None
    build: BuildResult | None

    def as_dict(self) -> dict[str, Any]:
        worker = self.worker
        return {
            "landed": [
                {
                    "document": r.record.document,
                    "sha256": r.record.sha256,
                    "new": r.landed,
                    "current_changed": r.current_changed,
                }
                for r in self.landed
            ],
            "refused": [{"path": path, "reason": reason} for path, reason in self.refused],
            "processed": worker.count("processed") if worker else 0,
            "unchanged": worker.count("unchanged") if worker else 0,
            "dead_lettered": [o.as_dict() for o in worker.outcomes if o.status == "dead_lettered"]
            if worker
            else [],
            "chunks": worker.chunks if worker else 0,
            "worker_seconds": round(worker.seconds, 3) if worker else 0.0,
            "index": self.build.as_dict() if self.build else None,
        }


def ingest(
    paths: Iterable[Path],
    contract: KnowledgeContract,
    settings: Settings,
    *,
    root: Path | None = None,
    work: bool = True,
    on_landed: Callable[[Path, Landed | LandingError], None] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    peers: Mapping[str, KnowledgeContract] | None = None,
) -> IngestReport:
    """Land ``paths``; with ``work``, also act as the worker until the queue is drained and build the index
    (on AWS the ECS worker does this; ``work=False`` only lands and leaves the rest to it). ``peers``: the
    other knowledge bases whose messages share the queue, handled rather than dead-lettered."""
    ensure_queues(settings)
    refused: list[tuple[str, str]] = []

    def landed_or_refused(path: Path, result: Landed | LandingError) -> None:
        if isinstance(result, LandingError):
            refused.append((str(path), str(result)))
        if on_landed:
            on_landed(path, result)

    landed = land_documents(paths, contract, settings, root=root, on_landed=landed_or_refused)
    requeue_unprocessed(contract, settings, skip={r.record.sha256 for r in landed if r.landed})
    if not work:
        return IngestReport(landed, refused, None, None)
    contracts = {**(peers or {}), contract.name: contract}
    report = run_worker(contracts, settings, drain=True, on_outcome=on_outcome, build_indexes=False)
    for peer in sorted({o.kb for o in report.outcomes if o.kb and o.kb != contract.name} & set(contracts)):
        build_index(contracts[peer], settings)
    # Built even when nothing was processed: the same documents give the same (already committed) version.
    return IngestReport(landed, refused, report, build_index(contract, settings))
