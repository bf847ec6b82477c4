"""Typed config sections validated with pydantic v2: every problem at once, one line each.

A section is a frozen dataclass whose fields carry their type and allowed range as
``Annotated`` metadata (the aliases below); pydantic validates a TOML table against it
(:func:`validate_section`) and derives the section's JSON Schema from the same annotations.
Problems come back as :class:`~gaitcoach.errors.Problem` (full key, value, what is allowed),
an unknown key with the closest known one ("did you mean ..."). Checks between fields live
in the section's ``problems(prefix)`` method, run once the fields themselves are valid.

Why pydantic: it reports every error of a document in one pass with its location, validates
plain (stdlib) dataclasses so the sections stay frozen dataclasses that the rest of the code
builds and ``dataclasses.replace``-s, and emits JSON Schema from the same annotations.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field, Strict, TypeAdapter, ValidationError

from gaitcoach.errors import ConfigError, Problem, redact

T = TypeVar("T")

SECTION_CONFIG = ConfigDict(extra="forbid", use_attribute_docstrings=True)
"""Every section: unknown keys are errors; attribute docstrings become schema descriptions."""


def text_pattern(regex: str, describe: str) -> Any:
    """Field metadata: a string fully matching ``regex``, described as ``describe``."""
    return Field(pattern=f"^(?:{regex})$", json_schema_extra={"x-allowed": describe})


# Scalars are strict (no "5" for 5, no true for 1); the range is the field's one range.
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]

# Quantities that appear in more than one place: one range each.
LegLengthM = Annotated[float, Strict(), Field(ge=0.5, le=1.4)]
"""Greater trochanter to floor; adults are about 0.7-1.1 m."""
CadenceSpm = Annotated[float, Strict(), Field(ge=140.0, le=220.0)]
"""A running cadence target (steps/min)."""
CadenceRaisePct = Annotated[float, Strict(), Field(ge=5.0, le=10.0)]
"""Heiderscheit et al. (2011): +5-10 % step rate reduces overstride and loading."""
StrikeAngleLimitDeg = Annotated[float, Strict(), Field(ge=8.0, le=45.0)]
"""A heel-strike limit: above the rearfoot boundary (8 deg), below an implausible 45."""
OverstrideLimitM = Annotated[float, Strict(), Field(ge=0.05, le=1.0)]


def ranged(lo: float | None, hi: float | None) -> Any:
    """Field metadata: a number in ``[lo, hi]`` (either end open when None)."""
    return Field(ge=lo, le=hi)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(cls: Any) -> TypeAdapter[Any]:
    """One validator per section type, built on first use."""
    if cls not in _ADAPTERS:
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


def _properties(cls: Any) -> dict[str, dict[str, Any]]:
    schema = _adapter(cls).json_schema()
    defs = schema.get("$defs", {})
    props: dict[str, dict[str, Any]] = schema.get("properties", {})
    return {k: _deref(v, defs) for k, v in props.items()}


def _deref(prop: dict[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str):
        return dict(defs.get(ref.rsplit("/", 1)[-1], {}))
    return prop


def section_schema(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema of a section (the same annotations that validate it)."""
    return _adapter(cls).json_schema()


def field_range(cls: type[Any], name: str) -> tuple[float, float]:
    """``(minimum, maximum)`` of a numeric field: the one range of that quantity."""
    prop = _properties(cls)[name]
    for option in prop.get("anyOf", [prop]):
        if "minimum" in option and "maximum" in option:
            return float(option["minimum"]), float(option["maximum"])
    raise KeyError(f"{cls.__name__}.{name} has no range")


def _num(x: float) -> str:
    return f"{x:g}"


def describe(prop: Mapping[str, Any]) -> str:
    """What a field allows, in words, from its JSON Schema."""
    options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
    optional = len(options) < len(prop.get("anyOf", [prop]))
    words = " or ".join(_describe_one(o) for o in options) or "a value"
    return words + (" (or leave it out)" if optional else "")


