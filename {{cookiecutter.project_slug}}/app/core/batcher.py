"""Group commit: calls that arrive while a batch runs go together in the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class GroupCommit(Generic[ItemT, ResultT]):
    """Group commit: one batch at a time; what comes in meanwhile is the next batch.

    Idle, a call runs at once, alone. Busy (the database is slow, or many calls end
    together), calls pile up while a batch runs and go together in the next one. Each
    `submit` waits for its own result; `run` gets a batch's items and returns their
    results in the same order. A batch that raises fails each of its calls.
    """

    def __init__(
        self, run: Callable[[list[ItemT]], Awaitable[list[ResultT]]], max_size: int
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._pending: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT) -> ResultT:
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_size]
                del self._pending[: self._max_size]
                await self._flush(batch)
        finally:
            self._flusher = None
            # Cancelled mid-way: no call may wait for ever.
            pending, self._pending = self._pending, []
            for _, future in pending:
                future.cancel()

    async def _flush(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def drain(self) -> None:
        """Wait for the batch under way (at shutdown, before what `run` uses closes)."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
