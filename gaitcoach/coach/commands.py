"""Commands a runner (or an app) sends to the service, as typed messages, with validation.

:func:`parse_command` turns a command name and its JSON arguments into one of the dataclasses
below or raises :class:`CommandError` with a stable ``code`` and a one-line message; nothing is
applied before a command has been validated completely.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gaitcoach.coach.config import CoachSettings, RunnerProfile
from gaitcoach.configmodel import field_range
from gaitcoach.safepath import clip, is_session_id


class CommandError(ValueError):
    """A rejected command: ``code`` is stable (for programs), the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True, slots=True)
class StartSession:
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class StopSession:
    pass


@dataclass(frozen=True, slots=True)
class SetTargets:
    """Change coaching targets mid-run; fields left as None keep their value."""

    cadence_target_spm: float | None = None
    cadence_raise_pct: float | None = None
    strike_angle_limit_deg: float | None = None
    overstride_limit_m: float | None = None


@dataclass(frozen=True, slots=True)
class Mute:
    """No coaching cues for ``duration_s`` seconds (0 unmutes); discomfort answers still come."""

    duration_s: float


@dataclass(frozen=True, slots=True)
class ReportDiscomfort:
    body_part: str
    score: int
    note: str = ""


Command = StartSession | StopSession | SetTargets | Mute | ReportDiscomfort

BODY_PARTS = (
    "foot",
    "ankle",
    "achilles",
    "shin",
    "calf",
    "knee",
    "thigh",
    "hamstring",
    "hip",
    "back",
    "side",
    "chest",
    "other",
)
"""Accepted body parts (a closed list so that summaries can aggregate them)."""

# Command name -> {argument: (kind, lo, hi)}; command.schema.json says the same (tested both
# ways). kind is "float", "int", "str", "session_id" or
# "body_part".
ARGUMENTS: dict[str, dict[str, tuple[str, float, float]]] = {
    "start": {"session_id": ("session_id", 1, 64)},
    "stop": {},
    # The config's ranges of the same quantities (one range each).
    "set_targets": {
        "cadence_target_spm": ("float", *field_range(RunnerProfile, "cadence_target_spm")),
        "cadence_raise_pct": ("float", *field_range(RunnerProfile, "cadence_raise_pct")),
        "strike_angle_limit_deg": (
            "float",
            *field_range(CoachSettings, "strike_angle_enter_deg"),
        ),
        "overstride_limit_m": ("float", *field_range(CoachSettings, "overstride_enter_m")),
    },
    "mute": {"duration_s": ("float", 0.0, 7200.0)},
    "discomfort": {
        "body_part": ("body_part", 0, 0),
        "score": ("int", 0, 10),
        "note": ("str", 0, 200),
    },
}
REQUIRED_ARGUMENTS = {"mute": ("duration_s",), "discomfort": ("body_part", "score")}
# Keys every command may carry besides its arguments (envelope, handled by the transport).
ENVELOPE_KEYS = frozenset({"v", "id", "runner"})
COMMAND_NAMES = tuple(ARGUMENTS)
_CLASSES: dict[str, type[Command]] = {
    "start": StartSession,
    "stop": StopSession,
    "set_targets": SetTargets,
    "mute": Mute,
    "discomfort": ReportDiscomfort,
}
"""Command name -> class (the names of ``ARGUMENTS``)."""
_NAMES = {cls: name for name, cls in _CLASSES.items()}


def argument_range(command: str, argument: str) -> tuple[float, float]:
    """The allowed ``(low, high)`` of a numeric command argument."""
    _, lo, hi = ARGUMENTS[command][argument]
    return lo, hi


def show(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: error messages quote untrusted input."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for a decimal string
        return f"<integer of {value.bit_length()} bits>"
    return clip(text, limit)


def is_utf8(value: str) -> bool:
    # JSON may carry lone surrogates ("\ud800"); they cannot be stored or sent on as UTF-8.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _value(name: str, key: str, value: Any, kind: str, lo: float, hi: float) -> Any:
    where = f"{name}.{key}"
    if kind == "body_part":
        if not isinstance(value, str) or value.lower() not in BODY_PARTS:
            raise CommandError(
                "bad_value", f"{where} = {show(value)}: one of {', '.join(BODY_PARTS)}"
            )
        return value.lower()
    if kind == "session_id":
        if not is_session_id(value):
            raise CommandError(
                "bad_value",
                f"{where} = {show(value)}: 1-64 of A-Z a-z 0-9 _ -, starting with a letter or "
                "digit",
            )
        return value
    if kind == "str":
        if not isinstance(value, str) or not lo <= len(value) <= hi or not is_utf8(value):
            raise CommandError(
                "bad_value", f"{where} = {show(value)}: a UTF-8 string of {lo:g}-{hi:g} chars"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError("bad_value", f"{where} = {show(value)}: a number")
    # Python ints are unbounded: compare them as they are (float() of 10**400 overflows).
    finite = isinstance(value, int) or math.isfinite(value)
    if not finite or not lo <= value <= hi:
        raise CommandError("out_of_range", f"{where} = {show(value)}: allowed {lo:g} to {hi:g}")
    if kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
        raise CommandError("bad_value", f"{where} = {show(value)}: a whole number")
    return int(value) if kind == "int" else float(value)


def parse_command(name: str, args: Mapping[str, Any]) -> Command:
    """Validate a command completely; raise :class:`CommandError` on the first problem."""
    spec = ARGUMENTS.get(name)
    if spec is None:
        raise CommandError(
            "unknown_command", f"{show(name)}: known commands are {', '.join(ARGUMENTS)}"
        )
    unknown = sorted(set(args) - set(spec) - ENVELOPE_KEYS)
    if unknown:
        listed = ", ".join(show(k, 40) for k in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise CommandError(
            "unknown_argument",
            f"{name} does not take {listed}{more} (takes {', '.join(spec) or 'nothing'})",
        )
    missing = [k for k in REQUIRED_ARGUMENTS.get(name, ()) if k not in args]
    if missing:
        raise CommandError("missing_argument", f"{name} needs {', '.join(missing)}")
    values = {k: _value(name, k, args[k], *spec[k]) for k in spec if k in args}
    if name == "set_targets" and not values:
        raise CommandError("missing_argument", f"set_targets needs one of {', '.join(spec)}")
    return _CLASSES[name](**values)


def command_name(command: Command) -> str:
    return _NAMES[type(command)]
