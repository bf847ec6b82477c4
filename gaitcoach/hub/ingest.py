"""``gaitcoach ingest``: MQTT -> PostgreSQL workers on a shared subscription.

One worker = one process = one MQTT v5 connection + one PostgreSQL connection. Every worker
subscribes to ``$share/<group>/<prefix>/+/<kind>``, so the broker hands each message to one
worker of the group: N workers split the load with no per-runner configuration.

Exactly-once storage from at-least-once delivery:

- messages are acknowledged (``PUBACK``, paho's ``manual_ack``) only after the transaction
  holding them committed; a crash before that leaves them unacknowledged in the worker's
  persistent broker session (``clean_start = false``, session expiry ``session_expiry_s``),
  and the broker sends them again when the worker is back;
- every row has its stable key and is upserted, so what arrives twice is stored once.

A worker that is killed is restarted by the supervisor (``gaitcoach ingest --workers N``)
under the same client id ``<group>-<slot>``; it resumes its session and gets its unacknowledged
messages again. A worker stopped with SIGTERM leaves the group cleanly: it unsubscribes (the
others take its share from then on), drains what the broker had queued for it, commits,
acknowledges and ends its session. docs/hub.md has the details; the Mosquitto specifics
(round-robin over the group's sessions, connected or not) are in docs/scale.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gaitcoach.hub import records
from gaitcoach.hub.client import v5_client
from gaitcoach.hub.config import HubSettings
from gaitcoach.hub.db import Batch, Writer, session_digest
from gaitcoach.hub.records import CheckRequest, RecordError
from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.connection import describe_connect_error
from gaitcoach.proc import die_with_parent
from gaitcoach.safepath import clip, write_text_inside

log = logging.getLogger(__name__)

QUEUE_MAX = 20_000
"""Messages between paho's thread and the writer (:class:`Inbox`)."""
QUEUE_MAX_BYTES = 64 * 1024 * 1024
"""Their payload bytes: 20,000 live strides are about 14 MB; QoS 0 payloads up to their
kind's limit (``records.MAX_BYTES``) would make 20,000 of them up to 10 GB."""


@dataclass(frozen=True, slots=True)
class Message:
    generation: int
    """Connection the message came on: acknowledgements go only to that connection."""
    mid: int
    qos: int
    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None


def _size(m: Message) -> int:
    return len(m.payload) + len(m.topic) + len(m.correlation or b"") + len(m.response_topic or "")


class Inbox:
    """Messages from paho's thread to the writer, bounded by count and by bytes; paho's
    thread never waits here (it also keeps the connection alive and must not block).

    A QoS 0 message that does not fit is refused (:meth:`offer` returns False; the worker
    drops and counts it): QoS 0 is best effort, and nothing else bounds it, since the broker's
    receive maximum covers QoS 1 only. A QoS 1 message is always taken: the broker sends at
    most ``receive_max`` of them unacknowledged (nothing is acknowledged before its commit),
    each at most its kind's limit, and dropping one would lose it (acknowledged) or stall
    the session (not). QoS 1 messages count towards the bounds, so a flood of QoS 0 cannot
    crowd them out; they crowd QoS 0 out.
    """

    def __init__(self, max_messages: int = QUEUE_MAX, max_bytes: int = QUEUE_MAX_BYTES) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[Message] = deque()
        self._bytes = 0
        self._ready = threading.Condition(threading.Lock())

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def empty(self) -> bool:
        return not self._items

    def offer(self, m: Message) -> bool:
        """Queue ``m`` unless it is QoS 0 and the bounds are reached; never blocks."""
        size = _size(m)
        with self._ready:
            full = len(self._items) >= self.max_messages or self._bytes + size > self.max_bytes
            if full and m.qos == 0:
                return False
            self._items.append(m)
            self._bytes += size
            self._ready.notify()
        return True

    def get(self, timeout: float | None = None) -> Message:
        """The oldest message, waiting at most ``timeout`` (``queue.Empty`` after it)."""
        with self._ready:
            if not self._ready.wait_for(lambda: bool(self._items), timeout):
                raise queue.Empty
            m = self._items.popleft()
            self._bytes -= _size(m)
            return m

    def get_nowait(self) -> Message:
        return self.get(timeout=0)

    def discard_redelivered(self, generation: int) -> int:
        """Drop the QoS 1 messages from connections before ``generation``: the broker sends
        them again on a resumed session (they were not acknowledged), so QoS 1 messages held
        here stay within one receive maximum however often the connection drops."""
        with self._ready:
            keep = deque(m for m in self._items if m.qos == 0 or m.generation >= generation)
            gone = len(self._items) - len(keep)
            self._items = keep
            self._bytes = sum(_size(m) for m in keep)
        return gone


