"""``gaitcoach sync``: upload an edge's finished sessions to the hub until the centre holds
exactly what the edge's store holds (docs/hub.md, "Sync").

Live messages are best effort; this is the guarantee. Per session:

1. ask the centre what it holds: ``<prefix>/<runner>/sync/check`` with an MQTT v5 response
   topic under ``<prefix>/<runner>/sync/reply/``; an ingest worker answers with the row count
   and MD5 of every stride batch (the strides of one foot with ``idx // 256`` equal), of the
   cues, and whether the session record came by sync;
2. send what differs or is missing (``sync/session``, ``sync/strides`` per batch,
   ``sync/cues``), QoS 1, and wait for the broker's acknowledgements;
3. ask again (the workers may still be committing) until every digest matches, resending
   what still differs after a while; then the session is recorded as verified in
   ``<data_dir>/hub-sync.json`` and skipped from then on.

Everything is idempotent: an interrupted sync (broker away, process killed) resumes at the
next run by asking again; batches already stored match and are not sent twice. The edge
talks only to the broker, with its own account (its ACL allows only its own tree), never to
the database.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gaitcoach.hub.client import v5_client
from gaitcoach.hub.records import (
    PROTOCOL_VERSION,
    SYNC_CUES_MAX,
    CueRow,
    Digest,
    RecordError,
    SessionDigest,
    batch_of,
    cue_digest,
    stride_digests,
)
from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.connection import describe_connect_error
from gaitcoach.safepath import write_text_inside
from gaitcoach.session.store import (
    STRIDE_COLUMNS,
    SessionData,
    SessionStatus,
    SessionStore,
    stride_to_row,
)

log = logging.getLogger(__name__)

STATE_FILE = "hub-sync.json"


class SyncError(Exception):
    """The sync could not finish (one line; run it again: it resumes)."""


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def stride_rows(data: SessionData) -> list[list[Any]]:
    """The session's strides as ``STRIDE_COLUMNS`` lists (non-finite numbers as null, as the
    live payload sends them)."""
    return [[_finite(v) for v in stride_to_row(s)] for s in data.strides]


def cue_rows(data: SessionData) -> list[CueRow]:
    return [
        CueRow(
            runner=data.info.runner,
            session_id=data.info.id,
            cue_id=c.id,
            kind=c.kind.value,
            text=c.text,
            priority=c.priority,
            level=c.level,
            created_s=_finite(c.created_s),
            created_unix_s=None,
            expires_s=_finite(c.expires_s),
            trigger={k: v for k, v in c.trigger.items() if math.isfinite(v)},
            metronome_spm=_finite(c.metronome_spm),
        )
        for c in data.cues
    ]


@dataclass(frozen=True, slots=True)
class LocalSession:
    """One finished session of the edge's store and its digests."""

    data: SessionData
    strides: dict[tuple[str, int], list[list[Any]]]
    """Rows by sync batch."""
    stride_digests: dict[tuple[str, int], Digest]
    cues: list[CueRow]
    cue_digest: Digest

    @classmethod
    def of(cls, data: SessionData) -> LocalSession:
        rows = stride_rows(data)
        batches: dict[tuple[str, int], list[list[Any]]] = {}
        for r in rows:
            batches.setdefault(batch_of(r[0], r[1]), []).append(r)
        cues = cue_rows(data)
        digests = stride_digests((r[0], r[1], r[2:]) for r in rows)
        return cls(data, batches, digests, cues, cue_digest(cues))

    def differs(self, remote: SessionDigest) -> tuple[list[tuple[str, int]], bool, bool]:
        """(stride batches to send, cues to send, session record to send)."""
        batches = [k for k, d in self.stride_digests.items() if remote.strides.get(k) != d]
        cues = self.cue_digest != remote.cues and bool(self.cues)
        record = not remote.synced or remote.status != self.data.info.status.value
        return sorted(batches), cues, record

    def extra_at_centre(self, remote: SessionDigest) -> list[tuple[str, int]]:
        """Batches the centre holds that this store has not (never resolved by sending)."""
        return sorted(k for k in remote.strides if k not in self.stride_digests)


@dataclass(slots=True)
class SyncResult:
    sessions: int = 0
    """Finished sessions in the store."""
    skipped: int = 0
    """Verified by an earlier sync."""
    verified: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    messages_sent: int = 0
    strides_sent: int = 0
    cues_sent: int = 0
    checks: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "skipped": self.skipped,
            "verified": self.verified,
            "failed": self.failed,
            "messages_sent": self.messages_sent,
            "strides_sent": self.strides_sent,
            "cues_sent": self.cues_sent,
            "checks": self.checks,
        }


