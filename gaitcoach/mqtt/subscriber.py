"""Receive messages of some topic filters as an async iterator (consumers such as
``gaitcoach listen``), on the same self-healing connection as the publisher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from types import TracebackType

from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.connection import Incoming, MqttConnection


class MqttSubscriber:
    """``async with MqttSubscriber(settings, [(filter, qos)]) as sub: async for m in sub: ...``

    Subscriptions are renewed after every reconnect. When the consumer falls behind by more
    than ``max_queue`` messages, the oldest are dropped and counted in ``dropped``.
    """

    def __init__(
        self,
        settings: MqttSettings,
        topics: Sequence[tuple[str, int]],
        client_id: str = "",
        max_queue: int = 1000,
    ) -> None:
        self.dropped = 0
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue(max_queue)
        self.connection = MqttConnection(
            settings, client_id, subscriptions=topics, on_message=self._received
        )

    def _received(self, msg: Incoming) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(msg)

    async def __aenter__(self) -> MqttSubscriber:
        await self.connection.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.connection.stop()

    async def wait_subscribed(self, timeout_s: float = 5.0) -> bool:
        """Connected and the broker acknowledged every subscription."""
        return await self.connection.wait_subscribed(timeout_s)

    async def get(self, timeout_s: float | None = None) -> Incoming:
        """The next message (TimeoutError after ``timeout_s``)."""
        return await asyncio.wait_for(self._queue.get(), timeout_s)

    def __aiter__(self) -> AsyncIterator[Incoming]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Incoming]:
        while True:
            yield await self._queue.get()
