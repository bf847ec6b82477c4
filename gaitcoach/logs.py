"""Structured logs: one ``key=value`` line per event with the runner, session and foot.

The service sets the runner and the session in a context (:func:`log_context`); a call may
add the foot (``extra={"foot": ...}``). The log file gets every line at ``log_level`` with
tracebacks; the console gets one line per event and never a traceback (it points to the file).
With the live view on, the console shows errors only (lines would scroll the view away).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.handlers
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gaitcoach.paths import user_state_dir

_runner: contextvars.ContextVar[str | None] = contextvars.ContextVar("runner", default=None)
_session: contextvars.ContextVar[str | None] = contextvars.ContextVar("session", default=None)
CONTEXT_KEYS = ("runner", "session", "foot")


@contextlib.contextmanager
def log_context(runner: str | None = None, session: str | None = None) -> Iterator[None]:
    """Runner and session on every line logged inside (this task and the ones it starts)."""
    tokens = []
    if runner is not None:
        tokens.append((_runner, _runner.set(runner)))
    if session is not None:
        tokens.append((_session, _session.set(session)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def set_session(session: str | None) -> None:
    """The session of the lines that follow (a service switches sessions mid-run)."""
    _session.set(session)


def set_runner(runner: str | None) -> None:
    _runner.set(runner)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "runner", None) is None:
            record.runner = _runner.get()
        if getattr(record, "session", None) is None:
            record.session = _session.get()
        foot = getattr(record, "foot", None)
        record.foot = getattr(foot, "value", foot)
        return True


def _quote(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class KeyValueFormatter(logging.Formatter):
    """``2026-12-03T09:00:00.123 level=info logger=gaitcoach.service runner=alice
    session=... foot=left msg="..."``; with ``tracebacks`` the traceback follows, indented."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
        ]
        parts += [
            f"{k}={_quote(getattr(record, k))}"
            for k in CONTEXT_KEYS
            if getattr(record, k, None) is not None
        ]
        parts.append(f"msg={_quote(record.getMessage())}")
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            parts.append(f"error={_quote(f'{type(exc).__name__}: {exc}')}")
        line = " ".join(parts)
        if self.tracebacks and record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "\n" + "\n".join("    " + t for t in trace.splitlines())
        return line


def default_log_file() -> Path:
    return user_state_dir() / "gaitcoach.log"


def setup_logging(level: str, log_file: Path | None, live_view: bool) -> Path | None:
    """Console and file handlers on the root logger; returns the log file in use (None when
    it cannot be opened: the console then is the only log)."""
    numeric = getattr(logging, level.upper())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(numeric)
    context = ContextFilter()
    console = logging.StreamHandler(sys.stderr)
    # With the live view on, lines printed under it scroll it away: only errors go there
    # (gaps, pod states and undelivered cues are in the view itself, and in the file).
    console.setLevel(max(numeric, logging.ERROR) if live_view else numeric)
    console.setFormatter(KeyValueFormatter(tracebacks=False))
    console.addFilter(context)
    root.addHandler(console)
    path = log_file or default_log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = logging.handlers.RotatingFileHandler(
            path, maxBytes=10_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger("gaitcoach").warning("no log file %s: %s", path, exc)
        return None
    file.setLevel(numeric)
    file.setFormatter(KeyValueFormatter(tracebacks=True))
    file.addFilter(context)
    root.addHandler(file)
    return path


def log_crash(exc: BaseException) -> Path | None:
    """Append an unexpected error's traceback to the log file (the console gets one line);
    the file's path, or None when it cannot be written. The line is formatted like every
    other (context, ``error=``, indented traceback), but written here: logging may not be set
    up yet, and its console handler would repeat the line the caller prints."""
    trace = (type(exc), exc, exc.__traceback__)
    record = logging.LogRecord("gaitcoach.cli", logging.ERROR, "", 0, "internal error", None, trace)
    ContextFilter().filter(record)
    line = KeyValueFormatter(tracebacks=True).format(record)
    path = default_log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError:
        return None
    return path
