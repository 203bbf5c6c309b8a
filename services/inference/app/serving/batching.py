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
