"""Closing a session off the event loop: the final write in a thread, the summary and the
HTML report in a child process (``python -m gaitcoach.service.closing``).

The summary and matplotlib's rendering are CPU work of seconds after a long run, and C code
that holds the GIL (Agg drawing a 20 000-point line) would stall the loop even from a thread:
cues, metrics and the link's clock mapping would stop meanwhile. A child process keeps the
loop free; it reads the session back from the store, which the final write has committed.
A plain child process rather than multiprocessing's spawn, which runs the parent's main
script again in the child (a script without a ``__main__`` guard would start a second
service).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaitcoach.jsonenc import dumps
from gaitcoach.session import AdviceBook, Recorder, RecorderStats, SessionSettings, SessionStatus

SUMMARY_TIMEOUT_S = 600.0
"""A summary child that takes longer than this (hung) is killed; the session stays stored."""

log = logging.getLogger("gaitcoach.service")


@dataclass(frozen=True, slots=True)
class ClosedSession:
    """What closing a session produced (summary fields None when the summary failed)."""

    session_id: str
    stats: RecorderStats
    summary: dict[str, Any] | None = None
    summary_text: str = ""
    report_path: Path | None = None


def summarise(
    data_dir: Path,
    session_id: str,
    advice_path: Path | None,
) -> tuple[dict[str, Any], str, Path]:
    """The session's summary (with advice) as JSON and text, and its HTML report written
    beside the store (what the child process runs)."""
    from gaitcoach.safepath import check_session_id, write_text_inside
    from gaitcoach.session import SessionStore
    from gaitcoach.session.history import session_summary
    from gaitcoach.session.report import render_html
    from gaitcoach.session.summary import summary_text

    # The id may have come from a command: the report goes under <data_dir>/reports or nowhere.
    check_session_id(session_id)
    with SessionStore(data_dir) as store:
        data, summary = session_summary(store, session_id, AdviceBook.load(advice_path))
    path = write_text_inside(
        data_dir, ("reports", f"{session_id}.html"), render_html(data, summary)
    )
    return summary.to_json(), summary_text(summary), path


class SummaryError(Exception):
    """The summary child failed (its last line of error output says why)."""


async def summarise_in_child(
    settings: SessionSettings, session_id: str
) -> tuple[dict[str, Any], str, Path]:
    """:func:`summarise` in a child process; :class:`SummaryError` when it fails."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gaitcoach.service.closing",
        str(settings.data_dir),
        session_id,
        str(settings.advice_path or ""),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), SUMMARY_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise SummaryError(lines[-1] if lines else f"exit status {proc.returncode}")
    result = json.loads(out)
    return result["summary"], result["text"], Path(result["report"])


class SessionCloser:
    """Closes sessions in the background.

    ``close`` returns at once with a task that writes, summarises and then hands the result
    to ``on_closed`` (on the loop); ``wait`` awaits every close still running (the service
    calls it before it says it is offline).
    """

    def __init__(self, settings: SessionSettings) -> None:
        self.settings = settings
        self._tasks: set[asyncio.Task[ClosedSession]] = set()
        # One summary child at a time: fifteen quick start commands queue their summaries
        # instead of starting fifteen processes on a two-core machine.
        self._one_child = asyncio.Semaphore(1)

    def close(
        self,
        rec: Recorder,
        status: SessionStatus,
        on_closed: Callable[[ClosedSession], None] | None = None,
    ) -> asyncio.Task[ClosedSession]:
        task = asyncio.get_running_loop().create_task(self._close(rec, status, on_closed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _close(
        self,
        rec: Recorder,
        status: SessionStatus,
        on_closed: Callable[[ClosedSession], None] | None,
    ) -> ClosedSession:
        # The final write finishes even when the service is being cancelled.
        stats = await asyncio.shield(asyncio.to_thread(rec.close, status))
        log.info("session closed id=%s status=%s stats=%s", rec.session_id, status, stats)
        try:
            async with self._one_child:
                summary, text, path = await summarise_in_child(self.settings, rec.session_id)
        except Exception as exc:  # a summary must never cost the recording
            log.error("summary of session %s failed: %s", rec.session_id, exc)
            closed = ClosedSession(rec.session_id, stats)
        else:
            closed = ClosedSession(rec.session_id, stats, summary, text, path)
        if on_closed is not None:
            on_closed(closed)
        return closed

    async def wait(self) -> None:
        """Until every close started so far has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gaitcoach.service.closing")
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("session_id")
    ap.add_argument("advice_path", type=lambda t: Path(t) if t else None)
    a = ap.parse_args(argv)
    try:
        summary, text, path = summarise(a.data_dir, a.session_id, a.advice_path or None)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(dumps({"summary": summary, "text": text, "report": path}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
