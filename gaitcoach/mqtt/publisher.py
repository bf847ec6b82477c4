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
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from gaitcoach.coach.commands import ENVELOPE_KEYS, Command, CommandError
from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.connection import Incoming, MqttConnection, Will
from gaitcoach.mqtt.homeassistant import discovery_messages
from gaitcoach.mqtt.outbox import Outbox, Outgoing
from gaitcoach.mqtt.payloads import (
    CuePayload,
    MetricsPayload,
    ReplyError,
    ReplyPayload,
    SessionPayload,
    StatusPayload,
    StridePayload,
    encode,
    pods_from_events,
    status_offline,
)
from gaitcoach.mqtt.requests import CommandRequest, read_command
from gaitcoach.mqtt.topics import (
    QOS_COMMAND,
    QOS_CUE,
    QOS_METRICS,
    QOS_REPLY,
    QOS_SESSION,
    QOS_STATUS,
    Topics,
)
from gaitcoach.safepath import clip
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
    rejected_by_code: Counter[str] = field(default_factory=Counter)
    """Rejected commands by error code."""


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _clipped_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments as kept in memory: scalars, long strings cut (the JSON is at most 4 levels
    deep and 4 KiB here, but a record should not hold the whole of it)."""
    out: dict[str, Any] = {}
    for k, v in list(args.items())[:16]:
        if isinstance(v, str):
            out[clip(k, 40)] = clip(v, 200)
        elif v is None or isinstance(v, bool | int | float):
            out[clip(k, 40)] = v if not isinstance(v, int) or abs(v) < 10**18 else clip(str(v))
        else:
            out[clip(k, 40)] = f"<{type(v).__name__}>"
    return out


class RateLimitedLog:
    """At most ``burst`` log lines per ``period_s``; the rest are counted and the count is
    told in the next line that gets through. A command flood must not flood the log."""

    def __init__(self, logger: logging.Logger, burst: int = 10, period_s: float = 10.0) -> None:
        self.logger = logger
        self.burst = burst
        self.period_s = period_s
        self.suppressed = 0
        self._window_start = -math.inf
        self._in_window = 0

    def log(self, level: int, msg: str, *args: Any, exc_info: bool = False) -> bool:
        now = time.monotonic()
        if now - self._window_start >= self.period_s:
            self._window_start, self._in_window = now, 0
        if self._in_window >= self.burst:
            self.suppressed += 1
            return False
        self._in_window += 1
        if self.suppressed:
            msg += f" ({self.suppressed} similar lines suppressed)"
            self.suppressed = 0
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True


DISCOVERY_MIN_INTERVAL_S = 1.0
"""Home Assistant's ``online`` is answered at most this often (one answer is eight retained
configs, about 6 KB): a flood of ``online`` must not become a flood of discovery messages."""

HANDLED_KEEP = 256
"""Commands kept in :attr:`MqttPublisher.handled_commands_` (the newest; the session record
keeps every applied one on disk)."""


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
        self.handled_commands_: deque[HandledCommand] = deque(maxlen=HANDLED_KEEP)
        """The latest commands and their answers (bounded: the process runs for hours)."""
        self._command_log = RateLimitedLog(log)
        self.session_id: str | None = None
        self.on_cue_outcome: Callable[[str, bool, str], None] | None = None
        """``(cue id, delivered, how)``: handed to the broker ("sent") or dropped on the way
        ("expired", "queue_full", ...): the session marks cues the runner never got."""
        self._outbox = Outbox(settings.queue_max, on_drop=self._dropped_item)
        self._pods: dict[Foot, LinkEvent] = {}  # the latest event per foot
        # QoS 1 messages handed to the connection and not yet acknowledged, by message id.
        self._pending: dict[int, tuple[asyncio.Future[bool], Outgoing | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._discovery_at = -math.inf
        """``time.monotonic()`` of the latest discovery announcement."""
        self._discovery_due: asyncio.TimerHandle | None = None
        will = status_offline(runner, clock(), "connection lost")
        subscriptions = [(self.topics.commands, QOS_COMMAND)]
        self._ha_status = f"{settings.homeassistant_prefix}/status"
        if settings.homeassistant_discovery:
            # Home Assistant says "online" here when it (re)starts: announce again then.
            subscriptions.append((self._ha_status, 1))
        self.connection = MqttConnection(
            settings,
            settings.client_id or f"gaitcoach-{runner}",
            subscriptions=subscriptions,
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
            if self._discovery_due is not None:
                self._discovery_due.cancel()
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
        """Connected with its command subscription acknowledged: a command published after
        this is received (a bare connect could still miss it on a busy machine)."""
        return await self.connection.wait_subscribed(timeout_s)

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
        payload = CuePayload.from_cue(cue, self.runner, self.unix_offset_s, self.session_id)
        self._send(
            Outgoing(
                "cue",
                self.topics.cue,
                encode(payload),
                QOS_CUE,
                False,
                payload.created_unix_s,
                payload.expires_unix_s,
                ref=cue.id,
            )
        )

    def _outcome(self, item: Outgoing, delivered: bool, how: str) -> None:
        if item.kind == "cue" and item.ref and self.on_cue_outcome is not None:
            self.on_cue_outcome(item.ref, delivered, how)

    def _dropped_item(self, item: Outgoing, reason: str) -> None:
        self._outcome(item, False, reason)

    def publish_metrics(self, metrics: GaitMetrics, live: Mapping[str, Any] | None = None) -> None:
        """Rolling metrics; ``live`` fills the optional fields (session, targets, mute, link:
        :func:`gaitcoach.service.progress.live_fields`)."""
        payload = MetricsPayload.from_metrics(metrics, self.runner, self.unix_offset_s)
        if live:
            payload = replace(payload, **live)
        item = self._fresh(
            "metrics", self.topics.metrics, encode(payload), QOS_METRICS, payload.t_unix_s
        )
        self._send(replace(item, latest_only=True))

    def publish_stride(self, stride: StrideRecord) -> None:
        """Per-stride records, when ``publish_strides`` is on."""
        if not self.settings.publish_strides:
            return
        payload = StridePayload.from_stride(
            stride, self.runner, self.unix_offset_s, self.session_id
        )
        qos = self.settings.stride_qos
        item = self._fresh("stride", self.topics.stride, encode(payload), qos, payload.t_unix_s)
        if qos > 0:
            # Stored centrally (team hub): kept while the broker or the ingest is slow; what
            # is still older is dropped here and uploaded after the run by `gaitcoach sync`.
            item = replace(item, expires_unix_s=payload.t_unix_s + self.settings.stride_max_age_s)
        self._send(item)

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

    def publish_discovery(self) -> None:
        """Home Assistant discovery configs (retained), when enabled. Sent on every connect
        and when Home Assistant comes online; never queued (the next connect sends them)."""
        if not self.settings.homeassistant_discovery or not self.connection.connected:
            return
        self._discovery_at = time.monotonic()
        now = self.clock()
        for topic, payload in discovery_messages(self.topics, self.settings.homeassistant_prefix):
            self._send(Outgoing("discovery", topic, payload, 1, True, now))

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

    def _send(self, item: Outgoing) -> None:
        now = self.clock()
        if not self.connection.connected:
            self._outbox.push(item, now)
            return
        if item.expired(now):
            self.stats.dropped[f"{item.kind}_expired"] += 1
            self._outcome(item, False, "expired")
            return
        try:
            rc, mid = self.connection.publish(
                item.topic,
                item.payload,
                item.qos,
                item.retain,
                expiry_s=item.expires_unix_s - now,
                response_correlation=item.correlation,
            )
        except (ValueError, UnicodeError) as exc:  # paho refuses the topic (e.g. a wildcard)
            self.stats.dropped[f"{item.kind}_bad_topic"] += 1
            self._outcome(item, False, "bad_topic")
            self._command_log.log(logging.WARNING, "not sent on %r: %s", clip(item.topic), exc)
            return
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats.published[item.kind] += 1
            if item.qos == 0:
                self._outcome(item, True, "sent")
            if item.qos > 0:
                future = asyncio.get_running_loop().create_future()
                self._pending[mid] = (future, item)
        elif rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            self._outbox.push(item, now)  # the connection broke a moment ago
        else:
            self.stats.dropped[f"{item.kind}_{rc.name.lower()}"] += 1
            self._outcome(item, False, rc.name.lower())

    def _connected(self) -> None:
        # Online status first (it also reports what was dropped), then what waited.
        waiting = self._outbox.take_all(self.clock())
        self.publish_status()
        self.publish_discovery()
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
        if entry is not None and entry[1] is not None:
            # QoS 1: the broker has it (PUBACK); a refused one is not delivered.
            self._outcome(entry[1], ok, "sent" if ok else "refused")

    async def _wait_mid(self, mid: int, timeout_s: float) -> bool:
        entry = self._pending.setdefault(mid, (asyncio.get_running_loop().create_future(), None))
        try:
            return await asyncio.wait_for(asyncio.shield(entry[0]), timeout_s)
        except TimeoutError:
            return False

    # -- commands --------------------------------------------------------------------------

    def _message(self, msg: Incoming) -> None:
        if msg.topic == self._ha_status and self.settings.homeassistant_discovery:
            if msg.payload == b"online":
                self._discovery_requested()
            return
        if self.topics.command_name(msg.topic) is None:
            return
        now = self.clock()
        request, parsed = read_command(self.topics, msg)
        if isinstance(parsed, CommandError):
            self._answer(request, now, error=parsed)
            return
        try:
            if self.command_handler is None:
                raise CommandError("unavailable", "this service does not take commands")
            result = self.command_handler(parsed)
        except CommandError as exc:
            self._answer(request, now, error=exc)
            return
        except Exception as exc:  # a failing handler must not stop the service
            self._answer(request, now, error=self._internal_error(request.name, exc))
            return
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(
                self._finish(request, now, parsed, result)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._answer(request, now, parsed, result)

    def _discovery_requested(self) -> None:
        """Announce again now, or once when :data:`DISCOVERY_MIN_INTERVAL_S` is up."""
        if self._discovery_due is not None:
            return  # one announcement is due already: it answers this request too
        wait = self._discovery_at + DISCOVERY_MIN_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self.publish_discovery()
            return

        def due() -> None:
            self._discovery_due = None
            self.publish_discovery()

        self._discovery_due = asyncio.get_running_loop().call_later(wait, due)

    def _internal_error(self, name: str, exc: Exception) -> CommandError:
        """Log a failing handler (call from its ``except`` block) and wrap it for the reply."""
        self._command_log.log(logging.ERROR, "command %s failed", name, exc_info=True)
        return CommandError("internal_error", clip(f"{type(exc).__name__}: {exc}"))

    async def _finish(
        self,
        request: CommandRequest,
        now: float,
        command: Command,
        pending: Awaitable[CommandResult],
    ) -> None:
        try:
            result = await pending
        except CommandError as exc:
            self._answer(request, now, error=exc)
        except Exception as exc:
            self._answer(request, now, error=self._internal_error(request.name, exc))
        else:
            self._answer(request, now, command, result)

    def _answer(
        self,
        request: CommandRequest,
        now: float,
        command: Command | None = None,
        result: CommandResult = None,
        error: CommandError | None = None,
    ) -> None:
        """Send the one reply of a command (and keep a bounded record of it)."""
        try:
            safe = _json_safe(dict(result)) if result is not None and error is None else None
            payload = self._reply_payload(request, error, safe)
        except (TypeError, ValueError, RecursionError) as exc:  # a result JSON cannot carry
            error = self._internal_error(request.name, exc)
            safe = None
            payload = self._reply_payload(request, error, None)
        ok = error is None
        if ok:
            self.stats.commands_ok += 1
        else:
            assert error is not None
            self.stats.commands_rejected += 1
            self.stats.rejected_by_code[error.code] += 1
            self._command_log.log(
                logging.WARNING,
                "command %s rejected: %s: %s",
                clip(request.name, 64),
                error.code,
                clip(error.message),
            )
        self.handled_commands_.append(
            HandledCommand(
                now,
                f"{self.topics.base}/cmd/{request.name}",
                request.name,
                ok,
                request.request_id,
                _clipped_args(request.args),
                safe,
                error.code if error else None,
                clip(error.message) if error else None,
                command,
            )
        )
        self._send(
            Outgoing(
                "reply",
                request.reply_topic,
                payload,
                QOS_REPLY,
                False,
                now,
                now + 60.0,
                correlation=request.correlation_data,
            )
        )

    def _reply_payload(
        self, request: CommandRequest, error: CommandError | None, result: dict[str, Any] | None
    ) -> bytes:
        return encode(
            ReplyPayload(
                runner=self.runner,
                command=request.name,
                ok=error is None,
                t_unix_s=self.clock(),
                id=request.request_id,
                result=result,
                error=ReplyError(error.code, error.message) if error else None,
            )
        )


@contextlib.asynccontextmanager
async def service_publisher(
    settings: MqttSettings,
    runner: str,
    **kwargs: Any,
) -> AsyncIterator[MqttPublisher | None]:
    """The service's publisher on the configured broker, or None when no broker is configured
    (``host = ""``: coaching in the live view only).

    The configured broker is the only one: when it is down or refuses us, the publisher
    retries with backoff and reports the degraded state; it never switches to another broker
    (the embedded one is for the demo and tests).
    """
    if not settings.configured:
        log.warning("MQTT off (no [mqtt] host configured): cues are shown locally only")
        yield None
        return
    async with MqttPublisher(settings, runner, **kwargs) as publisher:
        yield publisher
