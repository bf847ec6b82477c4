"""The stride columns are derived from :class:`StrideRecord`: a field added, removed, renamed
or retyped either changes the pinned v1 layout (a deliberate store migration, see below) or
round-trips through the real SQLite store, with every optional field set and unset."""

from __future__ import annotations

import dataclasses
import sqlite3
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from gaitcoach.session.recorder import Recorder
from gaitcoach.session.store import (
    DB_NAME,
    STRIDE_COLUMNS,
    STRIDE_SCHEMA,
    SessionStore,
    stride_from_row,
    stride_to_row,
)
from gaitcoach.types import StrideRecord

V1_STRIDE_COLUMNS = (
    "foot",
    "idx",
    "ic_s",
    "to_s",
    "end_ic_s",
    "contact_time_s",
    "swing_time_s",
    "stride_time_s",
    "cadence_spm",
    "activity",
    "flight_time_s",
    "step_time_s",
    "stride_length_m",
    "speed_mps",
    "clearance_m",
    "foot_strike_angle_deg",
    "strike_pattern",
    "peak_impact_g",
    "loading_rate_gps",
    "overstride_m",
)
"""The ``strides`` columns of format version 1 (edge stores, the hub's ``hub.strides``, the
sync ``columns`` list)."""


def test_columns_are_the_v1_layout() -> None:
    """A StrideRecord field change changes what is stored: existing stores lack the column,
    and the hub refuses sync rows whose columns differ. Such a change needs a store migration
    (as ``cue_outcomes``, or a FORMAT_VERSION bump), the hub's ``hub.strides``, the stride JSON
    Schema and docs/sessions.md; then update V1_STRIDE_COLUMNS here."""
    assert STRIDE_COLUMNS == V1_STRIDE_COLUMNS


def test_one_column_per_record_field_in_field_order() -> None:
    fields = [f.name for f in dataclasses.fields(StrideRecord)]
    assert [c.field for c in STRIDE_SCHEMA] == fields
    assert [c.name for c in STRIDE_SCHEMA] == ["idx" if f == "index" else f for f in fields]
    optional = {f.name for f in dataclasses.fields(StrideRecord) if f.default is None}
    assert {c.field for c in STRIDE_SCHEMA if c.optional} == optional


def _value(kind: type, i: int) -> Any:
    """A value of a column's kind, different for every column (the last enum member: not a
    default anywhere)."""
    if issubclass(kind, StrEnum):
        return list(kind)[-1]
    if kind is int:
        return 1000 + i
    return 0.125 + i  # exact in binary


def _full() -> StrideRecord:
    return StrideRecord(**{c.field: _value(c.kind, i) for i, c in enumerate(STRIDE_SCHEMA)})


def _bare() -> StrideRecord:
    return StrideRecord(
        **{c.field: _value(c.kind, i) for i, c in enumerate(STRIDE_SCHEMA) if not c.optional}
    )


def test_every_field_set_and_every_optional_unset() -> None:
    full, bare = _full(), _bare()
    for f in dataclasses.fields(StrideRecord):
        assert getattr(full, f.name) is not None, f.name
        assert getattr(full, f.name) != f.default, f.name
        if f.default is None:
            assert getattr(bare, f.name) is None, f.name


def test_row_round_trip() -> None:
    for s in (_full(), _bare()):
        row = stride_to_row(s)
        assert len(row) == len(STRIDE_COLUMNS)
        assert all(type(v) in (str, int, float, type(None)) for v in row)  # plain SQL values
        assert stride_from_row(row) == s


def test_round_trip_through_the_sqlite_store(tmp_path: Path) -> None:
    strides = [_full(), _bare(), dataclasses.replace(_bare(), index=_bare().index + 1)]
    with Recorder(tmp_path, config={}) as rec:
        for s in strides:
            rec.add_stride(s)
        sid = rec.session_id
    with SessionStore(tmp_path) as store:
        assert store.load(sid).strides == strides
    conn = sqlite3.connect(tmp_path / DB_NAME)
    try:
        table = [r[1] for r in conn.execute("PRAGMA table_info(strides)")]
    finally:
        conn.close()
    assert table == ["session_id", "seq", *V1_STRIDE_COLUMNS]


def test_a_bad_value_names_its_column() -> None:
    row = list(stride_to_row(_full()))
    row[STRIDE_COLUMNS.index("idx")] = "first"
    with pytest.raises(ValueError, match="idx = 'first' is not an integer"):
        stride_from_row(tuple(row))
    with pytest.raises(ValueError, match="a stride row of 2 values"):
        stride_from_row(("left", 0))
