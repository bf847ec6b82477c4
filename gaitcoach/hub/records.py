"""MQTT payloads -> database rows, checked field by field; the stride and cue checksums.

Every payload is treated as written by an attacker: sizes are bounded before parsing
(``MAX_BYTES``), JSON must be an object with the expected ``v``/``type``, ids must be plain
ids, numbers finite and in range, strings bounded, enums from their list, and the runner is
the one in the topic (the broker's ACL ties a topic to its credentials): a payload naming
another runner is refused, never stored under that other runner. A refused message is
counted by reason and acknowledged (redelivering it would not make it valid).

Checksums (:func:`stride_digest`, :func:`cue_digest`) are computed the same way here, from an
edge's store, and in PostgreSQL (``db.STRIDE_DIGEST_SQL``): MD5 over the rows in key order,
each field tagged (NULL / value), numbers as IEEE-754 big-endian bytes (what ``float8send``
gives), text length-prefixed UTF-8. Equal digests mean bit-identical rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gaitcoach.coach.config import RUNNER_ID
from gaitcoach.hub.schema import STRIDE_TEXT_COLUMNS, STRIDE_VALUE_COLUMNS, STRIDE_VALUES
from gaitcoach.mqtt.payloads import PayloadError, decode_object
from gaitcoach.mqtt.topics import topic_within
from gaitcoach.safepath import SESSION_ID, is_session_id
from gaitcoach.session.store import STRIDE_COLUMNS, STRIDE_SCHEMA
from gaitcoach.types import Activity, CueKind, Foot, StrikePattern

PROTOCOL_VERSION = 1
"""``v`` of the live payloads (docs/mqtt) and of the sync messages (docs/hub.md)."""

SYNC_BATCH = 256
"""Strides per sync batch: a batch is the strides of one foot with ``idx // SYNC_BATCH`` equal,
so the edge and the database group rows the same way without sharing any other state."""
SYNC_CUES_MAX = 512
"""Cues per sync message."""

MAX_BYTES: dict[str, int] = {
    "stride": 4096,
    "cue": 4096,
    "metrics": 8192,
    "session": 256 * 1024,
    "sync/session": 4096,
    "sync/strides": 256 * 1024,
    "sync/cues": 512 * 1024,
    "sync/check": 1024,
}
"""Largest payload accepted per message kind (a 256-stride batch is about 100 KB)."""

MAX_ABS = 1e12
"""Numbers beyond this are refused (PostgreSQL would take them; no gait value is that big)."""
MAX_TEXT = 500
MAX_TRIGGER_KEYS = 32

_RUNNER_RE = re.compile(RUNNER_ID)
_CUE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_TRIGGER_KEY_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
FEET = frozenset(f.value for f in Foot)
ACTIVITIES = frozenset(a.value for a in Activity)
PATTERNS = frozenset(p.value for p in StrikePattern)
CUE_KINDS = frozenset(k.value for k in CueKind)
SESSION_STATUSES = frozenset(("recording", "complete", "interrupted", "failed"))
IDX_MAX = 2**31 - 1

LIVE_KINDS = ("stride", "cue", "metrics", "session")
SYNC_KINDS = ("sync/session", "sync/strides", "sync/cues", "sync/check")


class RecordError(ValueError):
    """A refused message; ``reason`` is the counter it goes to."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


# -- topics ----------------------------------------------------------------------------------


