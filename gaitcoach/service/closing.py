"""Closing a session off the event loop: the final write in a thread, the summary and the
HTML report in a worker process.

The summary and matplotlib's rendering are CPU work of seconds after a long run, and C code
that holds the GIL (Agg drawing a 20 000-point line) would stall the loop even from a thread:
cues, metrics and the link's clock mapping would stop meanwhile. A separate process keeps the
loop free; it reads the session back from the store, which the final write has committed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaitcoach.session import AdviceBook, Recorder, RecorderStats, SessionSettings, SessionStatus

log = logging.getLogger("gaitcoach.service")


@dataclass(frozen=True, slots=True)
class ClosedSession:
    """What closing a session produced (summary fields None when the summary failed)."""

    session_id: str
    stats: RecorderStats
    summary: dict[str, Any] | None = None
    summary_text: str = ""
    report_path: Path | None = None


def summarise(settings: SessionSettings, session_id: str) -> tuple[dict[str, Any], str, Path]:
    """The session's summary (with advice) as JSON and text, and its HTML report written
    beside the store. Runs in the worker process: arguments and result are picklable."""
    from gaitcoach.session import SessionStore
    from gaitcoach.session.history import session_summary
    from gaitcoach.session.report import render_html
    from gaitcoach.session.summary import summary_text

    with SessionStore(settings.data_dir) as store:
        data, summary = session_summary(
            store, session_id, AdviceBook.load(settings.advice_path), settings.target_cadence_spm
        )
    reports = Path(settings.data_dir) / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"{session_id}.html"
    path.write_text(render_html(data, summary), encoding="utf-8")
    return summary.to_json(), summary_text(summary), path


class SessionCloser:
    """Closes sessions in the background, one worker process for the service's lifetime.

    ``close`` returns at once with a task that writes, summarises and then hands the result
    to ``on_closed`` (on the loop); ``wait`` awaits every close still running (the service
    calls it before it says it is offline).
    """

    def __init__(self, settings: SessionSettings) -> None:
        self.settings = settings
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._tasks: set[asyncio.Task[ClosedSession]] = set()

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn: forking a process that runs threads (paho, the recorder's writer) is
            # unsafe; the child imports only the session code.
            ctx = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx)
        return self._pool

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
        closed = await self._write_and_summarise(rec, status)
        if on_closed is not None:
            on_closed(closed)
        return closed

    async def _write_and_summarise(self, rec: Recorder, status: SessionStatus) -> ClosedSession:
        loop = asyncio.get_running_loop()
        # The final write finishes even when the service is being cancelled.
        stats = await asyncio.shield(asyncio.to_thread(rec.close, status))
        log.info("session closed id=%s status=%s stats=%s", rec.session_id, status, stats)
        try:
            summary, text, path = await loop.run_in_executor(
                self._executor(), summarise, self.settings, rec.session_id
            )
        except Exception:  # a summary must never cost the recording
            log.exception("summary of session %s failed", rec.session_id)
            return ClosedSession(rec.session_id, stats)
        return ClosedSession(rec.session_id, stats, summary, text, path)

    async def wait(self) -> None:
        """Until every close started so far has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def shutdown(self) -> None:
        await self.wait()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, True)
