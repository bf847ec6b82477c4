"""The bounded outgoing queue, settings validation and payload encoding (pure parts)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gaitcoach.coach import CommandError, parse_command
from gaitcoach.errors import ConfigError
from gaitcoach.mqtt import CuePayload, MqttSettings, Outbox, Outgoing, PayloadError, Topics
from gaitcoach.mqtt.payloads import encode
from tests.mqtt.clients import SCHEMAS, validate
from tests.mqtt.test_topics import make_cue


def item(
    kind: str, t: float, ttl: float = math.inf, topic: str = "", retain: bool = False
) -> Outgoing:
    return Outgoing(kind, topic or f"g/r/{kind}", f"{kind}@{t}".encode(), 1, retain, t, t + ttl)


def test_full_queue_drops_stale_cues_first_then_the_least_valuable() -> None:
    box = Outbox(3)
    box.push(item("cue", 0.0, ttl=2.0), 0.0)
    box.push(item("cue", 1.0, ttl=60.0), 1.0)
    box.push(item("metrics", 1.5, ttl=60.0), 1.5)
    box.push(item("cue", 3.0, ttl=60.0), 3.0)  # full: the cue of t=0 is stale by now
    assert box.dropped == {"cue_expired": 1}
    box.push(item("cue", 4.0, ttl=60.0), 4.0)  # full, nothing stale: metrics go before cues
    assert box.dropped == {"cue_expired": 1, "metrics_queue_full": 1}
    box.push(item("cue", 5.0, ttl=60.0), 5.0)  # only cues left: the oldest goes
    assert box.dropped["cue_queue_full"] == 1
    assert [i.created_unix_s for i in box.take_all(6.0)] == [3.0, 4.0, 5.0]
    assert len(box) == 0


def test_expired_items_are_dropped_on_take_and_on_push() -> None:
    box = Outbox(10)
    box.push(item("cue", 0.0, ttl=1.0), 0.5)
    box.push(item("cue", 0.0, ttl=1.0), 2.0)  # already stale when queued
    box.push(item("session", 0.0), 0.5)
    assert [i.kind for i in box.take_all(5.0)] == ["session"]
    assert box.dropped == {"cue_expired": 2}


def test_newer_retained_or_latest_only_message_replaces_the_queued_one() -> None:
    box = Outbox(10)
    box.push(item("status", 0.0, retain=True), 0.0)
    box.push(item("status", 1.0, retain=True), 1.0)
    for t in range(5):
        box.push(Outgoing("metrics", "g/r/metrics", b"m", 0, False, t, t + 60, True), t)
    kept = box.take_all(5.0)
    assert [(i.kind, i.created_unix_s) for i in kept] == [("status", 1.0), ("metrics", 4)]
    assert box.dropped == {"status_superseded": 1, "metrics_superseded": 4}


def test_settings_validation(tmp_path: Path) -> None:
    assert MqttSettings.from_dict({}) == MqttSettings()
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    ok = MqttSettings.from_dict({"host": "h", "tls": True, "ca_file": str(ca)})
    assert ok.tls and ok.configured
    bad: list[tuple[dict[str, object], str]] = [
        ({"port": 70000}, "mqtt.port"),
        ({"protocol": "4"}, "mqtt.protocol"),
        ({"username": "a"}, "mqtt.password"),
        ({"ca_file": str(ca)}, "mqtt.tls"),
        ({"tls": True, "ca_file": str(tmp_path / "missing")}, "mqtt.ca_file"),
        ({"reconnect_min_s": 5.0, "reconnect_max_s": 1.0}, "mqtt.reconnect_max_s"),
        ({"topic_prefix": "a/+"}, "mqtt.topic_prefix"),
        ({"queue_max": 0}, "mqtt.queue_max"),
        ({"hostname": "x"}, "mqtt.hostname"),
    ]
    for data, key in bad:
        with pytest.raises(ConfigError) as err:
            MqttSettings.from_dict(data, "mqtt")
        assert err.value.key == key, data


def test_topics_and_runner_ids() -> None:
    t = Topics("alice")
    assert (t.cue, t.status, t.commands) == (
        "gaitcoach/alice/cue",
        "gaitcoach/alice/status",
        "gaitcoach/alice/cmd/#",
    )
    assert t.command_name("gaitcoach/alice/cmd/mute") == "mute"
    assert t.command_name("gaitcoach/bob/cmd/mute") is None
    for bad in ("a/b", "+", "#", "", "x" * 65):
        with pytest.raises(ValueError):
            Topics(bad)


def test_cue_payload_round_trip_and_bad_payloads() -> None:
    cue = make_cue(1000.0)
    payload = CuePayload.from_cue(cue, "alice", unix_offset_s=1.7e9)
    data = encode(payload)
    validate(data)
    back = CuePayload.from_json(data)
    assert back == payload and back.ttl_s == pytest.approx(8.0)
    assert back.created_unix_s == pytest.approx(1.7e9 + 1000.0)
    for bad in (b"{", b"[]", b'{"type": "cue", "v": 1}', b'{"type": "metrics", "v": 1}'):
        with pytest.raises(PayloadError):
            CuePayload.from_json(bad)


KINDS = ("cue", "metrics", "stride", "status", "reply", "session")


@given(
    st.integers(1, 8),
    st.lists(
        st.tuples(st.sampled_from(KINDS), st.floats(0.0, 5.0), st.floats(0.1, 20.0), st.booleans()),
        max_size=60,
    ),
)
def test_outbox_is_bounded_and_accounts_for_every_message(
    size: int, pushes: list[tuple[str, float, float, bool]]
) -> None:
    box = Outbox(size)
    now = 0.0
    for kind, step, ttl, latest in pushes:
        now += step
        box.push(Outgoing(kind, f"t/{kind}", b"", 1, kind == "status", now, now + ttl, latest), now)
        assert len(box) <= size
    kept = box.take_all(now)
    # Nothing vanishes: every message was either kept or counted as dropped.
    assert len(kept) + sum(box.dropped.values()) == len(pushes)
    assert all(not item.expired(now) for item in kept)
    assert [i.created_unix_s for i in kept] == sorted(i.created_unix_s for i in kept)


COMMANDS = [
    ("start", {"session_id": "run-1", "id": "a"}),
    ("stop", {}),
    ("set_targets", {"cadence_target_spm": 170, "v": 1}),
    ("mute", {"duration_s": 0}),
    ("discomfort", {"body_part": "knee", "score": 10, "note": "sharp", "runner": "alice"}),
    ("mute", {"duration_s": -1}),
    ("mute", {}),
    ("set_targets", {}),
    ("set_targets", {"cadence_raise_pct": 12}),
    ("discomfort", {"body_part": "elbow", "score": 2}),
    ("discomfort", {"body_part": "knee", "score": 2.5}),
    ("start", {"session_id": ""}),
]


@pytest.mark.parametrize(("name", "args"), COMMANDS)
def test_command_schema_and_validation_agree(name: str, args: dict[str, object]) -> None:
    schema = json.loads((SCHEMAS / "command.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    command = schema["$defs"][name]
    envelope = set(schema["properties"])
    strict = {
        "allOf": [schema, command],
        "properties": {**schema["properties"], **command["properties"]},
        "additionalProperties": False,
    }
    schema_ok = jsonschema.Draft202012Validator(strict).is_valid(args)
    try:
        parse_command(name, args)
        parsed_ok = True
    except CommandError:
        parsed_ok = False
    assert schema_ok == parsed_ok, (name, args)
    assert envelope == {"v", "id", "runner"}
