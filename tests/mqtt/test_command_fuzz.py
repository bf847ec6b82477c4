"""Hypothesis fuzzing of the command path, down to the reply the publisher queues: whatever
arrives on ``cmd/#`` gets exactly one reply, on the runner's own reply topic, valid against
reply.schema.json, with a documented code (never ``internal_error`` for bad input), and a
command is accepted only when command.schema.json accepts it too. The live counterpart (a
real broker and the running service) is ``./run bench command_fuzz``."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaitcoach.coach import COMMAND_NAMES, Command, CommandError
from gaitcoach.mqtt import Incoming, MqttPublisher, MqttSettings
from gaitcoach.mqtt.requests import (
    ERROR_CODES,
    MAX_COMMAND_BYTES,
    MAX_CORRELATION_BYTES,
    read_command,
)
from gaitcoach.mqtt.topics import Topics
from tests.mqtt.clients import SCHEMAS, validate

RUNNER = "alice"
TOPICS = Topics(RUNNER)
ARG_KEYS = [
    "session_id",
    "cadence_target_spm",
    "cadence_raise_pct",
    "strike_angle_limit_deg",
    "overstride_limit_m",
    "duration_s",
    "body_part",
    "score",
    "note",
    "v",
    "id",
    "runner",
    "volume",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**1000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, 5, 10, 60.0, 170, 7200, 7201, -1, "knee", "run-1", "alice"])
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
arg_dicts = st.dictionaries(st.sampled_from(ARG_KEYS) | st.text(max_size=10), json_values)


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["args", "value", "bytes", "deep", "digits", "big"]))
    if kind == "args":
        return json.dumps(draw(arg_dicts), allow_nan=True).encode("utf-8", "surrogatepass")
    if kind == "value":
        return json.dumps(draw(json_values), allow_nan=True).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "deep":
        depth = draw(st.integers(1, 3000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        closer = "]" if opener == "[" else "}"
        return ('{"duration_s": ' + opener * depth + "1" + closer * depth + "}").encode()
    if kind == "digits":
        return b'{"duration_s": ' + b"9" * draw(st.integers(300, 5000)) + b"}"
    return (
        b'{"note": "'
        + b"x" * draw(st.integers(MAX_COMMAND_BYTES - 20, 3 * MAX_COMMAND_BYTES))
        + b'"}'
    )


names = st.sampled_from([*COMMAND_NAMES, "", "jump", "mute/now", "a" * 300]) | st.text(max_size=20)
odd_response_topics = st.sampled_from(
    [
        TOPICS.reply,
        TOPICS.reply + "/app",
        TOPICS.reply + "/#",
        TOPICS.reply + "/+",
        "gaitcoach/bob/cue",
        TOPICS.base + "/cmd/stop",
        "$SYS/x",
        "",
        "x" * 1000,
    ]
) | st.text(max_size=30)
# Mostly ordinary messages, so that the argument checks get exercised too.
response_topics = st.one_of(
    st.none(), st.none(), st.none(), st.just(TOPICS.reply + "/app"), odd_response_topics
)
retains = st.sampled_from([False, False, False, True])

near = {
    "session_id": st.sampled_from(["run-1", "R", "a" * 64, "a" * 65, "../x", "-x", ""]),
    "cadence_target_spm": st.floats(100, 260) | st.integers(100, 260),
    "cadence_raise_pct": st.floats(0, 15),
    "strike_angle_limit_deg": st.floats(0, 60),
    "overstride_limit_m": st.floats(0, 1.5),
    "duration_s": st.floats(-10, 8000) | st.integers(-10, 8000),
    "body_part": st.sampled_from(["knee", "KNEE", "elbow", "hip", ""]),
    "score": st.integers(-2, 12) | st.floats(-1, 11),
    "note": st.text(max_size=210),
    "v": st.sampled_from([1, 1, 2, True, "1"]),
    "id": st.text(max_size=130),
    "runner": st.sampled_from([RUNNER, RUNNER, "bob"]),
}


OWN_KEYS = {
    "start": ["session_id"],
    "stop": [],
    "set_targets": [
        "cadence_target_spm",
        "cadence_raise_pct",
        "strike_angle_limit_deg",
        "overstride_limit_m",
    ],
    "mute": ["duration_s"],
    "discomfort": ["body_part", "score", "note"],
}


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, bytes]:
    """A command name with arguments near (and across) their limits, or anything at all."""
    if draw(st.booleans()):
        return draw(names), draw(payloads())
    name = draw(st.sampled_from(COMMAND_NAMES))
    own = [*OWN_KEYS[name], "v", "id", "runner"]
    pool = own if draw(st.integers(0, 3)) else sorted(near)
    keys = draw(st.lists(st.sampled_from(pool), max_size=4, unique=True))
    args = {k: draw(near[k] | json_values) if draw(st.booleans()) else draw(near[k]) for k in keys}
    return name, json.dumps(args, allow_nan=True).encode("utf-8", "surrogatepass")


def message(name: str, payload: bytes, response: str | None, retain: bool) -> Incoming:
    return Incoming(
        f"{TOPICS.base}/cmd/{name}", payload, 1, retain, response, b"corr" if response else None
    )


def _strict_schema(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / "command.schema.json").read_text())
    command = schema["$defs"][name]
    return jsonschema.Draft202012Validator(
        {
            "allOf": [schema, command],
            "properties": {**schema["properties"], **command["properties"]},
            "additionalProperties": False,
        }
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands(), response_topics, retains)
def test_read_command_never_raises_and_accepts_only_schema_valid_commands(
    command: tuple[str, bytes], response: str | None, retain: bool
) -> None:
    name, payload = command
    request, outcome = read_command(TOPICS, message(name, payload, response, retain))
    assert request.reply_topic == TOPICS.reply or request.reply_topic.startswith(TOPICS.reply + "/")
    assert not any(c in request.reply_topic for c in "+#")
    assert len(request.name) <= 64
    if isinstance(outcome, CommandError):
        assert outcome.code in ERROR_CODES
        assert outcome.code not in ("internal_error", "unavailable", "conflict")
        assert 0 < len(outcome.message) < 500
        return
    assert not retain and len(payload) <= MAX_COMMAND_BYTES
    args = json.loads(payload) if payload.strip() else {}
    if isinstance(args.get("body_part"), str):  # matched case-insensitively (documented)
        args["body_part"] = args["body_part"].lower()
    assert _strict_schema(name).is_valid(args), (name, args)


class Applied:
    def __init__(self) -> None:
        self.commands: list[Command] = []

    def __call__(self, command: Command) -> dict[str, Any]:
        self.commands.append(command)
        return {"applied": type(command).__name__, "nan": float("nan")}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(commands(), response_topics, retains), max_size=8))
def test_the_publisher_queues_exactly_one_valid_reply_per_command(
    batch: list[tuple[tuple[str, bytes], str | None, bool]],
) -> None:
    # Not started: no network, replies wait in the outbox, which is what is checked.
    applied = Applied()
    pub = MqttPublisher(
        MqttSettings(host="127.0.0.1", queue_max=100), RUNNER, command_handler=applied
    )
    for (name, payload), response, retain in batch:
        pub._message(message(name, payload, response, retain))
    replies = pub._outbox.take_all(time.time())
    assert len(replies) == len(batch)
    accepted = 0
    for out, (_, response, _) in zip(replies, batch, strict=True):
        assert out.kind == "reply"
        assert out.topic == TOPICS.reply or out.topic.startswith(TOPICS.reply + "/")
        if out.topic != TOPICS.reply:
            assert out.topic == response
        data = validate(out.payload)
        accepted += data["ok"]
        if not data["ok"]:
            assert data["error"]["code"] != "internal_error", data
    assert accepted == len(applied.commands) == pub.stats.commands_ok
    assert len(pub.handled_commands_) == len(batch)


def test_correlation_data_is_echoed_up_to_its_limit_and_refused_beyond() -> None:
    # Echoed in the reply and held in the outbox while the broker is away: bounded like every
    # other field (MQTT allows 64 KiB).
    for size, echoed in ((MAX_CORRELATION_BYTES, True), (MAX_CORRELATION_BYTES + 1, False)):
        msg = Incoming(
            f"{TOPICS.base}/cmd/mute", b'{"duration_s": 60}', 1, False, TOPICS.reply, b"c" * size
        )
        request, outcome = read_command(TOPICS, msg)
        if echoed:
            assert (
                not isinstance(outcome, CommandError)
                and request.correlation_data == msg.correlation_data
            )
        else:
            assert isinstance(outcome, CommandError) and outcome.code == "too_large"
            assert request.correlation_data is None and "correlation data" in outcome.message
