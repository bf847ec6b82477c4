"""JSON payloads of the topic tree, as dataclasses (schemas: gaitcoach/data/schemas/*.schema.json).

Every payload carries ``v`` (schema version) and ``type``. Times on the wire are Unix seconds
(``*_unix_s``); the service converts its own clock with ``unix_offset_s``
(unix = service time + offset). Non-finite numbers never reach the wire (JSON has none).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, get_type_hints

from gaitcoach.jsonenc import dumps
from gaitcoach.typehints import without_none
from gaitcoach.types import Cue, GaitMetrics, LinkEvent, StrideRecord

SCHEMA_VERSION = 1


class PayloadError(ValueError):
    """A payload that is not valid JSON of the expected shape."""


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _round(value: float | None, digits: int) -> float | None:
    """A finite value rounded for the wire (None stays None, NaN becomes None)."""
    v = _finite(value)
    return None if v is None else round(v, digits)


WIRE_DIGITS = {"s": 3, "m": 2, "mps": 2, "spm": 1, "deg": 1, "g": 1, "pct": 1, "rel_leg": 3}
"""Decimals on the wire per unit (the suffix of a field's name): what the pods can tell (1 ms,
1 cm, 0.1 deg, 0.1 step/min); more digits are noise a display would show."""


def wire_digits(name: str) -> int:
    """Decimals on the wire of a number named with its unit (``contact_time_s``: 3)."""
    for unit in sorted(WIRE_DIGITS, key=len, reverse=True):
        if name.endswith("_" + unit):
            return WIRE_DIGITS[unit]
    raise KeyError(f"{name}: no unit with a wire precision in WIRE_DIGITS")


def _numbers(values: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if math.isfinite(v)}


def encode(payload: Any) -> bytes:
    """Compact JSON of a payload dataclass (:func:`gaitcoach.jsonenc.dumps`)."""
    return dumps(payload).encode()


def decode_object(data: bytes | str) -> dict[str, Any]:
    """A JSON object from bytes (PayloadError when not JSON or not an object)."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise PayloadError("not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int of > 4300 digits
        raise PayloadError(f"not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"a JSON object is required, got {type(value).__name__}")
    return value


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**50 else "<huge int>"
    return text if len(text) <= 60 else text[:60] + "..."


def _text(d: Mapping[str, Any], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"cue payload: {key} = {_show(value)}: a non-empty string")
    return value


def _number(d: Mapping[str, Any], key: str, above: float | None = None) -> float:
    value = d.get(key)
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int beyond float range
            number = float(value)
    if not math.isfinite(number) or (above is not None and number <= above):
        raise PayloadError(f"cue payload: {key} = {_show(value)}: a finite number")
    return number


def _count(d: Mapping[str, Any], key: str) -> int:
    value = d.get(key)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PayloadError(f"cue payload: {key} = {_show(value)}: an integer >= 0")
    return value


@dataclass(frozen=True, slots=True)
class CuePayload:
    """``<prefix>/<runner>/cue`` (QoS 1): one message for the runner."""

    runner: str
    id: str
    kind: str
    text: str
    priority: int
    level: int
    created_unix_s: float
    expires_unix_s: float
    trigger: dict[str, float]
    metronome_spm: float | None = None
    session_id: str | None = None
    """The session the cue belongs to (None outside a session): the hub's key."""
    v: int = SCHEMA_VERSION
    type: str = "cue"

    @classmethod
    def from_cue(
        cls, cue: Cue, runner: str, unix_offset_s: float = 0.0, session_id: str | None = None
    ) -> CuePayload:
        return cls(
            runner=runner,
            id=cue.id,
            kind=cue.kind.value,
            text=cue.text,
            priority=cue.priority,
            level=cue.level,
            created_unix_s=cue.created_s + unix_offset_s,
            expires_unix_s=cue.expires_s + unix_offset_s,
            trigger=_numbers(cue.trigger),
            metronome_spm=_finite(cue.metronome_spm),
            session_id=session_id,
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> CuePayload:
        """A received cue, checked field by field (a consumer must survive any payload:
        ``priority: 1e999``, strings for numbers, NaN, ...); :class:`PayloadError` if bad."""
        d = decode_object(data)
        if d.get("type") != "cue" or d.get("v") != SCHEMA_VERSION:
            raise PayloadError(
                f"not a v{SCHEMA_VERSION} cue: type={_show(d.get('type'))} v={_show(d.get('v'))}"
            )
        metronome = d.get("metronome_spm")
        trigger = d.get("trigger")
        if not isinstance(trigger, dict):
            raise PayloadError(f"cue payload: trigger = {_show(trigger)}: an object")
        return cls(
            runner=_text(d, "runner"),
            id=_text(d, "id"),
            kind=_text(d, "kind"),
            text=_text(d, "text"),
            priority=_count(d, "priority"),
            level=_count(d, "level"),
            created_unix_s=_number(d, "created_unix_s"),
            expires_unix_s=_number(d, "expires_unix_s"),
            trigger={str(k): _number(trigger, k) for k in trigger},
            metronome_spm=None if metronome is None else _number(d, "metronome_spm", 0.0),
        )

    @property
    def ttl_s(self) -> float:
        return self.expires_unix_s - self.created_unix_s


LIVE_FIELDS = ("session_id", "elapsed_s", "distance_m", "targets", "muted_until_unix_s", "link")
"""Fields of the metrics payload that are not :class:`~gaitcoach.types.GaitMetrics` but the
service's live state (:func:`gaitcoach.service.progress.live_fields`)."""


@dataclass(frozen=True, slots=True)
class MetricsPayload:
    """``<prefix>/<runner>/metrics`` (QoS 0, about 1 Hz): rolling medians."""

    runner: str
    t_unix_s: float
    activity: str
    n_strides: int
    cadence_spm: float | None = None
    contact_time_s: float | None = None
    flight_time_s: float | None = None
    stride_length_m: float | None = None
    speed_mps: float | None = None
    foot_strike_angle_deg: float | None = None
    strike_pattern: str | None = None
    overstride_m: float | None = None
    peak_impact_g: float | None = None
    step_length_rel_leg: float | None = None
    balance_contact_left_pct: float | None = None
    per_foot: dict[str, dict[str, float]] = field(default_factory=dict)
    # LIVE_FIELDS (always sent, null when unknown; for displays such as the dashboard): the
    # session, the targets in force, the mute and the pods' loss counters.
    session_id: str | None = None
    elapsed_s: float | None = None
    distance_m: float | None = None
    targets: dict[str, float | None] | None = None
    muted_until_unix_s: float | None = None
    link: dict[str, dict[str, int]] | None = None
    v: int = SCHEMA_VERSION
    type: str = "metrics"

    @classmethod
    def from_metrics(
        cls, m: GaitMetrics, runner: str, unix_offset_s: float = 0.0
    ) -> MetricsPayload:
        """The GaitMetrics fields on the wire (:data:`METRICS_WIRE`): numbers rounded as
        :data:`WIRE_DIGITS` says for their unit, enums as their value, the time as Unix s."""
        values: dict[str, Any] = {}
        for name, digits in METRICS_WIRE.items():
            v = getattr(m, name)
            if digits is not None:
                v = _round(v, digits)
            elif isinstance(v, StrEnum):
                v = v.value
            values[name] = v
        return cls(
            runner=runner,
            t_unix_s=round(m.t_s + unix_offset_s, wire_digits("t_unix_s")),
            per_foot={
                foot.value: {k: round(v, 3) for k, v in _numbers(values).items()}
                for foot, values in m.per_foot.items()
            },
            **values,
        )


METRICS_NOT_PUBLISHED: frozenset[str] = frozenset()
"""GaitMetrics fields the metrics payload leaves out (none: a new field is published unless
listed here; the payload, metrics.schema.json and the hub's LIVE_METRICS then need it)."""
_METRICS_SPECIAL = frozenset({"t_s", "per_foot"})
"""GaitMetrics fields :meth:`MetricsPayload.from_metrics` converts itself (time, per foot)."""


def _metrics_wire() -> dict[str, int | None]:
    hints = get_type_hints(GaitMetrics)
    out: dict[str, int | None] = {}
    for f in dataclasses.fields(GaitMetrics):
        if f.name in METRICS_NOT_PUBLISHED or f.name in _METRICS_SPECIAL:
            continue
        kinds, _ = without_none(hints[f.name])
        out[f.name] = wire_digits(f.name) if kinds == (float,) else None
    return out


METRICS_WIRE = _metrics_wire()
"""GaitMetrics field -> decimals on the wire (None: copied as is, enums as their value)."""


@dataclass(frozen=True, slots=True)
class StridePayload:
    """``<prefix>/<runner>/stride`` (QoS 0, optional): one stride record."""

    runner: str
    t_unix_s: float
    """Unix time of the stride's end (its last initial contact)."""
    stride: dict[str, Any]
    """The :class:`~gaitcoach.types.StrideRecord` fields (times on the service clock)."""
    session_id: str | None = None
    """The session being recorded (None outside one): with runner, foot and index the stride's
    stable id, the key of the team hub's upsert (docs/hub.md)."""
    v: int = SCHEMA_VERSION
    type: str = "stride"

    @classmethod
    def from_stride(
        cls,
        s: StrideRecord,
        runner: str,
        unix_offset_s: float = 0.0,
        session_id: str | None = None,
    ) -> StridePayload:
        record: dict[str, Any] = {}
        for name in s.__dataclass_fields__:
            value = getattr(s, name)
            if isinstance(value, float):
                value = _finite(value)
            elif hasattr(value, "value"):
                value = value.value  # enums
            record[name] = value
        return cls(
            runner=runner, t_unix_s=s.end_ic_s + unix_offset_s, stride=record, session_id=session_id
        )


@dataclass(frozen=True, slots=True)
class PodReport:
    """One pod's link as last reported on the status topic (the link's live state is
    :class:`gaitcoach.link.PodStatus`)."""

    foot: str
    address: str
    state: str
    t_unix_s: float
    detail: str = ""
    rssi_dbm: int | None = None
    battery_pct: int | None = None

    @classmethod
    def from_event(cls, e: LinkEvent, unix_offset_s: float = 0.0) -> PodReport:
        return cls(
            e.foot.value,
            e.address,
            e.state.value,
            e.t_s + unix_offset_s,
            e.detail,
            e.rssi_dbm,
            e.battery_pct,
        )


@dataclass(frozen=True, slots=True)
class StatusPayload:
    """``<prefix>/<runner>/status`` (QoS 1, retained): service online/offline and pods.

    The last will is the same payload with ``online: false`` and ``reason: "connection lost"``.
    """

    runner: str
    online: bool
    t_unix_s: float
    reason: str = ""
    protocol: str | None = None
    session_id: str | None = None
    pods: list[PodReport] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    """Messages dropped while the broker was away, by kind and reason (e.g. cue_expired)."""
    v: int = SCHEMA_VERSION
    type: str = "status"


@dataclass(frozen=True, slots=True)
class SessionPayload:
    """``<prefix>/<runner>/session`` (QoS 1, retained): the post-run summary."""

    runner: str
    t_unix_s: float
    summary: dict[str, Any]
    v: int = SCHEMA_VERSION
    type: str = "session"


@dataclass(frozen=True, slots=True)
class ReplyError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ReplyPayload:
    """``<prefix>/<runner>/reply`` (QoS 1), or the v5 response topic: a command's outcome."""

    runner: str
    command: str
    ok: bool
    t_unix_s: float
    id: str | None = None
    result: dict[str, Any] | None = None
    error: ReplyError | None = None
    v: int = SCHEMA_VERSION
    type: str = "reply"


def status_offline(runner: str, t_unix_s: float, reason: str) -> StatusPayload:
    return StatusPayload(runner=runner, online=False, t_unix_s=t_unix_s, reason=reason)


def pods_from_events(events: Sequence[LinkEvent], unix_offset_s: float = 0.0) -> list[PodReport]:
    """The latest event per foot."""
    latest: dict[str, LinkEvent] = {}
    for e in events:
        latest[e.foot.value] = e
    return [PodReport.from_event(e, unix_offset_s) for _, e in sorted(latest.items())]