def _describe_one(p: Mapping[str, Any]) -> str:
    if "x-allowed" in p:
        return str(p["x-allowed"])
    if "enum" in p:
        return "one of " + ", ".join(str(v) for v in p["enum"])
    if "const" in p:
        return repr(p["const"])
    kind = p.get("type")
    if kind == "array":
        items = p.get("items", {})
        if "enum" in items:
            return "a list of " + ", ".join(str(v) for v in items["enum"])
        if "properties" in items or "$ref" in items:
            return (
                'a list of tables like {side = "left"}'
                if "side" in items.get("properties", {})
                else "a list of tables"
            )
        if "prefixItems" in p:
            n = len(p["prefixItems"])
            return f"[{', '.join(_describe_one(i) for i in p['prefixItems'])}]" if n else "[]"
        return "a list of " + _describe_one(items)
    if kind in ("number", "integer"):
        name = "an integer" if kind == "integer" else "a number"
        lo = p.get("minimum", p.get("exclusiveMinimum"))
        hi = p.get("maximum", p.get("exclusiveMaximum"))
        if lo is not None and hi is not None:
            left = "(" if "exclusiveMinimum" in p else "["
            right = ")" if "exclusiveMaximum" in p else "]"
            return f"{name} in {left}{_num(lo)}, {_num(hi)}{right}"
        if lo is not None:
            return f"{name} {'>' if 'exclusiveMinimum' in p else '>='} {_num(lo)}"
        if hi is not None:
            return f"{name} {'<' if 'exclusiveMaximum' in p else '<='} {_num(hi)}"
        return name
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return "a string"
    if kind == "object":
        return "a table"
    return "a value"


def did_you_mean(key: str, known: list[str]) -> str | None:
    """The known key closest to a mistyped one, if any is close."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return close[0]
    # A key named by its stem without the unit (``warmup`` for ``warmup_s``).
    stems = [k for k in known if k.startswith(key + "_") or key.startswith(k + "_")]
    return stems[0] if len(stems) == 1 else None


def unknown_key(prefix: str, key: str, value: Any, known: list[str]) -> Problem:
    """An unknown key, with the closest known one (its value shown masked when the key looks
    like a secret: a mistyped ``pasword`` is still a password)."""
    full = f"{prefix}.{key}" if prefix else key
    shown = f" = {redact(full, value)!r}" if prefix else ""
    guess = did_you_mean(key, known)
    if guess is not None:
        where = f"{prefix}.{guess}" if prefix else guess
        text = f"{full}{shown}: unknown key; did you mean {where}?"
        return Problem(full, value, f"did you mean {guess}?", text)
    allowed = "one of " + ", ".join(sorted(known))
    return Problem(full, value, allowed, f"{full}{shown}: unknown key; allowed: {allowed}")


def unknown_sections(raw: Mapping[str, Any], known: tuple[str, ...]) -> list[Problem]:
    """A problem for each top-level table of a config file that is not one of ``known``
    (its value is not shown: a whole table)."""
    return [unknown_key("", name, "...", list(known)) for name in raw if name not in known]


def _loc_key(prefix: str, loc: tuple[int | str, ...]) -> str:
    key = prefix
    for part in loc:
        key = f"{key}[{part}]" if isinstance(part, int) else (f"{key}.{part}" if key else str(part))
    return key


def _value_at(raw: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _schema_at(cls: type[Any], loc: tuple[int | str, ...]) -> dict[str, Any] | None:
    """The JSON Schema of the value at ``loc`` inside a section (None when unknown)."""
    schema = _adapter(cls).json_schema()
    defs = schema.get("$defs", {})
    node: dict[str, Any] | None = schema
    for part in loc:
        if node is None:
            return None
        node = _deref(node, defs)
        options = [_deref(o, defs) for o in node.get("anyOf", [node])]
        node = None
        for option in options:
            if isinstance(part, int) and option.get("type") == "array":
                node = option.get("items")
            elif isinstance(part, str) and part in option.get("properties", {}):
                node = option["properties"][part]
            if node is not None:
                break
    if node is None:
        return None
    node = _deref(node, defs)
    if "anyOf" in node:
        node = {**node, "anyOf": [_deref(o, defs) for o in node["anyOf"]]}
    return node


def problems_of(
    cls: type[Any], raw: Mapping[str, Any], prefix: str, exc: ValidationError
) -> list[Problem]:
    """Pydantic's errors as problems naming the full key and what the field allows."""
    out: list[Problem] = []
    seen: set[str] = set()
    errors = exc.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    for err in errors:
        loc = tuple(err["loc"])
        # A list whose items failed is also reported as too short: the items say it all.
        if any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs):
            continue
        if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            parent = _schema_at(cls, loc[:-1]) or {}
            known = sorted(parent.get("properties", {}))
            out.append(
                unknown_key(_loc_key(prefix, loc[:-1]), str(loc[-1]), err.get("input"), known)
            )
            continue
        key = _loc_key(prefix, loc)
        cause = err.get("ctx", {}).get("error")
        if err["type"] == "value_error" and isinstance(cause, ConfigError):
            out.extend(
                Problem(key, _value_at(raw, loc), p.allowed, p.text) if loc else p
                for p in cause.problems
            )
            continue
        if key in seen:  # a union reports each branch; one line per key
            continue
        seen.add(key)
        schema = _schema_at(cls, loc)
        allowed = describe(schema) if schema is not None else str(err["msg"])
        value = _value_at(raw, loc)
        if isinstance(value, float) and not math.isfinite(value):
            allowed += " (finite)"
        out.append(Problem(key, value, allowed))
    return out


