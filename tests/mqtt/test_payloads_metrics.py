"""The metrics payload is derived from :class:`GaitMetrics`: every field is published (or
listed as not published), typed as on the wire, and rounded as ``WIRE_DIGITS`` says for its
unit."""

from __future__ import annotations

import dataclasses
import json
import math
from enum import StrEnum
from typing import Any, get_args, get_type_hints

import pytest

from gaitcoach.hub.records import LIVE_METRICS
from gaitcoach.mqtt.payloads import (
    METRICS_NOT_PUBLISHED,
    METRICS_WIRE,
    MetricsPayload,
    encode,
    wire_digits,
)
from gaitcoach.types import Foot, GaitMetrics


def _fields(cls: type[Any]) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_every_metrics_field_is_published_or_listed_as_not() -> None:
    published = _fields(GaitMetrics) - METRICS_NOT_PUBLISHED
    assert _fields(GaitMetrics) >= METRICS_NOT_PUBLISHED  # no stale names
    assert set(METRICS_WIRE) == published - {"t_s", "per_foot"}
    assert published - {"t_s"} <= _fields(MetricsPayload)
    assert "t_unix_s" in _fields(MetricsPayload)
    assert not (METRICS_NOT_PUBLISHED & _fields(MetricsPayload))


def test_payload_fields_have_the_wire_type_of_their_metric() -> None:
    """Numbers stay numbers, enums become their value (text); optional stays optional."""
    metric, wire = get_type_hints(GaitMetrics), get_type_hints(MetricsPayload)
    for name in METRICS_WIRE:
        m_args = set(get_args(metric[name]) or (metric[name],))
        w_args = set(get_args(wire[name]) or (wire[name],))
        expected = {str if isinstance(a, type) and issubclass(a, StrEnum) else a for a in m_args}
        assert w_args == expected, name


def test_every_number_has_a_wire_precision() -> None:
    for name, digits in METRICS_WIRE.items():
        if digits is not None:
            assert digits == wire_digits(name), name
    assert wire_digits("t_unix_s") == 3
    with pytest.raises(KeyError, match="no unit"):
        wire_digits("mystery_furlongs")


def _all_set() -> GaitMetrics:
    """A GaitMetrics with every field set (numbers with more digits than the wire keeps)."""
    hints = get_type_hints(GaitMetrics)
    values: dict[str, Any] = {}
    for i, f in enumerate(dataclasses.fields(GaitMetrics)):
        kinds = set(get_args(hints[f.name]) or (hints[f.name],)) - {type(None)}
        (kind,) = kinds if len(kinds) == 1 else (None,)
        if kind is float:
            values[f.name] = 10 + i + 0.123456789
        elif kind is int:
            values[f.name] = 7
        elif isinstance(kind, type) and issubclass(kind, StrEnum):
            values[f.name] = list(kind)[-1]
        else:
            assert f.name == "per_foot", f"{f.name}: give it a value here"
            values[f.name] = {Foot.LEFT: {"contact_time_s": 0.2345678, "x": math.nan}}
    return GaitMetrics(**values)


def test_from_metrics_copies_every_field_rounded_by_unit() -> None:
    m = _all_set()
    p = MetricsPayload.from_metrics(m, "alice", unix_offset_s=1.7e9)
    for name, digits in METRICS_WIRE.items():
        v, out = getattr(m, name), getattr(p, name)
        if digits is not None:
            assert out == round(v, digits), name
        elif isinstance(v, StrEnum):
            assert out == v.value, name
        else:
            assert out == v, name
    assert p.t_unix_s == round(m.t_s + 1.7e9, 3)
    assert p.per_foot == {"left": {"contact_time_s": 0.235}}
    wire = json.loads(encode(p))
    assert {k for k, v in wire.items() if v is None} <= _fields(MetricsPayload) - set(METRICS_WIRE)


def test_unknown_metrics_are_null_on_the_wire() -> None:
    p = MetricsPayload.from_metrics(
        GaitMetrics(t_s=1.0, activity=_all_set().activity, n_strides=0), "a"
    )
    for name, digits in METRICS_WIRE.items():
        if digits is not None:
            assert getattr(p, name) is None, name
    p = MetricsPayload.from_metrics(dataclasses.replace(_all_set(), cadence_spm=math.nan), "a")
    assert p.cadence_spm is None


def test_hub_keeps_every_published_scalar_metric() -> None:
    """The hub's live row (hub.records.LIVE_METRICS) is the payload's GaitMetrics scalars."""
    assert set(LIVE_METRICS) == set(METRICS_WIRE)
