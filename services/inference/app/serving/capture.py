"""Data capture: a sample of requests and predictions, written to the capture zone for drift detection.

Every answered prediction is a candidate, whether the model computed it or the cache held it: a cache hit is
sampled with the same coin flip and recorded with ``cache_hit: true``, so repeated requests are as present in
the capture as in the traffic (drift computed on model calls alone would under-count them). A record is
``{captured_at, request_id, model_version, variant, cache_hit, <contract id>, features, output}``: the
validated features, and the prediction without any explanation.

``record`` is all the request path does: a coin flip and an append to an in-memory buffer (bounded; when
full, records are dropped and counted rather than slowing requests). A background task writes the buffer
as one JSON-lines object per batch, at ``<dataset>/date=YYYY-MM-DD/hour=HH/<batch>.jsonl`` in the capture
bucket (the layout in :mod:`prodml.zones`). Capture never fails a request and never blocks one on S3.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prodml.zones import Zones

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

log = logging.getLogger("prodml.inference.capture")


def capture_key(dataset: str, at: datetime, batch: str) -> str:
    return f"{Zones.capture_prefix(dataset)}date={at:%Y-%m-%d}/hour={at:%H}/{batch}.jsonl"


class CaptureWriter:
    def __init__(
        self,
        *,
        s3_factory: Callable[[], S3Client],
        bucket: str,
        fraction: float,
        flush_s: float,
        batch_rows: int,
        queue_rows: int,
        on_drop: Callable[[int], None] | None = None,
        on_write: Callable[[int], None] | None = None,
    ):
        self._s3_factory = s3_factory
        self._s3: S3Client | None = None
        self.bucket = bucket
        self.fraction = fraction
        self.flush_s = flush_s
        self.batch_rows = batch_rows
        self.queue_rows = queue_rows
        self._buffer: dict[str, list[dict]] = {}
        self._pending = 0
        self._wake = asyncio.Event()
        self._on_drop = on_drop
        self._on_write = on_write
        self.written_objects = 0

    def sampled(self) -> bool:
        return self.fraction > 0 and (self.fraction >= 1 or random.random() < self.fraction)

    def record(self, dataset: str, entries: list[dict]) -> None:
        if self._pending + len(entries) > self.queue_rows:
            if self._on_drop:
                self._on_drop(len(entries))
            return
        self._buffer.setdefault(dataset, []).extend(entries)
        self._pending += len(entries)
        if self._pending >= self.batch_rows:
            self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        buffer, self._buffer, self._pending = self._buffer, {}, 0
        for dataset, entries in buffer.items():
            try:
                await asyncio.to_thread(self._write, dataset, entries)
            except Exception as exc:
                log.error(
                    "capture batch lost",
                    extra={"rows": len(entries), "error": f"{type(exc).__name__}: {exc}"},
                )
                if self._on_drop:
                    self._on_drop(len(entries))

    def _write(self, dataset: str, entries: list[dict]) -> None:
        if self._s3 is None:
            self._s3 = self._s3_factory()
        now = datetime.now(UTC)
        batch = f"{now:%Y%m%dT%H%M%S}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        body = "\n".join(json.dumps(e, separators=(",", ":"), default=str) for e in entries) + "\n"
        self._s3.put_object(
            Bucket=self.bucket,
            Key=capture_key(dataset, now, batch),
            Body=body.encode(),
            ContentType="application/x-ndjson",
        )
        self.written_objects += 1
        if self._on_write:
            self._on_write(len(entries))
