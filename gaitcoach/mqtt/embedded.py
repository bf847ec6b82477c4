"""Embedded MQTT broker (amqtt) for a zero-setup first run: the service's own asyncio loop
serves MQTT 3.1.1 on loopback when no broker is configured or reachable.

amqtt has no MQTT v5; :class:`~gaitcoach.mqtt.publisher.MqttPublisher` falls back to 3.1.1
by itself. Use Mosquitto for anything beyond one machine (gaitcoach/data/examples/mosquitto/).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

log = logging.getLogger(__name__)


class AcceptAllAuthPlugin(BaseAuthPlugin):
    """Accept every client as itself (loopback only).

    amqtt's own anonymous mode marks every session anonymous and discards it at disconnect,
    which loses persistent sessions and queued QoS 1 messages; accepting named sessions keeps
    them.
    """

    async def authenticate(self, *, session: Session) -> bool:
        return True

    @dataclass
    class Config:
        pass


class EmbeddedBroker:
    """An in-process MQTT 3.1.1 broker on ``host:port`` (port 0: a free port).

    Use as ``async with EmbeddedBroker() as broker:``; ``broker.port`` is the bound port.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._broker: Broker | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {f"{__name__}.AcceptAllAuthPlugin": {}},
        }

    async def start(self) -> None:
        # amqtt logs every connection at INFO; keep the service's log readable.
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        logging.getLogger("transitions").setLevel(logging.WARNING)
        broker = Broker(self._config())
        await broker.start()
        self._broker = broker
        server = broker._servers["default"].instance  # the bound port (port 0 picks one)
        sockets = getattr(server, "sockets", None) or ()
        for sock in sockets:
            if sock.family == socket.AF_INET:
                self.port = int(sock.getsockname()[1])
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(broker.shutdown(), 5.0)

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def broker_reachable(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
