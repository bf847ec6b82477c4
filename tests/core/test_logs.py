"""Structured logs: key=value lines with runner, session and foot; the traceback goes to the
log file, the console gets one line; with the live view only warnings reach the console."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from gaitcoach.logs import log_context, log_crash, set_session, setup_logging
from gaitcoach.types import Foot


def _close_handlers() -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()


def test_context_and_tracebacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    console = io.StringIO()
    monkeypatch.setattr("sys.stderr", console)
    log_file = tmp_path / "logs" / "gaitcoach.log"
    assert setup_logging("info", log_file, live_view=False) == log_file
    log = logging.getLogger("gaitcoach.test")
    try:
        with log_context(runner="alice"):
            set_session("s-1")
            log.info("gap of %.1f s", 2.5, extra={"foot": Foot.LEFT})
            try:
                raise RuntimeError("pod crashed")
            except RuntimeError:
                log.exception("service task failed")
        log.info("after")
    finally:
        set_session(None)
        _close_handlers()
    out = console.getvalue().splitlines()
    assert len(out) == 3, out  # one line each, no traceback on the console
    assert "level=info logger=gaitcoach.test runner=alice session=s-1 foot=left" in out[0]
    assert 'msg="gap of 2.5 s"' in out[0]
    assert 'error="RuntimeError: pod crashed"' in out[1]
    assert "runner=" not in out[2]
    text = log_file.read_text()
    assert "Traceback (most recent call last)" in text
    assert '    raise RuntimeError("pod crashed")' in text


def test_live_view_console_shows_errors_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = io.StringIO()
    monkeypatch.setattr("sys.stderr", console)
    setup_logging("debug", tmp_path / "g.log", live_view=True)
    log = logging.getLogger("gaitcoach.test")
    try:
        log.debug("detail")
        log.warning("gap of 2.0 s")
        log.error("pod task failed")
    finally:
        _close_handlers()
    assert console.getvalue().count("\n") == 1 and "pod task failed" in console.getvalue()
    # The file honours log_level (debug).
    assert "detail" in (tmp_path / "g.log").read_text()


def test_crash_line_is_formatted_like_every_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    try:
        raise RuntimeError('bad "value"')
    except RuntimeError as exc:
        with log_context(runner="alice"):
            where = log_crash(exc)
    log_file = tmp_path / "gaitcoach" / "gaitcoach.log"
    assert where == log_file
    first, *trace = log_file.read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}"
    assert re.match(stamp + " level=error logger=gaitcoach.cli runner=alice ", first)
    assert first.endswith(' msg="internal error" error="RuntimeError: bad \\"value\\""')
    # The traceback follows, every line indented, down to the raising line.
    assert trace[0] == "    Traceback (most recent call last):"
    assert all(t.startswith("    ") for t in trace)
    assert "raise RuntimeError('bad \"value\"')" in "\n".join(trace)