def validate_section(cls: type[T], raw: Any, prefix: str) -> tuple[T | None, list[Problem]]:
    """``cls`` built from the table ``raw``, or None with every problem found."""
    if not isinstance(raw, Mapping):
        return None, [Problem(prefix, raw, f"a table ([{prefix}])")]
    try:
        obj = _adapter(cls).validate_python(dict(raw))
    except ValidationError as exc:
        return None, problems_of(cls, raw, prefix, exc)
    except ConfigError as exc:  # raised by a __post_init__ outside pydantic's wrapping
        return None, list(exc.problems)
    check: Callable[[str], list[Problem]] | None = getattr(obj, "problems", None)
    found = check(prefix) if check is not None else []
    return (obj if not found else None), found


def section_from_dict(cls: type[T], raw: Any, prefix: str) -> T:
    """``cls`` from ``raw``, or :class:`ConfigError` listing every problem."""
    obj, found = validate_section(cls, raw, prefix)
    if found or obj is None:
        raise ConfigError.of(found)
    return obj


def must(ok: bool, prefix: str, key: str, value: Any, allowed: str) -> list[Problem]:
    """A cross-field check as a list of zero or one problem."""
    return [] if ok else [Problem(f"{prefix}.{key}", value, allowed)]


def existing_files(section: Any, prefix: str, keys: tuple[str, ...]) -> list[Problem]:
    """A problem for each path field among ``keys`` that is set but names no file."""
    found: list[Problem] = []
    for key in keys:
        value = getattr(section, key)
        found += must(
            value is None or Path(value).is_file(), prefix, key, value, "an existing file"
        )
    return found


def resolve_paths(raw: Any, keys: tuple[str, ...], base: Path) -> Any:
    """The table with the path values among ``keys`` taken from ``base`` when relative (not
    a table: unchanged, for validation to report)."""
    if not isinstance(raw, Mapping):
        return raw
    out = dict(raw)
    for key in keys:
        value = out.get(key)
        if isinstance(value, str) and value:
            p = Path(value).expanduser()
            out[key] = str(p if p.is_absolute() else (base / p).resolve())
    return out


def toml_problem(source: str, exc: Exception) -> Problem:
    """A TOML syntax error with its line and column (``(at line L, column C)`` in the
    message of Python 3.11/3.12; attributes from 3.13)."""
    msg = str(exc)
    line = getattr(exc, "lineno", None)
    col = getattr(exc, "colno", None)
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    if m:
        line, col = line or int(m.group(1)), col or int(m.group(2))
        msg = msg[: m.start()]
    elif re.search(r"\s*\(at end of document\)$", msg):
        msg = re.sub(r"\s*\(at end of document\)$", "", msg) + " at the end"
    where = f"{source} line {line}, column {col}" if line else source
    msg = getattr(exc, "msg", msg)
    return Problem(source, "TOML", "valid TOML", f"{where}: not valid TOML: {msg}")


def read_toml(path: Path, what: str = "--config") -> dict[str, Any]:
    """A TOML file as a table; :class:`ConfigError` naming the file, with the line and column
    of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(what, str(path), "an existing TOML file") from None
    except IsADirectoryError:
        raise ConfigError(what, str(path), "a TOML file, not a directory") from None
    except OSError as exc:
        raise ConfigError(what, str(path), f"a readable TOML file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(what, str(path), "a UTF-8 TOML file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.of([toml_problem(str(path), exc)]) from None
