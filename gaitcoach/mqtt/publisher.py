"""The service's MQTT side: cues, metrics, strides, status and session out; commands in.

``async with MqttPublisher(settings, runner) as pub:`` connects in the background and never
blocks the caller: while the broker is away, messages wait in a bounded
:class:`~gaitcoach.mqtt.outbox.Outbox` that drops stale cues first and counts every drop, and
the service keeps analysing. Leaving the block announces ``offline`` (retained) and
disconnects; a crash leaves the same to the broker through the last will.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from gaitcoach.coach.commands import ENVELOPE_KEYS, Command, CommandError, parse_command
from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.connection import Incoming, MqttConnection, Will
from gaitcoach.mqtt.embedded import EmbeddedBroker, broker_reachable
from gaitcoach.mqtt.outbox import Outbox, Outgoing
from gaitcoach.mqtt.payloads import (
    SCHEMA_VERSION,
    CuePayload,
    MetricsPayload,
    PayloadError,
    ReplyError,
    ReplyPayload,
    SessionPayload,
    StatusPayload,
    StridePayload,
    decode_object,
    encode,
    pods_from_events,
    status_offline,
)
from gaitcoach.mqtt.topics import (
    QOS_COMMAND,
    QOS_CUE,
    QOS_METRICS,
    QOS_REPLY,
    QOS_SESSION,
    QOS_STATUS,
    QOS_STRIDE,
    Topics,
)
from gaitcoach.types import Cue, Foot, GaitMetrics, LinkEvent, StrideRecord

log = logging.getLogger(__name__)

CommandResult = Mapping[str, Any] | None
CommandHandler = Callable[[Command], CommandResult | Awaitable[CommandResult]]
"""Applies a validated command; returns what the reply reports, raises CommandError to refuse."""


@dataclass(frozen=True, slots=True)
class HandledCommand:
    """A command as received and answered (for the session record)."""

    t_unix_s: float
    topic: str
    name: str
    ok: bool
    request_id: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    command: Command | None = None

    def record_args(self) -> dict[str, Any]:
        """JSON-able details for the session record (``Recorder.add_command(t, name, ...)``)."""
        return {
            "args": {k: v for k, v in self.args.items() if k not in ENVELOPE_KEYS},
            "ok": self.ok,
            "request_id": self.request_id,
            "result": self.result,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


@dataclass(slots=True)
class PublisherStats:
    published: Counter[str] = field(default_factory=Counter)
    """Handed to the broker connection, by kind."""
    dropped: Counter[str] = field(default_factory=Counter)
    """Not sent, by ``<kind>_<reason>`` (expired, queue_full, superseded, ...)."""
    requeued: int = 0
    """QoS 1 messages in flight when the connection broke, queued again."""
    commands_ok: int = 0
    commands_rejected: int = 0


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _internal_error(name: str, exc: Exception) -> CommandError:
    """Log a failing handler (call from its ``except`` block) and wrap it for the reply."""
    log.exception("command %s failed", name)
    return CommandError("internal_error", f"{type(exc).__name__}: {exc}")


class MqttPublisher:
    """Publishes one runner's topic tree and answers its commands.

    Parameters
    ----------
    settings
        The ``[mqtt]`` section.
    runner
        Runner id (a topic level).
    command_handler
        Applies validated commands (sync or async). Without one, commands get an error reply.
    unix_offset_s
        Added to the service clock's times to get Unix time on the wire.
    clock
        Unix time now (for expiry decisions); ``time.time`` by default.
    """

    def __init__(
        self,
        settings: MqttSettings,
        runner: str,
        *,
        command_handler: CommandHandler | None = None,
        unix_offset_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.topics = Topics(runner, settings.topic_prefix)
        self.command_handler = command_handler
        self.unix_offset_s = unix_offset_s
        self.clock = clock
        self.stats = PublisherStats()
        self.handled_commands_: list[HandledCommand] = []
        self.session_id: str | None = None
        self._outbox = Outbox(settings.queue_max)
        self._pods: dict[Foot, LinkEvent] = {}  # the latest event per foot
        # QoS 1 messages handed to the connection and not yet acknowledged, by message id.
        self._pending: dict[int, tuple[asyncio.Future[bool], Outgoing | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.embedded_broker: EmbeddedBroker | None = None
        """Set by :func:`service_publisher` when it started one."""
        will = status_offline(runner, clock(), "connection lost")
        self.connection = MqttConnection(
            settings,
            settings.client_id or f"gaitcoach-{runner}",
            subscriptions=[(self.topics.commands, QOS_COMMAND)],
            will=Will(self.topics.status, encode(will), QOS_STATUS, True),
            on_connected=self._connected,
            on_disconnected=self._disconnected,
            on_message=self._message,
            on_delivered=self._delivered,
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> MqttPublisher:
        await self.connection.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self, timeout_s: float = 2.0) -> None:
        """Announce offline (retained), wait briefly for it, disconnect."""
        try:
            if self.connection.connected:
                payload = encode(status_offline(self.runner, self.clock(), "stopped"))
                rc, mid = self.connection.publish(self.topics.status, payload, QOS_STATUS, True)
                if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    await self._wait_mid(mid, timeout_s)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await self.connection.stop()

    @property
    def connected(self) -> bool:
        return self.connection.connected

    @property
    def protocol(self) -> str:
        return self.connection.protocol

    @property
    def queued(self) -> int:
        return len(self._outbox)

    @property
    def dropped(self) -> dict[str, int]:
        """Everything not sent, by ``<kind>_<reason>``."""
        return dict(self.stats.dropped + self._outbox.dropped)

    async def wait_connected(self, timeout_s: float = 5.0) -> bool:
        return await self.connection.wait_connected(timeout_s)

    async def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until nothing is queued and every QoS 1 message was acknowledged."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._outbox and not self._pending and self.connected:
                return True
            await asyncio.sleep(0.01)
        return False

    # -- what the service publishes --------------------------------------------------------

    def publish_cue(self, cue: Cue) -> None:
        payload = CuePayload.from_cue(cue, self.runner, self.unix_offset_s)
        self._send(
            Outgoing(
                "cue",
                self.topics.cue,
                encode(payload),
                QOS_CUE,
                False,
                payload.created_unix_s,
                payload.expires_unix_s,
            )
        )

    def publish_metrics(self, metrics: GaitMetrics) -> None:
        payload = MetricsPayload.from_metrics(metrics, self.runner, self.unix_offset_s)
        item = self._fresh(
            "metrics", self.topics.metrics, encode(payload), QOS_METRICS, payload.t_unix_s
        )
        self._send(replace(item, latest_only=True))

    def publish_stride(self, stride: StrideRecord) -> None:
        """Per-stride records, when ``publish_strides`` is on."""
        if not self.settings.publish_strides:
            return
        payload = StridePayload.from_stride(stride, self.runner, self.unix_offset_s)
        self._send(
            self._fresh("stride", self.topics.stride, encode(payload), QOS_STRIDE, payload.t_unix_s)
        )

    def publish_status(self) -> None:
        """Retained service status: online, pods' link and battery, what was dropped."""
        self._send(
            Outgoing(
                "status", self.topics.status, encode(self._status()), QOS_STATUS, True, self.clock()
            )
        )

    def update_pod(self, event: LinkEvent) -> None:
        """Record one pod's link event and publish the status."""
        self._pods[event.foot] = event
        self.publish_status()

    def publish_session(self, summary: Mapping[str, Any]) -> None:
        """The post-run summary, retained on ``.../session``."""
        now = self.clock()
        payload = SessionPayload(self.runner, now, dict(_json_safe(summary)))
        self._send(
            Outgoing("session", self.topics.session, encode(payload), QOS_SESSION, True, now)
        )

    def _status(self) -> StatusPayload:
        return StatusPayload(
            runner=self.runner,
            online=True,
            t_unix_s=self.clock(),
            protocol=self.protocol,
            session_id=self.session_id,
            pods=pods_from_events(list(self._pods.values()), self.unix_offset_s),
            dropped=self.dropped,
        )

    def _fresh(self, kind: str, topic: str, payload: bytes, qos: int, t_unix_s: float) -> Outgoing:
        return Outgoing(
            kind, topic, payload, qos, False, t_unix_s, t_unix_s + self.settings.metrics_max_age_s
        )

    # -- sending ---------------------------------------------------------------------------

    def _send(self, item: Outgoing, correlation: bytes | None = None) -> None:
        now = self.clock()
        if not self.connection.connected:
            self._outbox.push(item, now)
            return
        if item.expired(now):
            self.stats.dropped[f"{item.kind}_expired"] += 1
            return
        rc, mid = self.connection.publish(
            item.topic,
            item.payload,
            item.qos,
            item.retain,
            expiry_s=item.expires_unix_s - now,
            response_correlation=correlation,
        )
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats.published[item.kind] += 1
            if item.qos > 0:
                future = asyncio.get_running_loop().create_future()
                self._pending[mid] = (future, item)
        elif rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            self._outbox.push(item, now)  # the connection broke a moment ago
        else:
            self.stats.dropped[f"{item.kind}_{rc.name.lower()}"] += 1

    def _connected(self) -> None:
        # Online status first (it also reports what was dropped), then what waited.
        waiting = self._outbox.take_all(self.clock())
        self.publish_status()
        for item in waiting:
            if item.kind != "status":
                self._send(item)

    def _disconnected(self, reason: str) -> None:
        # The connection is replaced, not resumed: what it had not delivered goes back to the
        # queue, where stale cues are dropped instead of arriving late.
        pending, self._pending = self._pending, {}
        now = self.clock()
        for future, item in pending.values():
            if not future.done():
                future.set_result(False)
            if item is not None:
                self.stats.requeued += 1
                self._outbox.push(item, now)

    def _delivered(self, mid: int, ok: bool) -> None:
        entry = self._pending.pop(mid, None)
        if entry is not None and not entry[0].done():
            entry[0].set_result(ok)

    async def _wait_mid(self, mid: int, timeout_s: float) -> bool:
        entry = self._pending.setdefault(mid, (asyncio.get_running_loop().create_future(), None))
        try:
            return await asyncio.wait_for(asyncio.shield(entry[0]), timeout_s)
        except TimeoutError:
            return False

    # -- commands --------------------------------------------------------------------------

    def _message(self, msg: Incoming) -> None:
        name = self.topics.command_name(msg.topic)
        if name is None:
            return
        now = self.clock()
        request_id: str | None = None
        args: dict[str, Any] = {}
        try:
            if not name or "/" in name:
                raise CommandError("unknown_command", f"{name!r}: use cmd/<name>")
            try:
                args = decode_object(msg.payload) if msg.payload.strip() else {}
            except PayloadError as exc:
                raise CommandError("bad_json", str(exc)) from None
            rid = args.get("id")
            request_id = rid if isinstance(rid, str) else None
            runner = args.get("runner")
            if runner is not None and runner != self.runner:
                raise CommandError("wrong_runner", f"runner {runner!r} sent to {self.runner!r}")
            version = args.get("v", SCHEMA_VERSION)
            if version != SCHEMA_VERSION:
                raise CommandError("bad_version", f"v = {version!r}: this service speaks v1")
            command = parse_command(name, args)
            if self.command_handler is None:
                raise CommandError("unavailable", "this service does not take commands")
            result = self.command_handler(command)
        except CommandError as exc:
            self._answer(msg, name, now, request_id, args, error=exc)
            return
        except Exception as exc:  # a failing handler must not stop the service
            self._answer(msg, name, now, request_id, args, error=_internal_error(name, exc))
            return
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(
                self._finish(msg, name, now, request_id, args, command, result)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._answer(msg, name, now, request_id, args, command, result)

    async def _finish(
        self,
        msg: Incoming,
        name: str,
        now: float,
        request_id: str | None,
        args: dict[str, Any],
        command: Command,
        pending: Awaitable[CommandResult],
    ) -> None:
        try:
            result = await pending
        except CommandError as exc:
            self._answer(msg, name, now, request_id, args, error=exc)
        except Exception as exc:
            self._answer(msg, name, now, request_id, args, error=_internal_error(name, exc))
        else:
            self._answer(msg, name, now, request_id, args, command, result)

    def _answer(
        self,
        msg: Incoming,
        name: str,
        now: float,
        request_id: str | None,
        args: dict[str, Any],
        command: Command | None = None,
        result: CommandResult = None,
        error: CommandError | None = None,
    ) -> None:
        ok = error is None
        safe = _json_safe(dict(result)) if result is not None else None
        if ok:
            self.stats.commands_ok += 1
        else:
            self.stats.commands_rejected += 1
            log.warning("command %s rejected: %s", name, error)
        reply = ReplyPayload(
            runner=self.runner,
            command=name,
            ok=ok,
            t_unix_s=self.clock(),
            id=request_id,
            result=safe,
            error=ReplyError(error.code, error.message) if error else None,
        )
        self.handled_commands_.append(
            HandledCommand(
                now,
                msg.topic,
                name,
                ok,
                request_id,
                _json_safe(args),
                safe,
                error.code if error else None,
                error.message if error else None,
                command,
            )
        )
        topic = msg.response_topic or self.topics.reply
        self._send(
            Outgoing("reply", topic, encode(reply), QOS_REPLY, False, now, now + 60.0),
            correlation=msg.correlation_data,
        )


@contextlib.asynccontextmanager
async def service_publisher(
    settings: MqttSettings,
    runner: str,
    **kwargs: Any,
) -> AsyncIterator[MqttPublisher]:
    """A publisher on the configured broker, or on an embedded one for a zero-setup run.

    With ``embedded = "auto"`` an embedded broker (amqtt, MQTT 3.1.1, loopback) starts when no
    host is configured or the configured one does not accept connections; ``"always"`` always
    starts one; ``"never"`` only waits for the configured broker.
    """
    embedded: EmbeddedBroker | None = None
    host = settings.host or "127.0.0.1"
    use_embedded = settings.embedded == "always" or (
        settings.embedded == "auto"
        and (not settings.configured or not await broker_reachable(host, settings.port))
    )
    if use_embedded:
        embedded = EmbeddedBroker("127.0.0.1", settings.port)
        try:
            await embedded.start()
        except Exception:  # the usual port is taken: any free one will do
            embedded = EmbeddedBroker("127.0.0.1", 0)
            await embedded.start()
        settings = replace(
            settings,
            host="127.0.0.1",
            port=embedded.port,
            protocol="3.1.1",
            tls=False,
            ca_file=None,
            cert_file=None,
            key_file=None,
        )
        log.warning("no MQTT broker reachable: using the embedded one on port %d", embedded.port)
    try:
        async with MqttPublisher(settings, runner, **kwargs) as publisher:
            publisher.embedded_broker = embedded
            yield publisher
    finally:
        if embedded is not None:
            await embedded.stop()
