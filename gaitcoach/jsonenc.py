"""The one JSON encoder of gaitcoach: MQTT payloads, stored config and command arguments,
summaries, and every ``--json`` of the command line go through it.

Dataclasses become objects (field by field), enums their values, paths strings, numpy scalars
Python numbers, and non-finite floats ``null`` (JSON has no NaN; a NaN on the wire or in a
file would break strict readers).
"""

from __future__ import annotations

import dataclasses
import json
import math
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON types."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, Enum):
        return jsonable(v.value)
    if isinstance(v, dict):
        return {str(k.value if isinstance(k, Enum) else k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.floating | np.integer | np.bool_):
        return jsonable(v.item())
    if isinstance(v, PurePath):
        return str(v)
    return v


def dumps(v: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """JSON text of ``v``: compact without ``indent``; never NaN or Infinity."""
    separators = (",", ":") if indent is None else None
    return json.dumps(
        jsonable(v), indent=indent, separators=separators, sort_keys=sort_keys, allow_nan=False
    )
