"""The inference service as a library: validate, route to a variant, consult the cache, predict, explain,
capture.

The FastAPI routes are thin shells over :class:`InferenceService`; everything here is importable and
testable without HTTP. Its lifecycle (``start``/``stop``) is driven by the app's lifespan.

An explanation (``explain=True``) is computed after the prediction, in a thread, together with those of
the other requests waiting for the model's explainer (:class:`.batching.ExplainBatcher`; the first one builds
it: :meth:`app.serving.model.LoadedModel.explainer`), and cached with it under a key of its own, so a cache hit never drops one and a plain request never waits for one. Cache hits are captured like
model answers (sampled alike, marked ``cache_hit``), so the capture is not biased against repeated requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from prodml import aws

from ..core.config import InferenceSettings
from . import telemetry
from .batching import ExplainBatcher, MicroBatcher
from .cache import MemoryCache, PredictionCache, build_cache, cache_key
from .capture import CaptureWriter
from .knowledge import KnowledgeBase
from .model import LoadedModel
from .routing import choose
from .schema import batch_model, describe_errors
from .store import SOURCES, ModelStore

log = logging.getLogger("prodml.inference.service")

# A registry call unanswered this long counts as the registry being unreachable (in /ready and the gauge),
# and a starting worker with a last known good model serves it meanwhile. A call that hangs is otherwise
# given up by botocore only after about five minutes (60 s read timeout, 5 attempts), and gunicorn's worker
# timeout does not end a lifespan stuck on it: the worker would accept nothing all that time.
REGISTRY_ANSWER_S = 10.0


class NotReady(RuntimeError):
    """No model can answer yet; the message says why and ``code`` is the error code (``no_model`` when the
    registry has no approved model, ``not_ready`` otherwise)."""

    def __init__(self, reason: str, code: str = "not_ready"):
        super().__init__(reason)
        self.code = code


class InvalidRequest(ValueError):
    def __init__(self, details: list[dict[str, str]], model: LoadedModel, variant: str):
        super().__init__("request does not match the contract")
        self.details = details
        self.model_version = model.version
        self.variant = variant


@dataclass(frozen=True)
class Prediction:
    body: dict[str, Any]
    model: LoadedModel
    variant: str
    cached: bool


def _record_load(model: LoadedModel, variant: str) -> None:
    telemetry.MODEL_LOAD.labels(variant, model.backend).observe(model.load_seconds)


def _record_batch(model: LoadedModel, rows: int) -> None:
    telemetry.TALLY.observe(telemetry.MICRO_BATCH, (str(model.version),), rows)


class InferenceService:
    def __init__(self, settings: InferenceSettings):
        self.settings = settings
        self.store = ModelStore(settings, on_load=_record_load)
        self.cache: PredictionCache | None = build_cache(
            settings.cache_enabled, settings.cache_ttl_s, settings.cache_max_entries, settings.redis_url
        )
        self.capture = CaptureWriter(
            s3_factory=lambda: self.store.s3,  # one client (thread-safe) for downloads and capture
            bucket=settings.bucket("capture"),
            fraction=settings.capture_fraction,
            flush_s=settings.capture_flush_s,
            batch_rows=settings.capture_batch_rows,
            queue_rows=settings.capture_queue_rows,
            on_drop=lambda n: telemetry.CAPTURE.labels("dropped").inc(n),
            on_write=lambda n: telemetry.CAPTURE.labels("written").inc(n),
        )
        self.batcher = MicroBatcher(settings.micro_batch_rows, on_batch=_record_batch)
        self.explainer = ExplainBatcher()
        self.knowledge = KnowledgeBase(settings)  # POST /ask; loads nothing until start()
        self._api_key: str | None = (
            settings.api_key.get_secret_value() if settings.api_key is not None else None
        )
        self._tasks: list[asyncio.Task] = []
        self._first_refresh: asyncio.Future[bool] | None = None
        self._batch_models: dict[int, type[BaseModel]] = {}
        self.started_at = time.time()

    # ---- lifecycle ----------------------------------------------------------------------------------
    def prepare(self) -> None:
        """The fork-safe part of start-up, run once in gunicorn's master before it forks the workers
        (``preload_app``) so they inherit it: import the model runtime and build the AWS clients (no
        connection is opened until a worker makes its first call). Idempotent; ``start`` calls it too."""
        if self.settings.use_onnx:
            import onnxruntime  # noqa: F401 - imported for its side effect: loaded once, before the fork

        self.store.registry  # noqa: B018 - builds the client
        self.store.s3  # noqa: B018 - builds the client

    async def start(self) -> None:
        await asyncio.to_thread(self.prepare)
        if not self.settings.is_local and self._api_key is None:
            self._api_key = await asyncio.to_thread(self._read_secret)
        await self._load_first_model()
        self._publish_state()
        await self.knowledge.start()
        self._tasks = [
            asyncio.create_task(self._poll(), name="registry-poller"),
            asyncio.create_task(self.capture.run(), name="capture-writer"),
        ]

    async def _load_first_model(self) -> None:
        """The first refresh; with a last known good model on this task, waited for at most
        ``REGISTRY_ANSWER_S``, then that model serves while the refresh goes on (and swaps in the
        registry's answer when it comes). Without one, waited for as long as it takes, as before: a worker
        with nothing to serve is better kept out of the listening socket, where its siblings answer."""
        refresh = asyncio.ensure_future(asyncio.to_thread(self.store.refresh))
        if not self.store.last_known_good.has("champion"):
            await refresh
            return
        done, _ = await asyncio.wait({refresh}, timeout=REGISTRY_ANSWER_S)
        if done:
            refresh.result()
            return
        await asyncio.to_thread(self.store.serve_last_known_good, f"no answer for {REGISTRY_ANSWER_S:.0f} s")
        self._first_refresh = refresh
        refresh.add_done_callback(self._first_refresh_done)

    def _first_refresh_done(self, refresh: asyncio.Future[bool]) -> None:
        if refresh.cancelled():
            return
        if refresh.exception() is not None:
            log.error("registry refresh failed", exc_info=refresh.exception())
        self._publish_state()

    async def stop(self) -> None:
        if self._first_refresh is not None:
            self._first_refresh.cancel()
        await self.knowledge.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.capture.flush()
        if self.cache is not None:
            await self.cache.close()
        self.store.close()

    async def _poll(self) -> None:
        interval = self.settings.poll_interval_s
        while True:
            await asyncio.sleep(interval)
            refresh = asyncio.ensure_future(asyncio.to_thread(self.store.refresh))
            while not (await asyncio.wait({refresh}, timeout=REGISTRY_ANSWER_S))[0]:
                self.store.registry_overdue(REGISTRY_ANSWER_S)  # say so while the call hangs
                self._publish_state()
            try:
                refresh.result()
            except Exception:  # the poller must outlive any one bad poll
                log.exception("registry poll failed")
            self._publish_state()

    def _publish_state(self) -> None:
        """The serving versions, where they came from and whether the registry answers, as gauges (a few
        memory-mapped writes a poll)."""
        store = self.store
        for variant, model in (("champion", store.champion), ("challenger", store.challenger)):
            telemetry.MODEL_VERSION.labels(variant).set(model.version if model else 0)
            if variant == "challenger" and self.settings.canary_version is None:
                continue
            source = store.sources.get(variant) if model else None
            for each in SOURCES:
                telemetry.MODEL_SOURCE.labels(variant, each).set(int(each == source))
        if store.registry_reachable is not None:
            telemetry.REGISTRY_REACHABLE.labels(self.settings.group).set(int(store.registry_reachable))

    def _read_secret(self) -> str:
        secret_id = self.settings.api_key_secret
        if not secret_id:  # settings validation makes start() call this only with a secret named
            raise RuntimeError("no API key secret named: set PRODML_API_KEY_SECRET")
        secret = aws.client("secretsmanager", self.settings).get_secret_value(SecretId=secret_id)[
            "SecretString"
        ]
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            parsed = json.loads(secret)
            if isinstance(parsed, dict):
                secret = parsed.get("api_key") or parsed.get("API_KEY") or secret
        if not isinstance(secret, str) or not secret:
            raise RuntimeError(f"secret {self.settings.api_key_secret!r} holds no API key")
        return secret

    # ---- security -----------------------------------------------------------------------------------
    def authorised(self, presented: str | None) -> bool:
        if self.settings.is_local:
            return True
        if not presented or self._api_key is None:
            return False
        return hmac.compare_digest(presented.encode(), self._api_key.encode())

    # ---- state --------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.store.champion is not None

    def _pick(self, key: str | None) -> tuple[LoadedModel, str]:
        champion = self.store.champion
        if champion is None:
            raise NotReady(self.store.not_ready_reason, self.store.not_ready_code)
        return choose(champion, self.store.challenger, self.settings.canary_fraction, key)

    # ---- prediction ---------------------------------------------------------------------------------
    async def predict_one(
        self, body: bytes, key: str | None, request_id: str | None, explain: bool = False
    ) -> Prediction:
        model, variant = self._pick(key)
        try:
            row = model.request_model.model_validate_json(body).model_dump()
        except ValidationError as exc:
            raise InvalidRequest(describe_errors(exc), model, variant) from None
        row_id = row.pop(model.contract.id, None)
        version = str(model.version)
        cache = self.cache
        ckey = cache_key(model.version, row, explain) if cache is not None else ""
        if cache is not None:
            hit = cache.get_now(ckey) if isinstance(cache, MemoryCache) else await cache.get(ckey)
            telemetry.TALLY.count(telemetry.CACHE, ("hit" if hit is not None else "miss", variant))
            if hit is not None:
                telemetry.TALLY.count(telemetry.PREDICTIONS, (version, variant))
                if self.capture.sampled():
                    self._capture(model, variant, [row], [hit], [row_id], request_id, cache_hit=True)
                return Prediction(hit, model, variant, True)
        result = await self.batcher.predict(model, row)
        if explain:
            result = {**result, "explanation": await self.explainer.explain(model, row, result)}
        telemetry.TALLY.count(telemetry.PREDICTIONS, (version, variant))
        if cache is not None:
            if isinstance(cache, MemoryCache):
                cache.set_now(ckey, result)
            else:
                await cache.set(ckey, result)
        if self.capture.sampled():
            self._capture(model, variant, [row], [result], [row_id], request_id)
        return Prediction(result, model, variant, False)

    async def predict_batch(
        self, body: bytes, key: str | None, request_id: str | None, explain: bool = False
    ) -> Prediction:
        model, variant = self._pick(key)
        batch = self._batch_models.get(model.version)
        if batch is None:
            batch = self._batch_models[model.version] = batch_model(
                model.request_model, self.settings.max_batch_rows
            )
        try:
            rows = batch.model_validate_json(body).model_dump()["rows"]
        except ValidationError as exc:
            raise InvalidRequest(describe_errors(exc), model, variant) from None
        ids = [r.pop(model.contract.id, None) for r in rows]
        results = model.predict(rows)
        if explain:
            explanations = await asyncio.to_thread(model.explain_rows, rows, results)
            results = [{**r, "explanation": e} for r, e in zip(results, explanations, strict=True)]
        telemetry.TALLY.count(telemetry.PREDICTIONS, (str(model.version), variant), len(rows))
        if self.capture.sampled():
            self._capture(model, variant, rows, results, ids, request_id)
        return Prediction({"predictions": results}, model, variant, False)

    def _capture(
        self,
        model: LoadedModel,
        variant: str,
        rows: list[dict],
        results: list[dict],
        ids: list[Any],
        request_id: str | None,
        *,
        cache_hit: bool = False,
    ) -> None:
        at = datetime.now(UTC).isoformat()
        id_column = model.contract.id
        self.capture.record(
            model.contract.name,
            [
                {
                    "captured_at": at,
                    "request_id": request_id,
                    "model_version": model.version,
                    "variant": variant,
                    "cache_hit": cache_hit,
                    id_column: row_id,
                    "features": row,
                    # The prediction; an explanation, if one was asked for, is not captured.
                    "output": {k: v for k, v in result.items() if k != "explanation"},
                }
                for row, result, row_id in zip(rows, results, ids, strict=True)
            ],
        )
