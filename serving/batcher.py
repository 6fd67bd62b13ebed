"""Dynamic micro-batching: concurrent requests for one model share a model call.

The first waiting request opens a batch. It closes at `max_batch` rows, or once `max_wait_s` has passed and
a slot is free (at most `concurrent_batches` in flight): while every slot is busy the batch keeps filling,
and when the slot frees, every request already waiting joins (up to `max_batch`). With `max_wait_s` 0 (the
default) a lone request never waits for company: on CPU a photo costs the model about the same in a batch
of 8 as alone, so waiting only adds latency, while the batches that form behind a busy model are free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

import numpy as np

from serving.backends import ModelExecutor

logger = logging.getLogger(__name__)
_Pending = tuple[dict[str, np.ndarray], "asyncio.Future[dict[str, np.ndarray]]"]


class MicroBatcher:
    def __init__(
        self,
        executor: ModelExecutor,
        model_name: str,
        max_batch: int,
        max_wait_s: float,
        concurrent_batches: int,
    ) -> None:
        self._executor = executor
        self._model_name = model_name
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._slots = asyncio.Semaphore(concurrent_batches)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._collector: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._collector = asyncio.get_running_loop().create_task(self._collect())

    async def stop(self) -> None:
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
        await asyncio.gather(*self._running, return_exceptions=True)

    async def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs for these rows (leading dimension), computed in a shared batch."""
        future: asyncio.Future[dict[str, np.ndarray]] = asyncio.get_running_loop().create_future()
        await self._queue.put((dict(inputs), future))
        return await future

    async def _collect(self) -> None:
        carried: _Pending | None = None  # a request that would have overfilled the previous batch
        while True:
            batch = [carried if carried is not None else await self._queue.get()]
            carried = None
            rows = _rows(batch[0][0])
            deadline = time.monotonic() + self._max_wait_s
            # Asked for now, so the batch can keep growing while every slot is busy: closing it at the
            # deadline and then waiting for a slot left the requests behind it for later, smaller batches.
            slot = asyncio.ensure_future(self._slots.acquire())
            getter: asyncio.Future[_Pending] | None = None
            try:
                while rows < self._max_batch:
                    window_s = deadline - time.monotonic()
                    if window_s <= 0 and slot.done():
                        break
                    getter = asyncio.ensure_future(self._queue.get())
                    done, _ = await asyncio.wait(
                        {getter} if window_s > 0 else {getter, slot},
                        timeout=window_s if window_s > 0 else None,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if getter not in done:
                        getter.cancel()  # a cancelled Queue.get leaves its item in the queue
                        continue
                    item = getter.result()
                    if rows + _rows(item[0]) > self._max_batch:
                        carried = item  # never more rows than max_batch (a remote server enforces it)
                        break
                    batch.append(item)
                    rows += _rows(item[0])
                await slot
                while carried is None and rows < self._max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()  # arrived while the slot was being taken
                    if rows + _rows(item[0]) > self._max_batch:
                        carried = item
                    else:
                        batch.append(item)
                        rows += _rows(item[0])
            except asyncio.CancelledError:
                for waiting in (slot, getter):
                    if waiting is not None:
                        waiting.cancel()
                raise
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        try:
            names = batch[0][0].keys()
            stacked = {name: np.concatenate([inputs[name] for inputs, _ in batch]) for name in names}
            outputs = await self._executor.run(lambda: self._executor.infer(self._model_name, stacked))
        except Exception as err:  # handed to every waiting request, which maps it to its own answer
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        finally:
            self._slots.release()
        start = 0
        for inputs, future in batch:
            stop = start + _rows(inputs)
            if not future.done():
                future.set_result({name: value[start:stop] for name, value in outputs.items()})
            start = stop


def _rows(inputs: Mapping[str, np.ndarray]) -> int:
    return int(next(iter(inputs.values())).shape[0])
