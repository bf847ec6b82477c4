"""Reading a type hint: the types it allows besides None, and whether it allows None."""

from __future__ import annotations

from types import UnionType
from typing import Any, Union, get_args, get_origin


def without_none(hint: Any) -> tuple[tuple[Any, ...], bool]:
    """The types ``hint`` allows besides None, and whether it allows None: ``float | None``
    gives ``((float,), True)``, ``int`` gives ``((int,), False)``. Only a union is taken
    apart: ``dict[str, float]`` is one type."""
    args = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    kinds = tuple(a for a in args if a is not type(None))
    return kinds, len(kinds) < len(args)