class SyncState:
    """``<data_dir>/hub-sync.json``: sessions the centre was seen to hold exactly."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / STATE_FILE
        self.verified: dict[str, dict[str, Any]] = {}
        try:
            raw = json.loads(self.path.read_text())
            if isinstance(raw, dict) and isinstance(raw.get("verified"), dict):
                self.verified = raw["verified"]
        except (OSError, ValueError):
            pass  # no state yet (or unreadable): everything is checked again, harmlessly

    def mark(self, session_id: str, strides: int, cues: int) -> None:
        self.verified[session_id] = {
            "strides": strides,
            "cues": cues,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        # Through a new temporary file, not a fixed hub-sync.tmp: one planted as a symlink
        # would have been written through, outside the data directory.
        text = json.dumps({"v": 1, "verified": self.verified}, indent=1)
        write_text_inside(self.data_dir, (STATE_FILE,), text)


class _Client:
    """A small synchronous MQTT v5 client: QoS 1 publishes tracked to their PUBACK, and
    request/response on the runner's own reply topic."""

    def __init__(self, mqtt: MqttSettings, runner: str) -> None:
        self.mqtt = mqtt
        self.base = f"{mqtt.topic_prefix}/{runner}"
        self.reply_topic = f"{self.base}/sync/reply/{secrets.token_hex(4)}"
        self._cond = threading.Condition()
        self._acked: dict[int, bool] = {}
        self._replies: dict[bytes, bytes] = {}
        self._asked: set[bytes] = set()
        """Correlation data of the checks waiting for their answer: only those are kept."""
        self._connected = False
        self._subscribed = False
        self._error = ""
        c = v5_client(mqtt, mqtt.client_id or f"gaitcoach-{runner}")
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.on_connect_fail = self._on_fail
        c.on_subscribe = self._on_subscribe
        self.client = c

    def _on_subscribe(self, *_a: Any) -> None:
        with self._cond:
            self._subscribed = True
            self._cond.notify_all()

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        with self._cond:
            if rc.is_failure:
                self._error = f"broker refused the connection: {rc}"
            else:
                self._connected = True
                client.subscribe(self.reply_topic, 1)
            self._cond.notify_all()

    def _on_disconnect(self, *_a: Any) -> None:
        with self._cond:
            self._connected = False
            # Unacknowledged publishes are lost with the connection: report them as failed.
            for mid, ok in list(self._acked.items()):
                if not ok:
                    self._acked.pop(mid)
            self._cond.notify_all()

    def _on_fail(self, *_a: Any) -> None:
        import sys

        with self._cond:
            self._error = describe_connect_error(sys.exc_info()[1])
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
        with self._cond:
            self._acked[mid] = not rc.is_failure
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        corr = getattr(getattr(msg, "properties", None), "CorrelationData", None)
        if corr is not None and len(msg.payload) <= 1 << 20:
            with self._cond:
                # Anyone who may publish into the reply tree could otherwise fill memory with
                # answers to questions never asked (or asked and given up on).
                if bytes(corr) not in self._asked:
                    return
                self._replies[bytes(corr)] = bytes(msg.payload)
                self._cond.notify_all()

    def connect(self, timeout_s: float) -> None:
        m = self.mqtt
        self.client.connect_async(m.host, m.port, m.keepalive_s, clean_start=True)
        self.client.loop_start()
        if not self._wait(lambda: self._connected and self._subscribed, timeout_s):
            self.close()
            raise SyncError(f"broker {m.host}:{m.port} unavailable: {self._error or 'no answer'}")

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def _wait(self, pred: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def publish(self, kind: str, payload: dict[str, Any]) -> int:
        data = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = "application/json"
        info = self.client.publish(f"{self.base}/{kind}", data, qos=1, properties=props)
        return info.mid

    def wait_acked(self, mids: list[int], timeout_s: float) -> bool:
        """True when the broker acknowledged (and accepted) every message."""
        ok = self._wait(lambda: all(m in self._acked for m in mids), timeout_s)
        with self._cond:
            accepted = ok and all(self._acked.pop(m, False) for m in mids)
        return accepted

    def check(self, runner: str, session_id: str, timeout_s: float) -> SessionDigest | None:
        corr = secrets.token_bytes(8)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = corr
        payload = {
            "v": PROTOCOL_VERSION,
            "type": "sync_check",
            "runner": runner,
            "session_id": session_id,
        }
        with self._cond:
            self._asked.add(corr)
        try:
            self.client.publish(
                f"{self.base}/sync/check", json.dumps(payload).encode(), qos=1, properties=props
            )
            self._wait(lambda: corr in self._replies, timeout_s)
        finally:
            with self._cond:
                self._asked.discard(corr)
                data = self._replies.pop(corr, None)
        if data is None:
            return None
        try:
            return SessionDigest.from_json(data)
        except RecordError:
            return None


class Syncer:
    """Uploads the finished sessions of one runner's store (see the module docstring).

    Parameters
    ----------
    mqtt
        The edge's broker settings and account (its ``[mqtt]`` section).
    runner
        The runner id (topic level).
    data_dir
        The edge's session store directory.
    timeout_s
        Per session: give up (and report) after this long without a full match.
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        runner: str,
        data_dir: Path,
        timeout_s: float = 120.0,
        check_timeout_s: float = 5.0,
    ) -> None:
        self.mqtt = mqtt
        self.runner = runner
        self.data_dir = data_dir
        self.timeout_s = timeout_s
        self.check_timeout_s = check_timeout_s
        self.result = SyncResult()

    def run(self, only: list[str] | None = None) -> SyncResult:
        store = SessionStore(self.data_dir)
        state = SyncState(self.data_dir)
        finished = [
            s
            for s in store.list_sessions(self.runner)
            if s.status is not SessionStatus.RECORDING and (only is None or s.id in only)
        ]
        self.result.sessions = len(finished)
        todo = [s for s in finished if s.id not in state.verified]
        self.result.skipped = len(finished) - len(todo)
        if not todo:
            return self.result
        client = _Client(self.mqtt, self.runner)
        client.connect(self.check_timeout_s)
        try:
            for info in todo:
                local = LocalSession.of(store.load_info(info))
                try:
                    self._session(client, local)
                except SyncError as exc:
                    self.result.failed[info.id] = str(exc)
                    continue
                state.mark(info.id, len(local.data.strides), len(local.cues))
                self.result.verified.append(info.id)
        finally:
            client.close()
            store.close()
        return self.result

    def _session(self, client: _Client, local: LocalSession) -> None:
        sid = local.data.info.id
        deadline = time.monotonic() + self.timeout_s
        sent_at: float | None = None
        while time.monotonic() < deadline:
            remote = client.check(self.runner, sid, self.check_timeout_s)
            self.result.checks += 1
            if remote is None:
                continue  # no worker answered in time (busy, or the broker was away): ask again
            extra = local.extra_at_centre(remote)
            if extra:
                raise SyncError(
                    f"session {sid}: the centre holds strides this store has not: "
                    f"batches {extra[:3]}"
                )
            batches, cues, record = local.differs(remote)
            if not batches and not cues and not record:
                return
            # Just sent: the workers may still be committing; resend only after a while.
            if sent_at is not None and time.monotonic() - sent_at < 3.0:
                time.sleep(0.2)
                continue
            self._send(client, local, batches, cues, record)
            sent_at = time.monotonic()
        raise SyncError(f"session {sid}: the centre did not confirm it within {self.timeout_s:g} s")

    def _send(
        self,
        client: _Client,
        local: LocalSession,
        batches: list[tuple[str, int]],
        cues: bool,
        record: bool,
    ) -> None:
        info = local.data.info
        base = {"v": PROTOCOL_VERSION, "runner": self.runner, "session_id": info.id}
        mids: list[int] = []
        # Only what differs: a record the centre already holds by sync, with this status, is
        # not sent again (strides and cues need no record first: the centre adds the row).
        if record:
            mids.append(
                client.publish(
                    "sync/session",
                    {
                        **base,
                        "type": "sync_session",
                        "status": info.status.value,
                        "started_utc": info.started_utc or None,
                        "ended_utc": info.ended_utc,
                        "leg_length_m": _finite(info.leg_length_m),
                        "first_t_s": _finite(info.first_t_s),
                        "last_t_s": _finite(info.last_t_s),
                        "n_strides": len(local.data.strides),
                        "n_cues": len(local.cues),
                    },
                )
            )
        for key in batches:
            rows = local.strides[key]
            mids.append(
                client.publish(
                    "sync/strides",
                    {**base, "type": "sync_strides", "columns": list(STRIDE_COLUMNS), "rows": rows},
                )
            )
            self.result.strides_sent += len(rows)
        if cues:
            for i in range(0, len(local.cues), SYNC_CUES_MAX):
                part = local.cues[i : i + SYNC_CUES_MAX]
                mids.append(
                    client.publish(
                        "sync/cues",
                        {
                            **base,
                            "type": "sync_cues",
                            "cues": [
                                {
                                    "id": c.cue_id,
                                    "kind": c.kind,
                                    "text": c.text,
                                    "priority": c.priority,
                                    "level": c.level,
                                    "created_s": c.created_s,
                                    "expires_s": c.expires_s,
                                    "trigger": c.trigger,
                                    "metronome_spm": c.metronome_spm,
                                }
                                for c in part
                            ],
                        },
                    )
                )
                self.result.cues_sent += len(part)
        self.result.messages_sent += len(mids)
        if not client.wait_acked(mids, self.check_timeout_s * 4):
            log.warning(
                "sync %s: not every message was acknowledged; checking and resending", info.id
            )
