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
        return self

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

    async def items(self) -> AsyncIterator[LinkItem]:
        """Items in arrival order, forever (until the context exits)."""
        while True:
            for task in self._tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise RuntimeError("a pod link task failed") from task.exception()
            yield await self._queue.get()

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