@dataclass(slots=True)
class IngestStats:
    received: Counter[str] = field(default_factory=Counter)
    """Messages by kind."""
    rejected: Counter[str] = field(default_factory=Counter)
    """Refused messages by reason (acknowledged and dropped)."""
    strides_live: int = 0
    strides_inserted_live: int = 0
    strides_synced: int = 0
    strides_updated: int = 0
    transactions: int = 0
    db_errors: int = 0
    connects: int = 0
    checks_answered: int = 0

    @property
    def duplicates(self) -> int:
        """Live strides that were already stored (redeliveries absorbed by the upsert)."""
        return self.strides_live - self.strides_inserted_live

    def to_json(self) -> dict[str, Any]:
        return {
            "received": dict(self.received),
            "rejected": dict(self.rejected),
            "strides_live": self.strides_live,
            "strides_synced": self.strides_synced,
            "strides_inserted_live": self.strides_inserted_live,
            "strides_updated": self.strides_updated,
            "duplicates": self.duplicates,
            "transactions": self.transactions,
            "db_errors": self.db_errors,
            "connects": self.connects,
            "checks_answered": self.checks_answered,
            "cpu_s": round(time.process_time(), 3),
        }


class _RateLimitedWarning:
    """At most one warning per reason per 10 s: a flood of bad messages must not flood logs."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()  # called from paho's thread and the writer's

    def __call__(self, reason: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(reason, -1e9) < 10.0:
                return
            self._last[reason] = now
        log.warning(msg, *args)


class IngestWorker:
    """One worker: ``run()`` until ``stop`` is set (then it leaves the group cleanly).

    Parameters
    ----------
    mqtt
        Broker address, TLS and credentials (the ingest account).
    hub
        Database DSN, group and batching.
    slot
        Worker number: the client id is ``<group>-<slot>``.
    stats_path
        Where to write the counters (JSON) every ``stats_interval_s`` and at the end.
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        hub: HubSettings,
        slot: int,
        stats_path: Path | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.hub = hub
        self.slot = slot
        self.client_id = f"{hub.group}-{slot}"
        self.prefix = mqtt.topic_prefix
        self.stats_path = stats_path
        self.stats = IngestStats()
        self.writer = Writer(hub.dsn)
        self.inbox = Inbox()
        self._generation = 0
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self._early_received: Counter[str] = Counter()
        self._early_rejected: Counter[str] = Counter()
        """Counted on paho's thread (under ``_lock``); the writer moves them to ``stats``."""
        self._warn = _RateLimitedWarning()
        self._client = self._make_client()

    # -- MQTT (paho's thread) --------------------------------------------------------------

    def _make_client(self) -> paho.Client:
        # manual_ack: PUBACK after the commit, not on receipt.
        client = v5_client(self.mqtt, self.client_id, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_connect_fail = self._on_connect_fail
        return client

    def _connect_properties(self, expiry_s: int) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = expiry_s
        props.ReceiveMaximum = self.hub.receive_max
        return props

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._warn("connect", "ingest %s: broker refused the connection: %s", self.slot, rc)
            return
        with self._lock:
            self._generation += 1
            gen = self._generation
        self.stats.connects += 1
        self._connected.set()
        log.info("ingest slot=%d connected session_present=%s", self.slot, flags.session_present)
        if flags.session_present:
            # What is still queued from the previous connection unacknowledged comes again.
            self.inbox.discard_redelivered(gen)
        # Subscribing again is harmless when the session kept the subscriptions.
        topics = [(t, 1) for t in records.subscriptions(self.hub.group, self.prefix)]
        client.subscribe(topics)

    def _on_subscribe(self, *_args: Any) -> None:
        self._subscribed.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        with self._lock:
            self._generation += 1  # what came on the old connection is no longer ackable
        self._connected.clear()
        self._subscribed.clear()
        self._warn("disconnect", "ingest slot=%d disconnected: %s", self.slot, rc)

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        self._warn(
            "connect",
            "ingest slot=%d cannot connect: %s",
            self.slot,
            describe_connect_error(sys.exc_info()[1]),
        )

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        # Refused here, before the payload is copied and queued: a runner publishing payloads
        # up to the broker's size limit (QoS 0 is not bounded by the receive maximum) while
        # the database is away must not fill this worker's memory.
        topic = msg.topic
        parsed = records.parse_topic(topic, self.prefix)
        if parsed is None:
            self._refuse_early(msg, None, "bad_topic", "not a hub topic")
            return
        kind = parsed[1]
        size, limit = len(msg.payload), records.MAX_BYTES[kind]
        if size > limit:
            self._refuse_early(msg, kind, "too_large", f"{size} bytes > {limit}")
            return
        props = getattr(msg, "properties", None)
        with self._lock:
            gen = self._generation
        m = Message(
            gen,
            msg.mid,
            msg.qos,
            topic,
            bytes(msg.payload),
            getattr(props, "ResponseTopic", None),
            getattr(props, "CorrelationData", None),
        )
        if not self.inbox.offer(m):
            # QoS 0 while the writer is behind (the database away or slow): dropped and
            # counted, never waited for; nothing to acknowledge.
            self._refuse_early(
                msg,
                kind,
                "queue_full",
                f"{len(self.inbox)} messages, {self.inbox.nbytes} bytes waiting",
            )

    def _refuse_early(
        self, msg: paho.MQTTMessage, kind: str | None, reason: str, detail: str
    ) -> None:
        """Count a message refused on receipt and acknowledge it if QoS 1 (redelivering it
        would not make it valid), as :meth:`_parse` does with the messages it refuses."""
        with self._lock:
            if kind is not None:
                self._early_received[kind] += 1
            self._early_rejected[reason] += 1
        self._warn(
            reason,
            "ingest slot=%d refused %s: %s: %s",
            self.slot,
            clip(msg.topic, 100),
            reason,
            detail,
        )
        if msg.qos > 0:
            # paho's thread, the connection the message came on: its id is current.
            self._client.ack(msg.mid, msg.qos)

    def _merge_early_counts(self) -> None:
        """Move paho's thread's counts into ``stats`` (the writer's thread owns ``stats``)."""
        with self._lock:
            received, self._early_received = self._early_received, Counter()
            rejected, self._early_rejected = self._early_rejected, Counter()
        self.stats.received.update(received)
        self.stats.rejected.update(rejected)

    # -- the writer loop (main thread) -------------------------------------------------------

    def run(self, stop: threading.Event) -> IngestStats:
        self._connect_db(stop)
        props = self._connect_properties(self.hub.session_expiry_s)
        # clean_start false: resume this slot's session (a restart after a crash gets the
        # messages it had not acknowledged).
        self._client.connect_async(
            self.mqtt.host,
            self.mqtt.port,
            self.mqtt.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()
        last_stats = time.monotonic()
        reported_subscribed = False
        try:
            while not stop.is_set():
                self._step(stop)
                if self._subscribed.is_set() and not reported_subscribed:
                    reported_subscribed = True  # tells tests and operators it is in the group
                    self._report()
                if time.monotonic() - last_stats >= self.hub.stats_interval_s:
                    last_stats = time.monotonic()
                    self._report()
            self._leave()
        finally:
            with contextlib.suppress(Exception):
                self._client.loop_stop()
            self.writer.close()
            self._report(final=True)
        return self.stats

    def _connect_db(self, stop: threading.Event) -> None:
        delay = 0.1
        while not stop.is_set():
            try:
                self.writer.open()
                return
            except psycopg.Error as exc:
                self._warn(
                    "db",
                    "ingest slot=%d database unavailable: %s",
                    self.slot,
                    clip(str(exc).strip()),
                )
                stop.wait(delay)
                delay = min(2 * delay, 5.0)

    def _collect(self, idle_s: float) -> list[Message]:
        """Up to ``batch_rows`` messages, waiting at most ``batch_max_s`` after the first."""
        out: list[Message] = []
        try:
            out.append(self.inbox.get(timeout=idle_s))
        except queue.Empty:
            return out
        deadline = time.monotonic() + self.hub.batch_max_s
        while len(out) < self.hub.batch_rows:
            left = deadline - time.monotonic()
            try:
                out.append(self.inbox.get_nowait() if left <= 0 else self.inbox.get(timeout=left))
            except queue.Empty:
                break
            if left <= 0 and self.inbox.empty():
                break
        return out

    def _step(self, stop: threading.Event, idle_s: float = 0.2) -> int:
        self._merge_early_counts()
        messages = self._collect(idle_s)
        if messages:
            self._handle(messages, stop)
        return len(messages)

    def _handle(self, messages: Sequence[Message], stop: threading.Event) -> None:
        batch = Batch()
        checks: list[CheckRequest] = []
        for m in messages:
            self._parse(m, batch, checks)
        if len(batch):
            self._write(batch, messages, stop)
        for m in messages:
            self._ack(m)
        for c in checks:
            self._answer(c, stop)

    def _parse(self, m: Message, batch: Batch, checks: list[CheckRequest]) -> None:
        parsed = records.parse_topic(m.topic, self.prefix)
        if parsed is None:
            self.stats.rejected["bad_topic"] += 1
            return
        runner, kind = parsed
        self.stats.received[kind] += 1
        try:
            if kind == "stride":
                batch.live_strides.append(records.stride_from_live(runner, m.payload))
            elif kind == "cue":
                batch.live_cues.append(records.cue_from_live(runner, m.payload))
            elif kind == "metrics":
                batch.add_live(records.live_from_metrics(runner, m.payload))
            elif kind == "session":
                batch.summaries.append(records.session_from_summary(runner, m.payload))
            elif kind == "sync/session":
                batch.synced_sessions.append(records.sync_session(runner, m.payload))
            elif kind == "sync/strides":
                batch.sync_strides.extend(records.sync_strides(runner, m.payload))
            elif kind == "sync/cues":
                batch.sync_cues.extend(records.sync_cues(runner, m.payload))
            elif kind == "sync/check":
                checks.append(
                    records.sync_check(
                        runner, m.payload, m.response_topic, m.correlation, self.prefix
                    )
                )
        except RecordError as exc:
            self.stats.rejected[exc.reason] += 1
            self._warn(
                exc.reason,
                "ingest slot=%d refused %s: %s",
                self.slot,
                clip(m.topic, 100),
                clip(str(exc), 160),
            )

    def _write(self, batch: Batch, messages: Sequence[Message], stop: threading.Event) -> None:
        """Commit the batch, retrying while the database is away (nothing is acknowledged
        before the commit). A batch the database refuses for its data is written message by
        message, and only the refused messages are dropped."""
        delay = 0.1
        while True:
            try:
                result = self.writer.write(batch)
                break
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.stats.db_errors += 1
                self._warn(
                    "db",
                    "ingest slot=%d database error (retrying): %s",
                    self.slot,
                    clip(str(exc).strip()),
                )
                if stop.is_set() and delay >= 5.0:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 5.0)
            except psycopg.Error as exc:
                self.stats.db_errors += 1
                if len(messages) == 1:
                    self.stats.rejected["db_refused"] += 1
                    self._warn(
                        "db_refused",
                        "ingest slot=%d database refused %s: %s",
                        self.slot,
                        clip(messages[0].topic, 100),
                        clip(str(exc)),
                    )
                    return
                for m in messages:
                    one = Batch()
                    self._parse_quiet(m, one)
                    if len(one):
                        self._write(one, [m], stop)
                return
        self.stats.transactions += 1
        self.stats.strides_live += len(batch.live_strides)
        self.stats.strides_synced += len(batch.sync_strides)
        self.stats.strides_inserted_live += result.strides_inserted
        self.stats.strides_updated += result.strides_updated

    def _parse_quiet(self, m: Message, batch: Batch) -> None:
        counts, rejected = self.stats.received.copy(), self.stats.rejected.copy()
        self._parse(m, batch, [])
        self.stats.received, self.stats.rejected = counts, rejected  # counted once already

    def _ack(self, m: Message) -> None:
        if m.qos == 0:
            return
        with self._lock:
            current = m.generation == self._generation
        if current:
            # A message from an earlier connection is not acknowledged: its id may name
            # another message now; the broker sends it again and the upsert absorbs it.
            self._client.ack(m.mid, m.qos)

    def _answer(self, check: CheckRequest, stop: threading.Event) -> None:
        """``sync/check``: what the database holds of the session, to the edge's reply topic."""
        conn = self.writer.conn
        if conn is None:
            return
        try:
            digest = session_digest(conn, check.runner, check.session_id)
            conn.commit()
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            self._warn("db", "ingest slot=%d sync check failed: %s", self.slot, clip(str(exc)))
            return  # the edge asks again
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        if check.correlation is not None:
            props.CorrelationData = check.correlation
        self._client.publish(
            check.response_topic,
            digest.to_json(check.runner, check.session_id),
            qos=1,
            properties=props,
        )
        self.stats.checks_answered += 1

    def _leave(self, drain_idle_s: float = 1.0, drain_max_s: float = 30.0) -> None:
        """Leave the group without losing anything: unsubscribe, process what the broker
        still sends, then end the session (expiry 0) so the broker keeps nothing for us."""
        if self._connected.is_set():
            with contextlib.suppress(Exception):
                self._client.unsubscribe(records.subscriptions(self.hub.group, self.prefix))
        never = threading.Event()
        deadline = time.monotonic() + drain_max_s
        idle_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - idle_since < drain_idle_s:
            if self._step(never, idle_s=0.1):
                idle_since = time.monotonic()
        if self._connected.is_set():
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
            with contextlib.suppress(Exception):
                self._client.disconnect(properties=props)

    def _report(self, final: bool = False) -> None:
        self._merge_early_counts()
        data = {
            "slot": self.slot,
            "pid": os.getpid(),
            "final": final,
            "subscribed": self._subscribed.is_set(),
            **self.stats.to_json(),
        }
        log.info("ingest %s", json.dumps(data, separators=(",", ":")))
        if self.stats_path is not None:
            # Through a new temporary file: a fixed <name>.tmp planted as a symlink in the
            # stats folder would have been written through, wherever it points.
            path = self.stats_path
            write_text_inside(path.parent, (path.name,), json.dumps(data))


# -- running workers ---------------------------------------------------------------------------


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = threading.Event()

    def handler(_sig: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@dataclass(slots=True)
class _Child:
    slot: int
    proc: subprocess.Popen[bytes]
    started_s: float
    restarts: int = 0


def supervise(
    child_argv: Callable[[int], list[str]],
    workers: int,
    stop: threading.Event,
    on_event: Callable[[str], None] | None = None,
) -> int:
    """Run ``workers`` worker processes and restart any that dies (as systemd's
    ``Restart=always`` would): the restarted slot resumes its broker session.

    ``child_argv(slot)`` is the command line of a worker. Returns 0 after a clean stop.
    """

    def say(text: str) -> None:
        log.info("%s", text)
        if on_event is not None:
            on_event(text)

    def spawn(slot: int) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(child_argv(slot), preexec_fn=die_with_parent)
        say(f"ingest worker slot={slot} pid={proc.pid} started")
        return proc

    children = {s: _Child(s, spawn(s), time.monotonic()) for s in range(workers)}
    while not stop.wait(0.1):
        for child in children.values():
            rc = child.proc.poll()
            if rc is None:
                continue
            quick = time.monotonic() - child.started_s < 10.0
            child.restarts = child.restarts + 1 if quick else 0
            delay = min(0.2 * 2 ** min(child.restarts, 5), 5.0)
            say(
                f"ingest worker slot={child.slot} pid={child.proc.pid} exited rc={rc}; "
                f"restarting in {delay:.1f} s"
            )
            if stop.wait(delay):
                break
            child.proc = spawn(child.slot)
            child.started_s = time.monotonic()
    for child in children.values():
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    for child in children.values():
        try:
            child.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
    return 0


def tls_context_ok(mqtt: MqttSettings) -> str | None:
    """A one-line reason when the configured TLS files cannot be loaded (checked before the
    workers start, so a typo is one error line rather than N restarting workers)."""
    if not mqtt.tls:
        return None
    try:
        ctx = ssl.create_default_context(cafile=mqtt.ca_file)
        if mqtt.cert_file:
            ctx.load_cert_chain(mqtt.cert_file, mqtt.key_file)
    except (OSError, ssl.SSLError) as exc:
        return f"TLS files: {exc}"
    return None
