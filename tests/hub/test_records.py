"""The ingest's payload checks (pure): any bytes give a row or a RecordError with a reason,
never another exception; valid payloads round-trip; the digests tell any change apart."""

from __future__ import annotations

import contextlib
import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitcoach.hub import records
from gaitcoach.hub.records import RecordError
from gaitcoach.hub.schema import DDL
from gaitcoach.mqtt.payloads import CuePayload, StridePayload, encode
from gaitcoach.session.store import STRIDE_COLUMNS, STRIDE_SCHEMA, stride_to_row
from tests.hub.harness import make_cues
from tests.session import factory

PARSERS = {
    "stride": lambda d: records.stride_from_live("alice", d),
    "cue": lambda d: records.cue_from_live("alice", d),
    "metrics": lambda d: records.live_from_metrics("alice", d),
    "session": lambda d: records.session_from_summary("alice", d),
    "sync/session": lambda d: records.sync_session("alice", d),
    "sync/strides": lambda d: records.sync_strides("alice", d),
    "sync/cues": lambda d: records.sync_cues("alice", d),
    "sync/check": lambda d: records.sync_check("alice", d, "gaitcoach/alice/sync/reply", b"c"),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def _valid_stride() -> dict[str, Any]:
    s = factory.strides(factory.EFFICIENT, 0.1)[0]
    return json.loads(encode(StridePayload.from_stride(s, "alice", 1.7e9, "run-1")))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(PARSERS)), data=st.binary(max_size=300))
def test_any_bytes_give_a_row_or_a_reasoned_refusal(kind: str, data: bytes) -> None:
    try:
        PARSERS[kind](data)
    except RecordError as exc:
        assert exc.reason


@settings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(_valid_stride()["stride"])), value=json_values)
def test_a_stride_with_any_value_in_any_field_is_stored_checked_or_refused(
    field: str, value: Any
) -> None:
    d = _valid_stride()
    d["stride"][field] = value
    try:
        row = records.stride_from_live("alice", json.dumps(d).encode())
    except RecordError:
        return
    for v in row.values:
        assert v is None or isinstance(v, str) or (isinstance(v, float) and math.isfinite(v))
    assert 0 <= row.idx < 2**31


def test_a_live_stride_and_its_synced_row_are_the_same_row() -> None:
    s = factory.strides(factory.FATIGUING, 0.2, seed=3)[5]
    live = records.stride_from_live(
        "alice", encode(StridePayload.from_stride(s, "alice", 1.7e9, "run-1"))
    )
    batch = {
        "v": 1,
        "type": "sync_strides",
        "runner": "alice",
        "session_id": "run-1",
        "columns": list(STRIDE_COLUMNS),
        "rows": [list(stride_to_row(s))],
    }
    (synced,) = records.sync_strides("alice", json.dumps(batch).encode())
    assert (live.key, live.values) == (synced.key, synced.values)


def test_the_runner_is_the_topics_and_ids_are_plain() -> None:
    d = _valid_stride()
    with pytest.raises(RecordError, match="wrong_runner"):
        records.stride_from_live("bob", json.dumps(d).encode())
    for sid in ("../x", "-rf", "a" * 65, "x y", "ß", ""):
        d["session_id"] = sid
        with pytest.raises(RecordError) as err:
            records.stride_from_live("alice", json.dumps(d).encode())
        assert err.value.reason == "bad_session"
    assert records.parse_topic("gaitcoach/alice/stride") == ("alice", "stride")
    assert records.parse_topic("gaitcoach/alice/sync/strides") == ("alice", "sync/strides")
    for topic in ("gaitcoach/al ice/stride", "gaitcoach/alice/cmd/start", "other/alice/stride"):
        assert records.parse_topic(topic) is None


def test_sync_answers_go_only_to_the_runners_own_reply_tree() -> None:
    ok = records.reply_topic_ok
    assert ok("gaitcoach/alice/sync/reply", "alice")
    assert ok("gaitcoach/alice/sync/reply/abc", "alice")
    for bad in (
        "gaitcoach/bob/sync/reply",
        "gaitcoach/alice/sync/replyx",
        "gaitcoach/alice/#",
        "gaitcoach/alice/sync/reply/+",
        None,
        "gaitcoach/alice/sync/reply/" + "x" * 300,
        "gaitcoach/alice/sync/reply/\x00",
    ):
        assert not ok(bad, "alice")


def test_digests_change_with_any_field_and_not_with_order() -> None:
    strides = factory.strides(factory.EFFICIENT, 1.0)
    rows = [(s.foot.value, s.index, stride_to_row(s)[2:]) for s in strides]
    base = records.stride_digests(rows)
    assert records.stride_digests(list(reversed(rows))) == base
    foot, idx, values = rows[7]
    changed = list(values)
    changed[3] = math.nextafter(changed[3], math.inf)  # one bit of one number
    other = records.stride_digests([*rows[:7], (foot, idx, tuple(changed)), *rows[8:]])
    diff = [k for k in base if base[k] != other[k]]
    assert diff == [records.batch_of(foot, idx)]
    cues = [
        records._cue(
            "alice",
            "run-1",
            json.loads(encode(CuePayload.from_cue(c, "alice")))
            | {"created_s": c.created_s, "expires_s": c.expires_s},
            live=False,
        )
        for c in make_cues("run-1", 0.0, 3)
    ]
    assert records.cue_digest(cues) == records.cue_digest(list(reversed(cues)))
    assert records.cue_digest(cues[:2]) != records.cue_digest(cues)


def test_hub_strides_table_is_the_store_columns() -> None:
    """``hub.strides`` declares every stride column of the edge store (derived from
    StrideRecord) in order, enums as text, required fields NOT NULL."""
    table = DDL.split("CREATE TABLE IF NOT EXISTS strides (", 1)[1].split(");", 1)[0]
    declared = re.findall(r"(\w+) (text|integer|double precision)( NOT NULL)?", table)
    columns = {name: (kind, bool(nn)) for name, kind, nn in declared}
    assert [n for n, _, _ in declared][2 : 2 + len(STRIDE_SCHEMA)] == list(STRIDE_COLUMNS)
    for c in STRIDE_SCHEMA:
        kind = "text" if c.choices else "integer" if c.kind is int else "double precision"
        assert columns[c.name] == (kind, not c.optional), c.name
    # The live stride payload carries the record's field names (index, not idx).
    assert set(_valid_stride()["stride"]) == {c.field for c in STRIDE_SCHEMA}


@pytest.mark.parametrize(
    "answer",
    [
        b'{"strides": [["left", 1e999, 1, "x"]]}',
        b'{"strides": [["left", 0, Infinity, "x"]]}',
        b'{"strides": [["left", NaN, 1, "x"]]}',
        b'{"cues": [-Infinity, ""]}',
        b'{"cues": [1e400, ""]}',
    ],
)
def test_a_sync_answer_with_an_infinite_count_is_a_reasoned_refusal(answer: bytes) -> None:
    # int() of an infinite float is an OverflowError, not a ValueError: it ended the sync.
    with pytest.raises(RecordError, match="bad_json"):
        records.SessionDigest.from_json(answer)


@settings(max_examples=300, deadline=None)
@given(strides=json_values, cues=json_values)
def test_any_sync_answer_gives_a_digest_or_a_reasoned_refusal(strides: Any, cues: Any) -> None:
    answer = json.dumps({"known": True, "strides": strides, "cues": cues}).encode()
    with contextlib.suppress(RecordError):
        records.SessionDigest.from_json(answer)
