"""Paths built from data (session ids, cue ids) that provably stay inside their directory.

Session ids arrive over MQTT (``cmd/start``) and are stored; a report, a spoken cue or an
export is then written to ``<dir>/<id>.<ext>``. Every such path goes through :func:`inside`:
each data-derived part must be a plain file name (no separator, not ``.``/``..``, no NUL), and
the joined path, with every symlink resolved, must still lie under the resolved directory.
:func:`write_text_inside` / :func:`write_bytes_inside` then write through a temporary file
and ``os.replace``: the final name is never opened (so a symlink planted there is replaced,
not followed) and a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

SESSION_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
"""Session ids: 1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit (so an id never
reads as a command-line option). No '.', '/', '\\' or anything a file system interprets."""

_SESSION_ID_RE = re.compile(SESSION_ID)


class UnsafePathError(ValueError):
    """A name or path that would leave its directory (or is not a plain name)."""


def is_session_id(value: object) -> bool:
    return isinstance(value, str) and _SESSION_ID_RE.fullmatch(value) is not None


def check_session_id(value: object) -> str:
    """``value`` when it is a valid session id, else :class:`UnsafePathError`."""
    if not is_session_id(value):
        raise UnsafePathError(
            f"session id {clip(repr(value), 80)}: 1-64 of A-Z a-z 0-9 _ -, "
            "starting with a letter or digit"
        )
    assert isinstance(value, str)
    return value


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (with the number of characters cut), for logs and
    error messages that quote untrusted values."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...(+{len(text) - limit} chars)"


def _check_part(part: str) -> None:
    bad = (
        not part
        or part in (".", "..")
        or "/" in part
        or "\x00" in part
        or (os.altsep is not None and os.altsep in part)
        or "\\" in part
    )
    if bad:
        raise UnsafePathError(f"{clip(repr(part), 80)} is not a plain file name")


def inside(root: Path | str, *parts: str) -> Path:
    """``root/part/...`` after proving it stays inside ``root``.

    Each part must be a plain name; the result is resolved (symlinks followed, as the OS will
    when writing) and must lie strictly under ``root`` resolved. Raises
    :class:`UnsafePathError` otherwise. ``root`` itself may be a symlink (an operator's
    choice); what is under it may not lead out of it.
    """
    if not parts:
        raise UnsafePathError("no file name given")
    for part in parts:
        _check_part(part)
    base = Path(root).resolve()
    path = base.joinpath(*parts)
    resolved = path.resolve()
    if resolved == base or not resolved.is_relative_to(base):
        raise UnsafePathError(f"{clip(str(path), 200)} resolves to {resolved}, outside {base}")
    return path


def _write_inside(root: Path | str, parts: tuple[str, ...], data: bytes) -> Path:
    path = inside(root, *parts)
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    inside(root, *parts)  # the folders just made (or found) must not lead out either
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # Replaces a symlink at the final name instead of writing through it.
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_text_inside(root: Path | str, parts: tuple[str, ...], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``inside(root, *parts)`` atomically; returns the path."""
    return _write_inside(root, parts, text.encode("utf-8"))


def write_bytes_inside(root: Path | str, parts: tuple[str, ...], data: bytes) -> Path:
    """Write ``data`` to ``inside(root, *parts)`` atomically; returns the path."""
    return _write_inside(root, parts, data)


__all__ = [
    "SESSION_ID",
    "UnsafePathError",
    "check_session_id",
    "clip",
    "inside",
    "is_session_id",
    "write_bytes_inside",
    "write_text_inside",
]
