"""The shipped JSON Schemas and the code agree in both directions: every payload field is in
its schema and every schema property is a field (all required: payloads always carry every
field); every command argument, range, enum and required set of the command schema is what
``parse_command`` accepts, and nothing more."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from gaitcoach.coach import commands
from gaitcoach.mqtt.payloads import (
    CuePayload,
    MetricsPayload,
    PodReport,
    ReplyError,
    ReplyPayload,
    SessionPayload,
    StatusPayload,
    StridePayload,
)
from gaitcoach.paths import schema_file
from gaitcoach.types import StrideRecord


def _schema(name: str) -> dict[str, Any]:
    return json.loads(schema_file(name).read_text(encoding="utf-8"))


def _fields(cls: type[Any]) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _object(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a local ``$ref`` resolved, and the object branch of a nullable one."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    for option in node.get("anyOf", node.get("oneOf", [])):
        if option.get("type") == "object" or "$ref" in option:
            return _object(schema, option)
    return node


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("cue", CuePayload),
        ("metrics", MetricsPayload),
        ("stride", StridePayload),
        ("status", StatusPayload),
        ("session", SessionPayload),
        ("reply", ReplyPayload),
    ],
)
def test_payload_fields_are_the_schema_properties(name: str, cls: type[Any]) -> None:
    schema = _schema(name)
    assert set(schema["properties"]) == _fields(cls)
    assert set(schema["required"]) == _fields(cls)
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("name", "key", "cls"),
    [("stride", "stride", StrideRecord), ("reply", "error", ReplyError)],
)
def test_nested_records_are_the_schema_properties(name: str, key: str, cls: type[Any]) -> None:
    schema = _schema(name)
    node = _object(schema, schema["properties"][key])
    assert set(node["properties"]) == _fields(cls)


def test_status_pods_are_pod_status_records() -> None:
    schema = _schema("status")
    items = _object(schema, schema["properties"]["pods"]["items"])
    assert set(items["properties"]) == _fields(PodReport)


def test_command_schema_is_what_parse_command_accepts() -> None:
    schema = _schema("command")
    defs = schema["$defs"]
    assert set(defs) == set(commands.COMMAND_NAMES)
    assert set(schema["properties"]) == set(commands.ENVELOPE_KEYS)
    for name in commands.COMMAND_NAMES:
        spec = commands.ARGUMENTS[name]
        props = defs[name]["properties"]
        assert set(props) == set(spec), name
        required = set(commands.REQUIRED_ARGUMENTS.get(name, ()))
        assert set(defs[name].get("required", [])) == required, name
        for arg, (kind, lo, hi) in spec.items():
            p = props[arg]
            if kind in ("float", "int"):
                assert p["type"] == ("integer" if kind == "int" else "number"), (name, arg)
                assert (p["minimum"], p["maximum"]) == (lo, hi), (name, arg)
            elif kind == "str":
                assert p["type"] == "string" and p["maxLength"] == hi, (name, arg)
            elif kind == "body_part":
                assert tuple(p["enum"]) == commands.BODY_PARTS
            else:
                assert kind == "session_id" and p["pattern"].startswith("^[A-Za-z0-9]")
    # set_targets needs at least one argument, in the schema as in the parser.
    assert defs["set_targets"]["minProperties"] == 1
    with pytest.raises(commands.CommandError, match="missing_argument"):
        commands.parse_command("set_targets", {})


def test_metrics_payload_is_gait_metrics_on_the_wire() -> None:
    """The metrics payload carries every published GaitMetrics field (its time as Unix
    seconds) and, beside them, only the envelope and the service's live state."""
    from gaitcoach.mqtt.payloads import LIVE_FIELDS, METRICS_NOT_PUBLISHED
    from gaitcoach.types import GaitMetrics

    published = (_fields(GaitMetrics) - METRICS_NOT_PUBLISHED - {"t_s"}) | {"t_unix_s"}
    assert _fields(MetricsPayload) - {"runner", "v", "type"} == published | set(LIVE_FIELDS)
