"""One MQTT connection for asyncio code, on paho-mqtt's network thread.

paho keeps the socket and tracks QoS 1 delivery; this class adds what a service needs
around it: a new client after every failed or lost connection, with doubling backoff (so
nothing paho had in flight is resent late behind the owner's back); MQTT v5 with a fall back
to 3.1.1 (a broker that refuses v5, or accepts TCP and never answers a v5 CONNECT);
TCP_NODELAY (Nagle with delayed ACKs costs tens of ms per message on loopback); TLS and
credentials from :class:`~gaitcoach.mqtt.config.MqttSettings`; subscriptions renewed on every
connect; and every paho callback handed to the asyncio loop (``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gaitcoach.mqtt.config import MqttSettings

log = logging.getLogger(__name__)

UNSUPPORTED_PROTOCOL = (1, 132)
"""CONNACK codes meaning "not this protocol version" (3.1.1 code 1, v5 code 0x84)."""
WATCH_PERIOD_S = 0.05
DEGRADED_LOG_EVERY_S = 60.0
"""While the broker stays unreachable for the same reason, the warning is repeated this often
(a new reason is logged at once)."""


def describe_connect_error(exc: BaseException | None) -> str:
    """Why a connection attempt failed, in words an operator can act on (TLS: the
    verification error, e.g. a wrong CA or a host name the certificate does not name)."""
    if exc is None:
        return "no reason given"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, socket.gaierror):
        return f"host name not resolved ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Incoming:
    """A received message, with the v5 request/response properties when present."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    response_topic: str | None = None
    correlation_data: bytes | None = None
    expiry_interval_s: int | None = None


@dataclass(slots=True)
class ConnectionStats:
    connects: int = 0
    disconnects: int = 0
    refused: int = 0
    fallbacks: int = 0
    delivered: int = 0
    rejected: int = 0
    """QoS 1 messages the broker refused (v5 PUBACK reason, e.g. not authorized)."""
    errors: list[str] = field(default_factory=list)
    """The latest errors, oldest first."""
    outages: int = 0
    """Times the broker became unreachable (or refused us) after being reachable, plus one
    when it was not reachable at start."""

    @property
    def last_error(self) -> str:
        return self.errors[-1] if self.errors else ""


