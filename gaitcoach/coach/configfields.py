"""Typed config sections from plain mappings (a TOML table), with one clear error per bad key.

Each section is a frozen dataclass whose fields carry their allowed range in the field metadata
(``bounded(lo, hi)``, ``choice(...)``, ``pattern(...)``). :func:`section_from_dict` checks
types, ranges and unknown keys and raises :class:`~gaitcoach.errors.ConfigError` naming the
full key (``prefix.key``), the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from gaitcoach.errors import ConfigError

T = TypeVar("T")


def bounded(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    """Field metadata: a number in ``[lo, hi]`` (either end open when None)."""
    return {"range": (lo, hi)}


def choice(*allowed: str) -> dict[str, Any]:
    """Field metadata: one of the given strings (for str fields) or a subset (tuple fields)."""
    return {"choices": allowed}


def pattern(regex: str, describe: str) -> dict[str, Any]:
    """Field metadata: a string fully matching ``regex``."""
    return {"pattern": (re.compile(regex), describe)}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def _describe(tp: Any, meta: Mapping[str, Any], optional: bool) -> str:
    if "choices" in meta:
        base = "one of " + ", ".join(meta["choices"])
        if typing.get_origin(tp) is tuple:
            base = "a list of " + ", ".join(meta["choices"])
    elif "pattern" in meta:
        base = meta["pattern"][1]
    elif "range" in meta:
        lo, hi = meta["range"]
        name = "an integer" if tp is int else "a number"
        if lo is not None and hi is not None:
            base = f"{name} in [{lo:g}, {hi:g}]"
        elif lo is not None:
            base = f"{name} >= {lo:g}"
        else:
            base = f"{name} <= {hi:g}"
    elif tp is bool:
        base = "true or false"
    elif tp is str:
        base = "a string"
    else:
        base = str(tp)
    return base + (" (or leave it out)" if optional else "")


def _convert(tp: Any, value: Any, meta: Mapping[str, Any], key: str, allowed: str) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, value, allowed)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, value, allowed)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, value, allowed)
        value = float(value)
        if value != value:  # NaN passes every range check
            raise ConfigError(key, value, allowed)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, value, allowed)
    elif typing.get_origin(tp) is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, value, allowed)
        value = tuple(value)
        choices = meta.get("choices")
        if choices is not None and any(v not in choices for v in value):
            raise ConfigError(key, value, allowed)
        return value
    if "range" in meta:
        lo, hi = meta["range"]
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(key, value, allowed)
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(key, value, allowed)
    if "pattern" in meta and not meta["pattern"][0].fullmatch(value):
        raise ConfigError(key, value, allowed)
    return value


def section_from_dict(cls: type[T], d: Mapping[str, Any], prefix: str) -> T:
    """Build the dataclass ``cls`` from ``d``; missing keys take the field defaults."""
    if not isinstance(d, Mapping):
        raise ConfigError(prefix, d, "a table of settings")
    assert dataclasses.is_dataclass(cls)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in d:
        if key not in fields:
            raise ConfigError(f"{prefix}.{key}", d[key], "one of " + ", ".join(sorted(fields)))
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in d:
            continue
        tp, optional = _unwrap_optional(hints[name])
        key = f"{prefix}.{name}"
        allowed = _describe(tp, f.metadata, optional)
        value = d[name]
        kwargs[name] = (
            None if value is None and optional else _convert(tp, value, f.metadata, key, allowed)
        )
    return cls(**kwargs)