def parse_topic(topic: str, prefix: str = "gaitcoach") -> tuple[str, str] | None:
    """``(runner, kind)`` of a hub topic ``<prefix>/<runner>/<kind>``, None for other topics."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    runner, _, kind = topic[len(head) :].partition("/")
    if not _RUNNER_RE.fullmatch(runner) or kind not in MAX_BYTES:
        return None
    return runner, kind


def subscriptions(group: str, prefix: str = "gaitcoach") -> list[str]:
    """The shared-subscription filters of an ingest worker of ``group``."""
    kinds = (*LIVE_KINDS, "sync/+")
    return [f"$share/{group}/{prefix}/+/{kind}" for kind in kinds]


# -- field checks ------------------------------------------------------------------------------


def _number(value: Any, name: str, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError("bad_value", f"{name} = {_show(value)}: a number")
    try:
        x = float(value)
    except OverflowError:
        raise RecordError("out_of_range", f"{name}: a huge integer") from None
    if not math.isfinite(x) or abs(x) > MAX_ABS:
        raise RecordError("out_of_range", f"{name} = {_show(value)}")
    return x


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RecordError("bad_value", f"{name} = {_show(value)}: an integer in [{lo}, {hi}]")
    return value


def _choice(value: Any, name: str, allowed: frozenset[str], optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise RecordError("bad_value", f"{name} = {_show(value)}: one of {sorted(allowed)}")
    return value


def _text(value: Any, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise RecordError("bad_value", f"{name}: a string of 1-{limit} characters")
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        # Control characters and lone surrogates (PostgreSQL text refuses the latter).
        raise RecordError("bad_value", f"{name}: control characters or lone surrogates")
    return value


def _session_id(value: Any) -> str:
    if not is_session_id(value):
        raise RecordError("bad_session", f"session_id = {_show(value)}: {SESSION_ID}")
    assert isinstance(value, str)
    return value


def _utc(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise RecordError("bad_value", f"{name}: an ISO 8601 time")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError("bad_value", f"{name} = {_show(value)}: an ISO 8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    try:
        # In UTC, as stored: year 1 with a positive offset is 1 BC there (9999 with a
        # negative one, year 10000), which PostgreSQL stores and no reader can load again.
        return t.astimezone(UTC)
    except OverflowError:
        raise RecordError(
            "bad_value", f"{name} = {_show(value)}: outside years 1-9999 in UTC"
        ) from None


def _envelope(data: bytes, kind: str, runner: str, type_: str) -> dict[str, Any]:
    if len(data) > MAX_BYTES[kind]:
        raise RecordError("too_large", f"{len(data)} bytes > {MAX_BYTES[kind]}")
    try:
        d = decode_object(data)
    except PayloadError as exc:
        raise RecordError("bad_json", str(exc)) from None
    if d.get("v") != PROTOCOL_VERSION or d.get("type") != type_:
        raise RecordError("bad_type", f"type={_show(d.get('type'))} v={_show(d.get('v'))}")
    if d.get("runner") != runner:
        # The topic is what the ACL checked: a payload claiming someone else is refused.
        raise RecordError("wrong_runner", f"runner = {_show(d.get('runner'))}")
    return d


# -- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrideRow:
    runner: str
    session_id: str
    foot: str
    idx: int
    values: tuple[Any, ...]
    """``STRIDE_VALUE_COLUMNS`` in order (floats or None, activity, strike pattern)."""
    t_unix_s: float | None = None

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.runner, self.session_id, self.foot, self.idx)


@dataclass(frozen=True, slots=True)
class CueRow:
    runner: str
    session_id: str
    cue_id: str
    kind: str
    text: str
    priority: int
    level: int
    created_s: float | None
    created_unix_s: float | None
    expires_s: float | None
    trigger: dict[str, float]
    metronome_spm: float | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """What is known of a session; None fields are left as stored."""

    runner: str
    session_id: str
    status: str | None = None
    started_utc: datetime | None = None
    ended_utc: datetime | None = None
    leg_length_m: float | None = None
    first_t_s: float | None = None
    last_t_s: float | None = None
    edge_strides: int | None = None
    edge_cues: int | None = None
    summary: dict[str, Any] | None = None
    summary_t_unix_s: float | None = None
    synced: bool = False
    """From ``sync/session``: the edge's own record, authoritative for status and times."""


@dataclass(frozen=True, slots=True)
class LiveRow:
    runner: str
    t_unix_s: float
    metrics: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CheckRequest:
    runner: str
    session_id: str
    response_topic: str
    correlation: bytes | None