class MqttConnection:
    """A self-healing connection; start with ``await start()``, end with ``await stop()``.

    Parameters
    ----------
    settings
        Broker, TLS, credentials, protocol and timing.
    client_id
        MQTT client id.
    subscriptions
        ``(topic filter, qos)`` subscribed after every connect.
    will
        Last will, published by the broker when the connection is lost.
    on_connected, on_disconnected, on_message
        Called on the asyncio loop.
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        subscriptions: Sequence[tuple[str, int]] = (),
        will: Will | None = None,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[str], None] | None = None,
        on_message: Callable[[Incoming], None] | None = None,
        on_delivered: Callable[[int, bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.will = will
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._on_message = on_message
        self._on_delivered = on_delivered
        self.stats = ConnectionStats()
        self.protocol: str = "3.1.1" if settings.protocol == "3.1.1" else "5"
        self.connected = False
        self._connected_event = asyncio.Event()
        self._subscribed_event = asyncio.Event()
        self._sub_pending: set[int] = set()
        self._client: paho.Client | None = None
        self._generation = 0
        self._socket_open_s: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._restart_task: asyncio.Task[None] | None = None
        self._retry_delay_s = settings.reconnect_min_s
        self._stopping = False
        self.down_since_s: float | None = None
        """Monotonic time since which the broker is unreachable (None: connected or not
        tried yet)."""
        self.down_reason = ""
        self._down_logged: tuple[str, float] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._start_client()
        self._watcher = asyncio.create_task(self._watch(), name="mqtt-watch")

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._watcher, self._restart_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._watcher = self._restart_task = None
        client, self._client = self._client, None
        self._generation += 1  # late callbacks of the old client are ignored
        if client is not None:
            await asyncio.get_running_loop().run_in_executor(None, _stop_client, client)
        self._set_disconnected("stopped")

    async def wait_connected(self, timeout_s: float) -> bool:
        return await _wait(self._connected_event, timeout_s)

    async def wait_subscribed(self, timeout_s: float) -> bool:
        """Connected and every subscription acknowledged."""
        return await _wait(self._subscribed_event, timeout_s)

    def _start_client(self) -> None:
        s = self.settings
        v5 = self.protocol == "5"
        self._generation += 1
        gen = self._generation
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else True,
            # Every failed or lost connection gets a new client (see _replace_client).
            reconnect_on_failure=False,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        client.on_connect = lambda c, u, flags, rc, props: self._post(gen, self._handle_connect, rc)
        client.on_disconnect = lambda c, u, flags, rc, props: self._post(
            gen, self._handle_disconnect, str(rc)
        )
        client.on_message = lambda c, u, msg: self._post(gen, self._handle_message, msg)
        client.on_subscribe = lambda c, u, mid, rcs, props: self._post(
            gen, self._handle_subscribe, mid
        )
        client.on_publish = lambda c, u, mid, rc, props: self._post(
            gen, self._handle_publish, mid, rc
        )
        client.on_socket_open = lambda c, u, sock: self._socket_opened(gen, sock)
        client.on_connect_fail = lambda c, u: self._connect_failed_thread(gen, c)
        client.reconnect_delay_set(1, 1)  # unused: paho must not retry on its own (see below)
        self._client = client
        self._socket_open_s = None
        client.connect_async(s.host, s.port, s.keepalive_s)
        client.loop_start()

    def _replace_client(self, reason: str, protocol: str, delay_s: float) -> None:
        """Start over with a new paho client after ``delay_s``.

        A new client rather than paho's own reconnect: QoS 1 messages in flight on the old
        connection are not resent late by paho (the owner requeues them, dropping stale ones),
        and a protocol change needs a new client anyway.
        """
        if self._stopping or (self._restart_task is not None and not self._restart_task.done()):
            return
        self._generation += 1  # ignore the rest of the old client's callbacks
        self._socket_open_s = None
        self._set_disconnected(reason)
        self._restart_task = asyncio.get_running_loop().create_task(
            self._restart(reason, protocol, delay_s), name="mqtt-restart"
        )

    async def _restart(self, reason: str, protocol: str, delay_s: float) -> None:
        old, self._client = self._client, None
        if old is not None:
            await asyncio.get_running_loop().run_in_executor(None, _stop_client, old)
        if protocol != self.protocol:
            self.stats.fallbacks += 1
            log.info("MQTT: %s; falling back to MQTT %s", reason, protocol)
            self.protocol = protocol
        await asyncio.sleep(delay_s)
        if not self._stopping:
            self._start_client()

    async def _watch(self) -> None:
        # A broker that takes the TCP connection but never sends CONNACK (amqtt with a v5
        # CONNECT carrying credentials) would leave paho waiting: time it out.
        while True:
            await asyncio.sleep(WATCH_PERIOD_S)
            opened = self._socket_open_s
            if (
                not self.connected
                and opened is not None
                and time.monotonic() - opened > self.settings.connect_timeout_s
            ):
                self._note("no CONNACK in time")
                auto_v5 = self.settings.protocol == "auto" and self.protocol == "5"
                if not auto_v5:  # (with auto, first try 3.1.1: negotiation, not an outage)
                    self._degraded("the broker accepted TCP but did not answer the MQTT CONNECT")
                self._replace_client(
                    "no CONNACK in time",
                    "3.1.1" if auto_v5 else self.protocol,
                    0.0 if auto_v5 else self._next_delay(),
                )

    def _next_delay(self) -> float:
        delay = self._retry_delay_s
        self._retry_delay_s = min(2 * delay, self.settings.reconnect_max_s)
        return delay

    # -- paho callbacks (paho thread) -> asyncio -----------------------------------------

    def _post(self, gen: int, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closing
            loop.call_soon_threadsafe(self._dispatch, gen, fn, args)

    def _dispatch(self, gen: int, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        if gen == self._generation:
            fn(*args)

    def _socket_opened(self, gen: int, sock: Any) -> None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._post(gen, self._mark_socket_open)

    def _connect_failed_thread(self, gen: int, client: paho.Client) -> None:
        # paho calls this from inside its ``except OSError`` block and passes no exception:
        # the one being handled is the reason (a TLS verification error, refused, ...).
        reason = describe_connect_error(sys.exc_info()[1])
        # paho would wait and retry the first connection itself; a new client with this
        # class's backoff replaces it instead, so end this one's thread right away.
        with contextlib.suppress(Exception):
            client.disconnect()
        self._post(gen, self._connect_failed, reason)

    def _mark_socket_open(self) -> None:
        self._socket_open_s = time.monotonic()

    # -- handlers (asyncio loop) ---------------------------------------------------------

    def _handle_connect(self, rc: ReasonCode) -> None:
        client = self._client
        if client is None:
            return
        if rc.is_failure:
            self.stats.refused += 1
            self._note(f"broker refused the connection: {rc}")
            v5_refused = rc.value in UNSUPPORTED_PROTOCOL and self.protocol == "5"
            if v5_refused and self.settings.protocol == "auto":
                # Protocol negotiation, not an outage.
                self._replace_client("broker has no MQTT v5", "3.1.1", 0.0)
            else:
                self._degraded(f"broker refused the connection: {rc}")
                self._replace_client(str(rc), self.protocol, self._next_delay())
            return
        self._socket_open_s = None
        self._retry_delay_s = self.settings.reconnect_min_s
        if self.down_since_s is not None:
            log.warning(
                "MQTT broker %s:%d reachable again after %.1f s",
                self.settings.host,
                self.settings.port,
                time.monotonic() - self.down_since_s,
            )
        self.down_since_s, self.down_reason, self._down_logged = None, "", None
        self.connected = True
        self._connected_event.set()
        self.stats.connects += 1
        self._sub_pending = set()
        for topic, qos in self.subscriptions:
            _, mid = client.subscribe(topic, qos)
            if mid is not None:
                self._sub_pending.add(mid)
        if not self._sub_pending:
            self._subscribed_event.set()
        log.info(
            "MQTT %s connected to %s:%d", self.protocol, self.settings.host, self.settings.port
        )
        if self._on_connected is not None:
            self._on_connected()

    def _connect_failed(self, reason: str) -> None:
        self._note(f"cannot connect to {self.settings.host}:{self.settings.port}: {reason}")
        self._degraded(reason)
        self._replace_client("connect failed", self.protocol, self._next_delay())

    def _handle_subscribe(self, mid: int) -> None:
        self._sub_pending.discard(mid)
        if not self._sub_pending and self.connected:
            self._subscribed_event.set()

    def _handle_disconnect(self, reason: str) -> None:
        if self.connected:
            self.stats.disconnects += 1
            self._note(f"disconnected: {reason}")
            self._degraded(f"connection lost: {reason}")
        self._replace_client(f"disconnected: {reason}", self.protocol, 0.0)

    def _set_disconnected(self, reason: str) -> None:
        was = self.connected
        self.connected = False
        self._connected_event.clear()
        self._subscribed_event.clear()
        if was and self._on_disconnected is not None:
            self._on_disconnected(reason)

    def _handle_message(self, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        response = getattr(props, "ResponseTopic", None)
        correlation = getattr(props, "CorrelationData", None)
        expiry = getattr(props, "MessageExpiryInterval", None)
        if self._on_message is not None:
            self._on_message(
                Incoming(
                    msg.topic,
                    bytes(msg.payload),
                    msg.qos,
                    bool(msg.retain),
                    response,
                    correlation,
                    expiry,
                )
            )

    def _handle_publish(self, mid: int, rc: ReasonCode) -> None:
        ok = not rc.is_failure
        if ok:
            self.stats.delivered += 1
        else:
            self.stats.rejected += 1
            self._note(f"broker refused message {mid}: {rc}")
        if self._on_delivered is not None:
            self._on_delivered(mid, ok)

    def _note(self, error: str) -> None:
        self.stats.errors.append(error)
        del self.stats.errors[:-20]

    def _degraded(self, reason: str) -> None:
        """The broker is unreachable: say so once per reason (and again every minute), with
        the reason; the owner keeps working and queues (the service keeps coaching)."""
        now = time.monotonic()
        if self.down_since_s is None:
            self.down_since_s = now
            self.stats.outages += 1
        self.down_reason = reason
        last = self._down_logged
        if last is not None and last[0] == reason and now - last[1] < DEGRADED_LOG_EVERY_S:
            return
        self._down_logged = (reason, now)
        log.warning(
            "MQTT broker %s:%d unavailable for %.0f s: %s; retrying with backoff (up to %g s)",
            self.settings.host,
            self.settings.port,
            now - self.down_since_s,
            reason,
            self.settings.reconnect_max_s,
        )

    # -- publishing (asyncio loop) -------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool = False,
        *,
        expiry_s: float | None = None,
        response_correlation: bytes | None = None,
    ) -> tuple[MQTTErrorCode, int]:
        """Hand a message to paho: (result code, message id). Not connected: MQTT_ERR_NO_CONN.

        On v5, ``expiry_s`` becomes the message expiry interval (the broker drops the message
        when it cannot deliver it in time).
        """
        client = self._client
        if client is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN, 0
        props: Properties | None = None
        if self.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = "application/json"
            if expiry_s is not None and math.isfinite(expiry_s):
                props.MessageExpiryInterval = max(1, math.ceil(expiry_s))
            if response_correlation is not None:
                props.CorrelationData = response_correlation
        info = client.publish(topic, payload, qos, retain, properties=props)
        return info.rc, info.mid


async def _wait(event: asyncio.Event, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


def _stop_client(client: paho.Client) -> None:
    # Blocking (joins paho's thread): run in an executor.
    with contextlib.suppress(Exception):
        client.disconnect()
    with contextlib.suppress(Exception):
        client.loop_stop()
