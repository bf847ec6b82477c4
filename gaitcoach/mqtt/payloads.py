"""JSON payloads of the topic tree, as dataclasses (schemas: docs/mqtt/*.schema.json).

Every payload carries ``v`` (schema version) and ``type``. Times on the wire are Unix seconds
(``*_unix_s``); the service converts its own clock with ``unix_offset_s``
(unix = service time + offset). Non-finite numbers never reach the wire (JSON has none).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gaitcoach.types import Cue, GaitMetrics, LinkEvent, StrideRecord

SCHEMA_VERSION = 1


class PayloadError(ValueError):
    """A payload that is not valid JSON of the expected shape."""


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _numbers(values: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if math.isfinite(v)}


def encode(payload: Any) -> bytes:
    """Compact JSON of a payload dataclass."""
    return json.dumps(asdict(payload), separators=(",", ":"), allow_nan=False).encode()


def decode_object(data: bytes | str) -> dict[str, Any]:
    """A JSON object from bytes (PayloadError when not JSON or not an object)."""
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PayloadError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"a JSON object is required, got {type(value).__name__}")
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
    v: int = SCHEMA_VERSION
    type: str = "cue"

    @classmethod
    def from_cue(cls, cue: Cue, runner: str, unix_offset_s: float = 0.0) -> CuePayload:
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
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> CuePayload:
        d = decode_object(data)
        if d.get("type") != "cue" or d.get("v") != SCHEMA_VERSION:
            raise PayloadError(
                f"not a v{SCHEMA_VERSION} cue: type={d.get('type')!r} v={d.get('v')!r}"
            )
        try:
            return cls(
                runner=str(d["runner"]),
                id=str(d["id"]),
                kind=str(d["kind"]),
                text=str(d["text"]),
                priority=int(d["priority"]),
                level=int(d["level"]),
                created_unix_s=float(d["created_unix_s"]),
                expires_unix_s=float(d["expires_unix_s"]),
                trigger={str(k): float(v) for k, v in dict(d["trigger"]).items()},
                metronome_spm=None if d.get("metronome_spm") is None else float(d["metronome_spm"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PayloadError(f"cue payload: bad or missing field ({exc})") from None

    @property
    def ttl_s(self) -> float:
        return self.expires_unix_s - self.created_unix_s


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
    v: int = SCHEMA_VERSION
    type: str = "metrics"

    @classmethod
    def from_metrics(
        cls, m: GaitMetrics, runner: str, unix_offset_s: float = 0.0
    ) -> MetricsPayload:
        return cls(
            runner=runner,
            t_unix_s=m.t_s + unix_offset_s,
            activity=m.activity.value,
            n_strides=m.n_strides,
            cadence_spm=_finite(m.cadence_spm),
            contact_time_s=_finite(m.contact_time_s),
            flight_time_s=_finite(m.flight_time_s),
            stride_length_m=_finite(m.stride_length_m),
            speed_mps=_finite(m.speed_mps),
            foot_strike_angle_deg=_finite(m.foot_strike_angle_deg),
            strike_pattern=m.strike_pattern.value if m.strike_pattern else None,
            overstride_m=_finite(m.overstride_m),
            peak_impact_g=_finite(m.peak_impact_g),
            step_length_rel_leg=_finite(m.step_length_rel_leg),
            balance_contact_left_pct=_finite(m.balance_contact_left_pct),
            per_foot={foot.value: _numbers(values) for foot, values in m.per_foot.items()},
        )


@dataclass(frozen=True, slots=True)
class StridePayload:
    """``<prefix>/<runner>/stride`` (QoS 0, optional): one stride record."""

    runner: str
    t_unix_s: float
    """Unix time of the stride's end (its last initial contact)."""
    stride: dict[str, Any]
    """The :class:`~gaitcoach.types.StrideRecord` fields (times on the service clock)."""
    v: int = SCHEMA_VERSION
    type: str = "stride"

    @classmethod
    def from_stride(cls, s: StrideRecord, runner: str, unix_offset_s: float = 0.0) -> StridePayload:
        record: dict[str, Any] = {}
        for name in s.__dataclass_fields__:
            value = getattr(s, name)
            if isinstance(value, float):
                value = _finite(value)
            elif hasattr(value, "value"):
                value = value.value  # enums
            record[name] = value
        return cls(runner=runner, t_unix_s=s.end_ic_s + unix_offset_s, stride=record)


@dataclass(frozen=True, slots=True)
class PodStatus:
    """One pod's link as last reported."""

    foot: str
    address: str
    state: str
    t_unix_s: float
    detail: str = ""
    rssi_dbm: int | None = None
    battery_pct: int | None = None

    @classmethod
    def from_event(cls, e: LinkEvent, unix_offset_s: float = 0.0) -> PodStatus:
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
    pods: list[PodStatus] = field(default_factory=list)
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


def pods_from_events(events: Sequence[LinkEvent], unix_offset_s: float = 0.0) -> list[PodStatus]:
    """The latest event per foot."""
    latest: dict[str, LinkEvent] = {}
    for e in events:
        latest[e.foot.value] = e
    return [PodStatus.from_event(e, unix_offset_s) for _, e in sorted(latest.items())]