def stride_values(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The checked value columns of one stride (a mapping by ``STRIDE_COLUMNS`` name)."""
    out: list[Any] = []
    for c in STRIDE_VALUES:
        v = record.get(c.name)
        if c.name in STRIDE_TEXT_COLUMNS:
            out.append(_choice(v, c.name, _STRIDE_CHOICES[c.name], optional=c.optional))
        else:
            out.append(_number(v, c.name))
    return tuple(out)


_STRIDE_CHOICES = {c.name: frozenset(c.choices) for c in STRIDE_VALUES if c.choices}
"""The values each enum column of a stride takes (activities, strike patterns)."""


def _stride_fields(record: Any) -> tuple[str, int, tuple[Any, ...]]:
    if not isinstance(record, dict):
        raise RecordError("bad_value", "stride: an object")
    expected = {c.field for c in STRIDE_SCHEMA}
    if set(record) != expected:
        extra = sorted(set(record) ^ expected)[:4]
        raise RecordError("bad_value", f"stride fields differ from the schema: {extra}")
    foot = _choice(record["foot"], "foot", FEET)
    assert foot is not None
    idx = _int(record["index"], "index", 0, IDX_MAX)
    return foot, idx, stride_values(record)


def stride_from_live(runner: str, data: bytes) -> StrideRow:
    """``<prefix>/<runner>/stride`` (docs/mqtt/stride.schema.json)."""
    d = _envelope(data, "stride", runner, "stride")
    if d.get("session_id") is None:
        raise RecordError("no_session", "a stride outside a session is not stored")
    sid = _session_id(d["session_id"])
    foot, idx, values = _stride_fields(d.get("stride"))
    t = _number(d.get("t_unix_s"), "t_unix_s", optional=False)
    return StrideRow(runner, sid, foot, idx, values, t)


def _trigger(value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or len(value) > MAX_TRIGGER_KEYS:
        raise RecordError("bad_value", f"trigger: an object of at most {MAX_TRIGGER_KEYS} keys")
    out: dict[str, float] = {}
    for k, v in value.items():
        if not _TRIGGER_KEY_RE.fullmatch(k):
            raise RecordError("bad_value", f"trigger key {_show(k)}")
        x = _number(v, f"trigger.{k}", optional=False)
        assert x is not None
        out[k] = x
    return out


def _cue(runner: str, sid: str, d: Mapping[str, Any], live: bool) -> CueRow:
    cue_id = d.get("id")
    if not isinstance(cue_id, str) or not _CUE_ID_RE.fullmatch(cue_id):
        raise RecordError("bad_value", f"cue id = {_show(cue_id)}")
    kind = _choice(d.get("kind"), "kind", CUE_KINDS)
    assert kind is not None
    return CueRow(
        runner=runner,
        session_id=sid,
        cue_id=cue_id,
        kind=kind,
        text=_text(d.get("text"), "text"),
        priority=_int(d.get("priority"), "priority", 0, 1000),
        level=_int(d.get("level"), "level", 0, 100),
        created_s=None if live else _number(d.get("created_s"), "created_s", optional=False),
        created_unix_s=_number(d.get("created_unix_s"), "created_unix_s") if live else None,
        expires_s=None if live else _number(d.get("expires_s"), "expires_s", optional=False),
        trigger=_trigger(d.get("trigger")),
        metronome_spm=_number(d.get("metronome_spm"), "metronome_spm"),
    )


def cue_from_live(runner: str, data: bytes) -> CueRow:
    """``<prefix>/<runner>/cue`` (docs/mqtt/cue.schema.json); only cues of a session."""
    d = _envelope(data, "cue", runner, "cue")
    if d.get("session_id") is None:
        raise RecordError("no_session", "a cue outside a session is not stored")
    return _cue(runner, _session_id(d["session_id"]), d, live=True)


LIVE_METRICS = (
    "activity",
    "n_strides",
    "cadence_spm",
    "contact_time_s",
    "flight_time_s",
    "stride_length_m",
    "speed_mps",
    "foot_strike_angle_deg",
    "strike_pattern",
    "overstride_m",
    "peak_impact_g",
    "step_length_rel_leg",
    "balance_contact_left_pct",
)


def live_from_metrics(runner: str, data: bytes) -> LiveRow:
    """``<prefix>/<runner>/metrics``: the scalar medians only (``per_foot`` is not kept)."""
    d = _envelope(data, "metrics", runner, "metrics")
    t = _number(d.get("t_unix_s"), "t_unix_s", optional=False)
    assert t is not None
    out: dict[str, Any] = {
        "activity": _choice(d.get("activity"), "activity", ACTIVITIES),
        "n_strides": _int(d.get("n_strides"), "n_strides", 0, IDX_MAX),
        "strike_pattern": _choice(d.get("strike_pattern"), "strike_pattern", PATTERNS, True),
    }
    for name in LIVE_METRICS:
        if name not in out:
            out[name] = _number(d.get(name), name)
    return LiveRow(runner, t, out)


def _bounded_json(value: Any, depth: int = 0) -> Any:
    """A copy of a JSON value with at most 8 levels and short strings (summaries are stored
    as sent, for reference; the views recompute everything from the strides)."""
    if depth > 8:
        raise RecordError("bad_value", "summary nested too deeply")
    if isinstance(value, dict):
        return {_text(k, "summary key", 100): _bounded_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded_json(v, depth + 1) for v in value]
    if isinstance(value, str):
        if "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise RecordError("bad_value", "summary text with NUL or lone surrogates")
        return value[:2000]
    if isinstance(value, float | int) and not isinstance(value, bool):
        return _number(value, "summary number")
    return value


def session_from_summary(runner: str, data: bytes) -> SessionRow:
    """``<prefix>/<runner>/session``: the post-run summary (docs/summary.md)."""
    d = _envelope(data, "session", runner, "session")
    summary = d.get("summary")
    if not isinstance(summary, dict):
        raise RecordError("bad_value", "summary: an object")
    if summary.get("runner") != runner:
        raise RecordError("wrong_runner", f"summary.runner = {_show(summary.get('runner'))}")
    return SessionRow(
        runner=runner,
        session_id=_session_id(summary.get("session_id")),
        status=_choice(summary.get("status"), "status", SESSION_STATUSES),
        started_utc=_utc(summary.get("started_utc"), "started_utc"),
        summary=_bounded_json(summary),
        summary_t_unix_s=_number(d.get("t_unix_s"), "t_unix_s"),
    )


# -- sync messages (docs/hub.md, "gaitcoach sync") ----------------------------------------------


def sync_session(runner: str, data: bytes) -> SessionRow:
    d = _envelope(data, "sync/session", runner, "sync_session")
    return SessionRow(
        runner=runner,
        session_id=_session_id(d.get("session_id")),
        status=_choice(d.get("status"), "status", SESSION_STATUSES),
        started_utc=_utc(d.get("started_utc"), "started_utc"),
        ended_utc=_utc(d.get("ended_utc"), "ended_utc"),
        leg_length_m=_number(d.get("leg_length_m"), "leg_length_m"),
        first_t_s=_number(d.get("first_t_s"), "first_t_s"),
        last_t_s=_number(d.get("last_t_s"), "last_t_s"),
        edge_strides=_int(d.get("n_strides"), "n_strides", 0, IDX_MAX),
        edge_cues=_int(d.get("n_cues"), "n_cues", 0, IDX_MAX),
        synced=True,
    )


def sync_strides(runner: str, data: bytes) -> list[StrideRow]:
    d = _envelope(data, "sync/strides", runner, "sync_strides")
    sid = _session_id(d.get("session_id"))
    if d.get("columns") != list(STRIDE_COLUMNS):
        raise RecordError("bad_value", "columns: the stride columns of docs/hub.md, in order")
    rows = d.get("rows")
    if not isinstance(rows, list) or not 0 < len(rows) <= SYNC_BATCH:
        raise RecordError("bad_value", f"rows: a list of 1-{SYNC_BATCH} strides")
    out = []
    for r in rows:
        if not isinstance(r, list) or len(r) != len(STRIDE_COLUMNS):
            raise RecordError("bad_value", f"a row of {len(STRIDE_COLUMNS)} values")
        rec = dict(zip(STRIDE_COLUMNS, r, strict=True))
        foot = _choice(rec["foot"], "foot", FEET)
        assert foot is not None
        idx = _int(rec["idx"], "idx", 0, IDX_MAX)
        out.append(StrideRow(runner, sid, foot, idx, stride_values(rec)))
    return out


def sync_cues(runner: str, data: bytes) -> list[CueRow]:
    d = _envelope(data, "sync/cues", runner, "sync_cues")
    sid = _session_id(d.get("session_id"))
    cues = d.get("cues")
    if not isinstance(cues, list) or not 0 < len(cues) <= SYNC_CUES_MAX:
        raise RecordError("bad_value", f"cues: a list of 1-{SYNC_CUES_MAX} cues")
    out = []
    for c in cues:
        if not isinstance(c, dict):
            raise RecordError("bad_value", "a cue: an object")
        out.append(_cue(runner, sid, c, live=False))
    return out


def reply_topic_ok(topic: str | None, runner: str, prefix: str = "gaitcoach") -> bool:
    """A sync answer goes only to ``<prefix>/<runner>/sync/reply`` or below it: the ingest
    account may publish into every runner's tree, so a request must not steer it elsewhere."""
    return topic_within(topic, f"{prefix}/{runner}/sync/reply")


def sync_check(
    runner: str,
    data: bytes,
    response_topic: str | None,
    correlation: bytes | None,
    prefix: str = "gaitcoach",
) -> CheckRequest:
    d = _envelope(data, "sync/check", runner, "sync_check")
    if not reply_topic_ok(response_topic, runner, prefix):
        raise RecordError("bad_response_topic", _show(response_topic))
    assert response_topic is not None
    if correlation is not None and len(correlation) > 64:
        raise RecordError("bad_value", "correlation data longer than 64 bytes")
    return CheckRequest(runner, _session_id(d.get("session_id")), response_topic, correlation)


# -- checksums ---------------------------------------------------------------------------------

_NULL = b"\x00"
_VALUE = b"\x01"


def _num_bytes(x: float | int | None) -> bytes:
    return _NULL if x is None else _VALUE + struct.pack(">d", float(x))


def _text_bytes(s: str | None) -> bytes:
    if s is None:
        return _NULL
    b = s.encode()
    return _VALUE + struct.pack(">i", len(b)) + b


def stride_row_bytes(foot: str, idx: int, values: Sequence[Any]) -> bytes:
    parts = [_text_bytes(foot), struct.pack(">q", idx)]
    for name, v in zip(STRIDE_VALUE_COLUMNS, values, strict=True):
        parts.append(_text_bytes(v) if name in STRIDE_TEXT_COLUMNS else _num_bytes(v))
    return b"".join(parts)


def batch_of(foot: str, idx: int) -> tuple[str, int]:
    return foot, idx // SYNC_BATCH


@dataclass(frozen=True, slots=True)
class Digest:
    count: int
    md5: str


def stride_digests(rows: Iterable[tuple[str, int, Sequence[Any]]]) -> dict[tuple[str, int], Digest]:
    """Per sync batch (foot, idx // SYNC_BATCH): row count and MD5 of the rows in idx order."""
    groups: dict[tuple[str, int], list[tuple[int, bytes]]] = {}
    for foot, idx, values in rows:
        groups.setdefault(batch_of(foot, idx), []).append(
            (idx, stride_row_bytes(foot, idx, values))
        )
    out = {}
    for key, items in groups.items():
        items.sort()
        out[key] = Digest(len(items), hashlib.md5(b"".join(b for _, b in items)).hexdigest())
    return out


def cue_row_bytes(c: CueRow) -> bytes:
    return b"".join(
        (
            _text_bytes(c.cue_id),
            _text_bytes(c.kind),
            _text_bytes(c.text),
            struct.pack(">q", c.priority),
            struct.pack(">q", c.level),
            _num_bytes(c.created_s),
            _num_bytes(c.expires_s),
            _num_bytes(c.metronome_spm),
        )
    )


def cue_digest(cues: Iterable[CueRow]) -> Digest:
    """Count and MD5 of a session's cues in cue id order (byte order, as ``COLLATE "C"``)."""
    items = sorted((c.cue_id.encode(), cue_row_bytes(c)) for c in cues)
    return Digest(len(items), hashlib.md5(b"".join(b for _, b in items)).hexdigest())


@dataclass(frozen=True, slots=True)
class SessionDigest:
    """What the centre holds of one session (the answer to ``sync/check``)."""

    known: bool
    status: str | None
    synced: bool
    strides: dict[tuple[str, int], Digest] = field(default_factory=dict)
    cues: Digest = Digest(0, hashlib.md5(b"").hexdigest())

    def to_json(self, runner: str, session_id: str) -> bytes:
        return json.dumps(
            {
                "v": PROTOCOL_VERSION,
                "type": "sync_status",
                "runner": runner,
                "session_id": session_id,
                "known": self.known,
                "status": self.status,
                "synced": self.synced,
                "strides": [[f, b, d.count, d.md5] for (f, b), d in sorted(self.strides.items())],
                "cues": [self.cues.count, self.cues.md5],
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> SessionDigest:
        """The answer as the edge reads it (from the hub's account: checked all the same)."""
        try:
            d = decode_object(data)
            strides = {
                (str(f), int(b)): Digest(int(n), str(m)) for f, b, n, m in d.get("strides", [])
            }
            n, m = d.get("cues", [0, ""])
            return cls(
                bool(d.get("known")),
                d.get("status") if isinstance(d.get("status"), str) else None,
                bool(d.get("synced")),
                strides,
                Digest(int(n), str(m)),
            )
        except (PayloadError, TypeError, ValueError, OverflowError) as exc:
            # OverflowError: int() of Infinity or 1e999 (json.loads takes both).
            raise RecordError("bad_json", f"sync status: {exc}") from None
