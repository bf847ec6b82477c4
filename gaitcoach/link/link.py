"""The live link facade: both pods, concurrently, as one async stream of items."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from types import TracebackType

from gaitcoach.link.config import LinkConfig
from gaitcoach.link.discovery import Discovery
from gaitcoach.link.pod import LinkItem, PodLink, PodStatus


class FootpodLink:
    """Connects to every configured pod at once and yields what they send.

    Use as an async context manager; iterate :meth:`items` (or pass ``on_item``) to receive
    :class:`~gaitcoach.types.ImuChunk`, :class:`~gaitcoach.types.Gap`,
    :class:`~gaitcoach.types.LinkEvent` and :class:`~gaitcoach.link.RscReading` in arrival
    order. Each pod runs in its own task and reconnects forever with backoff, so one pod
    never blocks the other. Items go through a bounded queue filled from bleak's callbacks
    without blocking; when the consumer falls behind, new items are dropped and counted in
    :attr:`queue_drops`.
    """

    def __init__(
        self, config: LinkConfig, on_item: Callable[[LinkItem], None] | None = None
    ) -> None:
        self.config = config
        self.on_item = on_item
        self.queue_drops = 0
        self._queue: asyncio.Queue[LinkItem] = asyncio.Queue(config.queue_size)
        self._discovery = Discovery(config.adapter)
        self._pods = [PodLink(sel, config, self._discovery, self._put) for sel in config.pods]
        self._tasks: list[asyncio.Task[None]] = []
        self._failed = asyncio.Event()

    def _put(self, item: LinkItem) -> None:
        if self.on_item is not None:
            self.on_item(item)
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.queue_drops += 1

    async def __aenter__(self) -> FootpodLink:
        await self._discovery.__aenter__()
        self._tasks = [
            asyncio.create_task(p.run(), name=f"pod-{i}") for i, p in enumerate(self._pods)
        ]
        for task in self._tasks:
            task.add_done_callback(self._on_task_done)
        return self

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        # A pod task only ends by failing (or being cancelled): wake the consumer now, not
        # when the next item happens to arrive (it may never come).
        if not task.cancelled() and task.exception() is not None:
            self._failed.set()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._discovery.__aexit__(exc_type, exc, tb)

    def _raise_failure(self) -> None:
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise RuntimeError(f"pod link task {task.get_name()} failed") from task.exception()

    async def items(self) -> AsyncIterator[LinkItem]:
        """Items in arrival order, forever (until the context exits); raises as soon as a
        pod task fails."""
        while True:
            self._raise_failure()
            if self._queue.empty():
                getter = asyncio.ensure_future(self._queue.get())
                failed = asyncio.ensure_future(self._failed.wait())
                try:
                    await asyncio.wait((getter, failed), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    failed.cancel()
                    if not getter.done():
                        getter.cancel()
                if not getter.done() or getter.cancelled():
                    continue  # a task failed: raised at the top
                yield getter.result()
            else:
                yield self._queue.get_nowait()

    async def get(self, timeout_s: float | None = None) -> LinkItem:
        """The next item (raises ``TimeoutError`` after ``timeout_s`` host seconds)."""
        return await asyncio.wait_for(self._queue.get(), timeout_s)

    def drain(self) -> list[LinkItem]:
        """Take every item queued so far, without waiting."""
        items: list[LinkItem] = []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    def status(self) -> list[PodStatus]:
        """A snapshot of state, RSSI, battery and loss counters of every pod, in config order."""
        return [copy.deepcopy(p.status) for p in self._pods]
