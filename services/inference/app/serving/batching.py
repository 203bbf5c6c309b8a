"""Micro-batching: single-row requests that are ready in the same event-loop turn share one model call.

Under load, a worker's event loop wakes with several requests already read (one a connection). Each would
call the model for one row, and a one-row call is mostly fixed cost (building the inputs, ONNX Runtime's
per-run and per-node overhead), so rows that meet here are predicted together: the first request of a turn
schedules one flush for the next turn (``loop.call_soon``, no timer, no wait), every request of the turn
adds its row, and the flush predicts each model's rows in one vectorised call and hands each request its
own result. A lone request is predicted one turn later than it would be alone, a few microseconds.

Rows are predicted by the model object their request picked, so a hot swap or a canary split mid-turn
never mixes versions, and a model's predictions do not depend on what else is in the batch (a test holds
batched and single-row predictions equal). Should a batch's call fail, its rows are retried one by one, so
only the request whose row fails gets the error. Everything runs on the event loop: no lock, no thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .model import LoadedModel


class MicroBatcher:
    def __init__(self, max_rows: int, on_batch: Callable[[LoadedModel, int], None] | None = None):
        self.max_rows = max_rows
        self._on_batch = on_batch
        self._pending: dict[int, tuple[LoadedModel, list[tuple[dict, asyncio.Future]]]] = {}
        self._scheduled = False

    async def predict(self, model: LoadedModel, row: dict) -> dict:
        """``model.predict([row])[0]``, computed together with the other rows of this loop turn."""
        if self.max_rows <= 1:
            return model.predict([row])[0]
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        waiting = self._pending.get(id(model))
        if waiting is None:
            self._pending[id(model)] = (model, [(row, future)])
        else:
            waiting[1].append((row, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for model, entries in pending.values():
            for start in range(0, len(entries), self.max_rows):
                self._run(model, entries[start : start + self.max_rows])

    def _run(self, model: LoadedModel, entries: list[tuple[dict, asyncio.Future]]) -> None:
        entries = [(row, future) for row, future in entries if not future.done()]  # cancelled: gone
        if not entries:
            return
        try:
            results = model.predict([row for row, _ in entries])
        except Exception as exc:
            if len(entries) > 1:  # find the culprit: each row alone, so only its request fails
                for entry in entries:
                    self._run(model, [entry])
            else:  # the request fails as it would have alone (the middleware answers 500 and logs it)
                entries[0][1].set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(model, len(entries))
        for (_, future), result in zip(entries, results, strict=True):
            future.set_result(result)


class ExplainBatcher:
    """Explanations of concurrent requests share one explainer call, in a thread off the event loop.

    An explanation costs milliseconds (the pipeline's transform, then TreeSHAP), much of it fixed per call, so
    requests that ask while a model's explainer is busy wait for it and are then explained together: at most
    one call a model at a time, each taking every request that arrived meanwhile (so under load the batches
    grow, and alone a request is explained at once). Should a batch's call fail, its rows are retried one by
    one, so only the request whose row fails gets the error.
    """

    def __init__(self) -> None:
        self._pending: dict[int, tuple[LoadedModel, list[tuple[dict, dict, asyncio.Future]]]] = {}
        self._draining: dict[int, asyncio.Task] = {}  # a model's explaining task, while it has work

    async def explain(self, model: LoadedModel, row: dict, result: dict) -> dict:
        """``model.explain_rows([row], [result])[0]``, computed together with the other waiting requests'."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        key = id(model)
        self._pending.setdefault(key, (model, []))[1].append((row, result, future))
        if key not in self._draining:
            self._draining[key] = loop.create_task(self._drain(key))
        return await future

    async def _drain(self, key: int) -> None:
        try:
            await asyncio.sleep(0)  # the requests of this loop turn join the first call
            while key in self._pending:
                model, entries = self._pending.pop(key)
                await self._run(model, [e for e in entries if not e[2].done()])
        finally:
            self._draining.pop(key, None)

    async def _run(self, model: LoadedModel, entries: list[tuple[dict, dict, asyncio.Future]]) -> None:
        if not entries:
            return
        rows, results = [row for row, _, _ in entries], [result for _, result, _ in entries]
        try:
            explanations = await asyncio.to_thread(model.explain_rows, rows, results)
        except Exception as exc:
            if len(entries) > 1:
                for entry in entries:
                    await self._run(model, [entry])
            elif not entries[0][2].done():
                entries[0][2].set_exception(exc)
            return
        for (_, _, future), explanation in zip(entries, explanations, strict=True):
            if not future.done():
                future.set_result(explanation)
