"""From an MQTT message on ``<prefix>/<runner>/cmd/<name>`` to a validated command, or to the
one error that answers it (docs/mqtt/topics.md, "Commands and replies").

Pure functions, no I/O: every payload is treated as written by an attacker. The reply route
is settled first (so that every message gets exactly one reply, on a topic the runner owns),
then the message is checked from the outside in: retained, size, name, UTF-8 JSON (strict:
no NaN, no duplicate keys, bounded nesting), envelope, arguments. Nothing is applied here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gaitcoach.coach.commands import Command, CommandError, is_utf8, parse_command, show
from gaitcoach.mqtt.connection import Incoming
from gaitcoach.mqtt.payloads import SCHEMA_VERSION
from gaitcoach.mqtt.topics import MAX_RESPONSE_TOPIC_CHARS, Topics, topic_within
from gaitcoach.safepath import clip

MAX_COMMAND_BYTES = 4096
"""Larger command payloads are refused (``too_large``): the largest valid command (a
discomfort report with a 200-character note) is well under 1 KiB."""
MAX_JSON_DEPTH = 4
"""Commands are flat objects; deeper nesting is refused (``bad_json``) before anything walks
it (a 1000-deep array exhausts Python's recursion limit)."""
MAX_REQUEST_ID_CHARS = 128
MAX_CORRELATION_BYTES = 1024
"""Longer v5 correlation data is refused (``too_large``) and not echoed: MQTT allows 64 KiB,
which every reply would carry back and the outbox hold while the broker is away (clients use
a UUID or a counter: tens of bytes)."""
MAX_NAME_CHARS = 64
"""The command name as echoed in the reply (longer names are cut)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

ERROR_CODES = (
    "bad_json",
    "bad_version",
    "unknown_command",
    "unknown_argument",
    "missing_argument",
    "bad_value",
    "out_of_range",
    "wrong_runner",
    "too_large",
    "retained",
    "bad_response_topic",
    "conflict",
    "unavailable",
    "internal_error",
)
"""Every reply error code (reply.schema.json lists the same)."""


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """Where and how to answer one command message, and what it carried."""

    name: str
    """The command name from the topic (cut to ``MAX_NAME_CHARS``), echoed in the reply."""
    reply_topic: str
    correlation_data: bytes | None = None
    request_id: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    """The decoded JSON object ({} when it could not be decoded)."""


def reply_route(topics: Topics, response_topic: str | None) -> tuple[str, CommandError | None]:
    """The topic to answer on, and an error when the requested response topic is refused.

    An MQTT v5 response topic is honoured only at ``<prefix>/<runner>/reply`` or below it:
    the service's credentials may be wider than the commanding runner's (a service account),
    so a reply elsewhere would publish into topics the runner may not write (a confused
    deputy). Refused ones are answered on the default reply topic.
    """
    if response_topic is None:
        return topics.reply, None
    if topic_within(response_topic, topics.reply):
        return response_topic, None
    return topics.reply, CommandError(
        "bad_response_topic",
        f"response topic {show(response_topic)} refused: replies go to {topics.reply} or "
        f"below it (no + or #, up to {MAX_RESPONSE_TOPIC_CHARS} characters)",
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {show(key, 40)}")
        out[key] = value
    return out


def _depth_exceeds(value: Any, limit: int) -> bool:
    # Iterative: the point is not to recurse on attacker-controlled depth.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)
    return False


def decode_command_json(payload: bytes) -> dict[str, Any]:
    """A command's JSON object, strictly; :class:`CommandError` ``bad_json`` otherwise."""
    if not payload.strip():
        return {}
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError("bad_json", f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise CommandError("bad_json", "nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN, duplicates, int of > 4300 digits
        raise CommandError("bad_json", f"not valid JSON: {clip(str(exc), 120)}") from None
    if not isinstance(value, dict):
        raise CommandError("bad_json", f"a JSON object is required, got {type(value).__name__}")
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise CommandError("bad_json", f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _request_id(args: Mapping[str, Any]) -> str | None:
    rid = args.get("id")
    if rid is not None and not (
        isinstance(rid, str)
        and len(rid) <= MAX_REQUEST_ID_CHARS
        and not _CONTROL.search(rid)
        and is_utf8(rid)
    ):
        raise CommandError(
            "bad_value",
            f"id = {show(rid)}: a string of up to {MAX_REQUEST_ID_CHARS} characters without "
            "control characters",
        )
    return rid


def _check_envelope(args: Mapping[str, Any], runner: str) -> None:
    version = args.get("v", SCHEMA_VERSION)
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise CommandError("bad_version", f"v = {show(version)}: this service speaks v1")
    sender = args.get("runner")
    if sender is not None and sender != runner:
        raise CommandError("wrong_runner", f"runner {show(sender)} sent to {runner!r}")


def read_command(topics: Topics, msg: Incoming) -> tuple[CommandRequest, Command | CommandError]:
    """The reply route and either the validated command or the error to answer with.

    Never raises for any message (the Hypothesis tests in tests/mqtt hold it to that).
    """
    raw_name = topics.command_name(msg.topic) or ""
    name = raw_name[:MAX_NAME_CHARS]
    reply_topic, route_error = reply_route(topics, msg.response_topic)
    request = CommandRequest(name, reply_topic, msg.correlation_data)
    if route_error is not None:
        return request, route_error
    if msg.correlation_data is not None and len(msg.correlation_data) > MAX_CORRELATION_BYTES:
        return CommandRequest(name, reply_topic), CommandError(
            "too_large",
            f"correlation data of {len(msg.correlation_data)} bytes; up to "
            f"{MAX_CORRELATION_BYTES} are echoed",
        )
    if msg.retain:
        # Retained: delivered again at every (re)connect. Commands run once, when sent.
        return request, CommandError(
            "retained",
            "a retained command is not executed (the broker repeats it on every connect); "
            "publish commands without the retain flag and clear this one",
        )
    if len(msg.payload) > MAX_COMMAND_BYTES:
        return request, CommandError(
            "too_large", f"{len(msg.payload)} bytes; commands are up to {MAX_COMMAND_BYTES}"
        )
    if not raw_name or "/" in raw_name:
        return request, CommandError("unknown_command", f"{show(raw_name)}: use cmd/<name>")
    try:
        args = decode_command_json(msg.payload)
    except CommandError as exc:
        return request, exc
    try:
        rid = _request_id(args)
    except CommandError as exc:
        return CommandRequest(name, reply_topic, msg.correlation_data, None, args), exc
    request = CommandRequest(name, reply_topic, msg.correlation_data, rid, args)
    try:
        _check_envelope(args, topics.runner)
        return request, parse_command(raw_name, args)
    except CommandError as exc:
        return request, exc


__all__ = [
    "ERROR_CODES",
    "MAX_COMMAND_BYTES",
    "MAX_JSON_DEPTH",
    "CommandRequest",
    "decode_command_json",
    "read_command",
    "reply_route",
]
