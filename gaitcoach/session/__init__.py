"""Sessions: recording (crash-safe store), post-run summaries, advice, reports and history.

Public API (details in docs/sessions.md and docs/summary.md):

* :class:`Recorder` (tap on the live stream), :class:`ImuScale`;
* :class:`SessionStore` (read side), :class:`SessionData`, :class:`SessionInfo`,
  :class:`SessionStatus`, errors :class:`SessionError`, :class:`StorageError`,
  :class:`FormatVersionError`;
* :func:`summarize`, :func:`advise`, :class:`AdviceBook`, :class:`SessionSummary`,
  :func:`session_summary` (summary with advice and history context), :func:`end_of_run_summary`;
* :func:`history`, :func:`replay`, :class:`SessionSettings`;
* ``gaitcoach.session.report.render_html`` (matplotlib) and
  ``gaitcoach.session.export.export_strides`` (pyarrow) are imported from their modules, so
  the live service does not load plotting or Parquet to record.
"""

from __future__ import annotations

from gaitcoach.session.advice import AdviceBook, AdviceContext, advise
from gaitcoach.session.history import History, history, session_summary
from gaitcoach.session.recorder import ImuScale, Recorder, RecorderStats
from gaitcoach.session.replay import ReplayResult, replay
from gaitcoach.session.settings import SessionSettings
from gaitcoach.session.store import (
    FormatVersionError,
    SessionData,
    SessionError,
    SessionInfo,
    SessionStatus,
    SessionStore,
    StorageError,
)
from gaitcoach.session.summary import SessionSummary, summarize


def end_of_run_summary(settings: SessionSettings, session_id: str) -> SessionSummary:
    """The summary to publish (retained, MQTT ``session`` topic) once a recorder has closed."""
    book = AdviceBook.load(settings.advice_path)
    with SessionStore(settings.data_dir) as store:
        return session_summary(store, session_id, book)[1]


__all__ = [
    "AdviceBook",
    "AdviceContext",
    "FormatVersionError",
    "History",
    "ImuScale",
    "Recorder",
    "RecorderStats",
    "ReplayResult",
    "SessionData",
    "SessionError",
    "SessionInfo",
    "SessionSettings",
    "SessionStatus",
    "SessionStore",
    "SessionSummary",
    "StorageError",
    "advise",
    "end_of_run_summary",
    "history",
    "replay",
    "session_summary",
    "summarize",
]
