"""Team views from PostgreSQL: each runner's latest runs and trends, and the squad compared
(cadence, contact time, strike pattern, overstride, L/R balance).

Nothing is computed here that the single-runner tools do not compute: a stored session is
turned back into :class:`~gaitcoach.session.store.SessionData` (its strides and cues) and goes
through :func:`~gaitcoach.session.summary.summarize` and the history functions
(:mod:`gaitcoach.session.history`), so a runner's figures are the same on the edge and at the
centre. The edge's own summary message is kept in the database for reference but not trusted
for the views (it is whatever the edge sent).
"""

from __future__ import annotations

import html
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from gaitcoach.hub.db import stride_rows_from_db
from gaitcoach.session.history import History, RunRow, history_of, run_row
from gaitcoach.session.history_report import plot_trends, trend_note_html
from gaitcoach.session.report import CSS, DISPLAY, _fmt, _png
from gaitcoach.session.store import (
    SessionData,
    SessionInfo,
    SessionStatus,
    stride_from_row,
)
from gaitcoach.session.summary import SessionSummary, distance_track, summarize
from gaitcoach.types import Cue, CueKind

SQUAD_METRICS = ("cadence_spm", "contact_time_s", "foot_strike_angle_deg", "overstride_m")
TEAM_CSS = ".now{color:#2ca02c}#squad{font-size:.8em}"
log = logging.getLogger(__name__)

LIVE_WITHIN_S = 60.0
"""A runner whose latest metrics are this recent counts as running now."""
MAX_RUN_SPAN_S = 31 * 86400.0
MAX_RUN_DISTANCE_M = 1e7
"""A run whose strides span more than a month, or add up to more than 10,000 km, is not
summarised: the summary walks a run minute by minute and kilometre by kilometre, and the
ingest checks one stride at a time (any finite time or length passes), so one runner's
implausible run would stall or exhaust every runner's view."""
RUN_YEARS = (1970, 2200)
"""A run started outside these years is not shown either: the trend plots' date axis (with
its margins) fails for every runner's page on a run in year 1 or 9999, valid times both."""


@dataclass(frozen=True, slots=True)
class RunnerView:
    runner: str
    history: History
    latest: SessionSummary | None
    """Summary of the latest run (None without runs)."""
    live: dict[str, Any] | None
    """Latest live metrics when recent."""

    @property
    def strike_share_pct(self) -> dict[str, float] | None:
        return None if self.latest is None else self.latest.strike_share_pct["all"]

    def latest_metric(self, name: str) -> float | None:
        if self.latest is None:
            return None
        stat = self.latest.metrics[name].all
        return None if stat is None else stat.median

    @property
    def balance_contact_left_pct(self) -> float | None:
        return None if self.latest is None else self.latest.metrics["contact_time_s"].left_share_pct


@dataclass(frozen=True, slots=True)
class TeamView:
    generated_utc: datetime
    runners: list[RunnerView]
    skipped: dict[str, str] = field(default_factory=dict)
    """Runs left out (``runner/session``: why), see :func:`implausible_run`."""

    def squad_median(self, name: str) -> float | None:
        values = [v for r in self.runners if (v := r.latest_metric(name)) is not None]
        return statistics.median(values) if values else None


def _status(value: str) -> SessionStatus:
    try:
        return SessionStatus(value)
    except ValueError:
        return SessionStatus.RECORDING  # 'live': only live messages so far


def load_sessions(
    conn: Any, runner: str | None = None, runs_per_runner: int = 10
) -> dict[str, list[SessionData]]:
    """The latest ``runs_per_runner`` sessions of each runner (oldest first) with their
    strides and cues."""
    where, args = ("WHERE runner = %s", (runner,)) if runner else ("", ())
    rows = conn.execute(
        "SELECT runner, session_id, status, COALESCE(started_utc, updated_at), ended_utc, "
        "leg_length_m, first_t_s, last_t_s FROM ("
        "  SELECT *, row_number() OVER (PARTITION BY runner ORDER BY "
        "  COALESCE(started_utc, updated_at) DESC, session_id DESC) AS k FROM sessions "
        f"  {where}) s WHERE k <= %s ORDER BY runner, 4, session_id",
        (*args, runs_per_runner),
    ).fetchall()
    out: dict[str, list[SessionData]] = {}
    for r, sid, status, started, ended, leg, first, last in rows:
        strides = [stride_from_row(x) for x in stride_rows_from_db(conn, r, sid)]
        cues = [
            Cue(
                id=c[0],
                kind=CueKind(c[1]),
                text=c[2],
                priority=c[3],
                created_s=c[4],
                expires_s=c[5],
                trigger=dict(c[6]),
                level=c[7],
                metronome_spm=c[8],
            )
            for c in conn.execute(
                "SELECT cue_id, kind, text, priority, created_s, expires_s, trigger, level, "
                "metronome_spm FROM cues WHERE runner = %s AND session_id = %s AND created_s "
                "IS NOT NULL AND expires_s IS NOT NULL ORDER BY created_s",
                (r, sid),
            ).fetchall()
        ]
        info = SessionInfo(
            id=sid,
            runner=r,
            started_utc=started.astimezone(UTC).isoformat(),
            status=_status(status),
            ended_utc=None if ended is None else ended.astimezone(UTC).isoformat(),
            first_t_s=first,
            last_t_s=last,
            n_strides=len(strides),
            leg_length_m=leg,
        )
        out.setdefault(r, []).append(SessionData(info, {}, strides, cues, [], [], [], []))
    return out


def implausible_run(data: SessionData) -> str | None:
    """Why a stored run cannot be summarised or plotted (:data:`RUN_YEARS`,
    :data:`MAX_RUN_SPAN_S`, :data:`MAX_RUN_DISTANCE_M`), None when it can."""
    info = data.info  # its first and last times widen the summary's span too
    year = datetime.fromisoformat(info.started_utc).year
    if not RUN_YEARS[0] <= year <= RUN_YEARS[1]:
        return f"started in year {year} (not {RUN_YEARS[0]}-{RUN_YEARS[1]})"
    first = min(s.ic_s for s in data.strides)
    last = max(s.end_ic_s for s in data.strides)
    if info.first_t_s is not None:
        first = min(first, info.first_t_s)
    if info.last_t_s is not None:
        last = max(last, info.last_t_s)
    span = last - first
    if not span <= MAX_RUN_SPAN_S:
        return f"strides span {span:.3g} s (more than {MAX_RUN_SPAN_S:.0f})"
    _, dist = distance_track(data.strides)
    if dist.size and not abs(float(dist[-1])) <= MAX_RUN_DISTANCE_M:
        return f"strides add up to {float(dist[-1]):.3g} m (more than {MAX_RUN_DISTANCE_M:.0f})"
    return None


def team_view(conn: Any, runner: str | None = None, runs_per_runner: int = 10) -> TeamView:
    sessions = load_sessions(conn, runner, runs_per_runner)
    live_rows = conn.execute(
        "SELECT runner, live_t_unix_s, live FROM runners WHERE live_t_unix_s > %s",
        (time.time() - LIVE_WITHIN_S,),
    ).fetchall()
    live = {r: dict(m) for r, _, m in live_rows}
    views = []
    skipped: dict[str, str] = {}
    for name in sorted(set(sessions) | set(live)):
        runs: list[RunRow] = []
        latest: SessionSummary | None = None
        for data in sessions.get(name, []):
            if not data.strides:
                continue
            why = implausible_run(data)
            if why is not None:
                skipped[f"{name}/{data.info.id}"] = why
                log.warning("team: run %s of %s left out: %s", data.info.id, name, why)
                continue
            summary = summarize(data)
            runs.append(run_row(data, summary))
            latest = summary
        h = history_of(name, runs)
        views.append(RunnerView(name, h, latest, live.get(name)))
    return TeamView(datetime.now(UTC), views, skipped)


# -- text -------------------------------------------------------------------------------------


def squad_rows(view: TeamView) -> list[dict[str, Any]]:
    """One row per runner: the latest run's medians (display units) and the trends."""
    out = []
    for r in view.runners:
        share = r.strike_share_pct or {}
        slope = {t.metric: t.slope_per_week for t in r.history.trends}
        last = r.history.runs[-1] if r.history.runs else None
        out.append(
            {
                "runner": r.runner,
                "runs": len(r.history.runs),
                "latest": None if last is None else last.started.date().isoformat(),
                "session_id": None if last is None else last.session_id,
                "km": None if last is None else last.distance_m / 1000,
                "cadence_spm": r.latest_metric("cadence_spm"),
                "contact_ms": _scaled(r.latest_metric("contact_time_s"), 1000),
                "strike_angle_deg": r.latest_metric("foot_strike_angle_deg"),
                "rearfoot_pct": share.get("rearfoot"),
                "midfoot_pct": share.get("midfoot"),
                "forefoot_pct": share.get("forefoot"),
                "overstride_cm": _scaled(r.latest_metric("overstride_m"), 100),
                "balance_contact_left_pct": r.balance_contact_left_pct,
                "cadence_trend_spm_per_week": slope.get("cadence_spm"),
                "contact_trend_ms_per_week": _scaled(slope.get("contact_time_s"), 1000),
                "running_now": r.live is not None and r.live.get("activity") == "running",
            }
        )
    return out


def _scaled(v: float | None, k: float) -> float | None:
    return None if v is None else v * k


def squad_text(view: TeamView) -> str:
    head = (
        f"{'runner':<16}{'runs':>5} {'latest':<11}{'km':>6}{'cad':>6}{'contact':>8}"
        f"{'RF/MF/FF %':>12}{'overstr':>8}{'L/R':>6}{'cad/wk':>8}"
    )
    lines = [head]
    for row in squad_rows(view):
        strike = "/".join(_fmt(row[k], 0) for k in ("rearfoot_pct", "midfoot_pct", "forefoot_pct"))
        lines.append(
            f"{row['runner']:<16}{row['runs']:>5} {row['latest'] or '-':<11}"
            f"{_fmt(row['km'], 2):>6}{_fmt(row['cadence_spm'], 0):>6}"
            f"{_fmt(row['contact_ms'], 0):>8}"
            f"{strike:>12}{_fmt(row['overstride_cm'], 1):>8}"
            f"{_fmt(row['balance_contact_left_pct'], 1):>6}"
            f"{_fmt(row['cadence_trend_spm_per_week'], 1):>8}"
            + ("  running now" if row["running_now"] else "")
        )
    med = [view.squad_median(m) for m in SQUAD_METRICS]
    lines.append(
        f"{'squad median':<16}{'':>5} {'':<11}{'':>6}{_fmt(med[0], 0):>6}{_fmt(med[1], 0, 1000):>8}"
        f"{'':>12}{_fmt(med[3], 1, 100):>8}"
    )
    lines.extend(f"left out: {run}: {why}" for run, why in sorted(view.skipped.items()))
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------------


def plot_squad(view: TeamView) -> Figure:
    """The squad side by side: each runner's latest median per metric, squad median dashed."""
    names = [r.runner for r in view.runners]
    fig = Figure(figsize=(8, 1.8 * (len(SQUAD_METRICS) + 1)))
    axes = fig.subplots(len(SQUAD_METRICS) + 1, 1, sharex=True)
    x = np.arange(len(names))
    for ax, metric in zip(axes, (*SQUAD_METRICS, "balance"), strict=True):
        if metric == "balance":
            vals = [r.balance_contact_left_pct for r in view.runners]
            label, unit, scale = "L/R contact", "% left", 1.0
            ref: float | None = 50.0
        else:
            label, unit, scale, _ = DISPLAY[metric]
            vals = [r.latest_metric(metric) for r in view.runners]
            ref = view.squad_median(metric)
        y = [np.nan if v is None else v * scale for v in vals]
        ax.bar(x, y, color="#1f77b4")
        if ref is not None:
            ax.axhline(ref * scale, color="#ff7f0e", ls="--", lw=1)
        ax.set_ylabel(f"{label}\n({unit})", fontsize=8)
        finite = [v for v in y if np.isfinite(v)]
        if finite:
            lo, hi = min(finite), max(finite)
            pad = max((hi - lo) * 0.3, abs(hi) * 0.05, 1e-3)
            ax.set_ylim(lo - pad, hi + pad)
    axes[-1].set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_strike(view: TeamView) -> Figure:
    fig = Figure(figsize=(8, 2.5))
    ax = fig.add_subplot()
    names = [r.runner for r in view.runners]
    bottom = np.zeros(len(names))
    for cls, colour in (("rearfoot", "#d62728"), ("midfoot", "#2ca02c"), ("forefoot", "#1f77b4")):
        vals = np.array([(r.strike_share_pct or {}).get(cls, 0.0) for r in view.runners])
        ax.bar(names, vals, bottom=bottom, color=colour, label=cls)
        bottom += vals
    ax.set(ylabel="% of strides", title="Strike pattern (latest run)")
    ax.legend(fontsize=8, loc="lower right")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig


def render_team_html(view: TeamView) -> str:
    """One self-contained page (inline PNG plots): squad comparison, then each runner."""
    e = html.escape
    rows = squad_rows(view)
    cols = (
        ("runner", "runner", None, 0),
        ("runs", "runs", None, 0),
        ("latest", "latest run", None, 0),
        ("km", "km", 1.0, 2),
        ("cadence_spm", "cadence (steps/min)", 1.0, 0),
        ("contact_ms", "contact (ms)", 1.0, 0),
        ("rearfoot_pct", "rearfoot %", 1.0, 0),
        ("midfoot_pct", "midfoot %", 1.0, 0),
        ("forefoot_pct", "forefoot %", 1.0, 0),
        ("overstride_cm", "overstride (cm)", 1.0, 1),
        ("balance_contact_left_pct", "L/R contact (% left)", 1.0, 1),
        ("cadence_trend_spm_per_week", "cadence trend (/week)", 1.0, 1),
        ("contact_trend_ms_per_week", "contact trend (ms/week)", 1.0, 1),
    )
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>gaitcoach team</title><style>{CSS}{TEAM_CSS}</style></head><body>",
        "<h1>Team</h1>",
        f"<p>{len(view.runners)} runners, generated {view.generated_utc:%Y-%m-%d %H:%M} UTC.</p>",
        "<h2>Squad comparison (latest run)</h2><table id='squad'><tr>",
        "".join(f"<th>{e(label)}</th>" for _, label, _, _ in cols),
        "</tr>",
    ]
    for row in rows:
        cells = []
        for key, _, scale, digits in cols:
            v = row[key]
            if scale is None:
                text = e(str(v)) if v is not None else "-"
                if key == "runner" and row["running_now"]:
                    text += " <span class='now'>(running now)</span>"
            else:
                text = _fmt(v, digits, scale)
            cells.append(f"<td>{text}</td>")
        out.append(f"<tr data-runner='{e(row['runner'])}'>{''.join(cells)}</tr>")
    out.append("</table>")
    if view.runners:
        out.append(
            f"<img class='plot' id='plot-squad' alt='squad comparison' "
            f"src='data:image/png;base64,{_png(plot_squad(view))}'>"
            f"<img class='plot' id='plot-strike' alt='strike pattern by runner' "
            f"src='data:image/png;base64,{_png(plot_strike(view))}'>"
        )
    for r in view.runners:
        out.append(f"<h2 id='runner-{e(r.runner)}'>{e(r.runner)}</h2>")
        out.append(_runs_table(r.history.runs))
        if len(r.history.runs) >= 1:
            out.append(trend_note_html(r.history))
            out.append(
                f"<img class='plot' alt='trends of {e(r.runner)}' "
                f"src='data:image/png;base64,{_png(plot_trends(r.history))}'>"
            )
    out.append(
        "<p class='disclaimer'>gaitcoach gives training advice, not a diagnosis: pain that "
        "persists or gets worse needs a professional assessment.</p></body></html>"
    )
    return "\n".join(out)


def _runs_table(runs: Sequence[RunRow]) -> str:
    e = html.escape
    head = (
        "<table class='runs'><tr><th>date</th><th>session</th><th>km</th><th>min</th>"
        "<th>cadence</th><th>contact ms</th><th>strike deg</th><th>overstride cm</th>"
        "<th>L/R % left</th></tr>"
    )
    body = "".join(
        f"<tr><td>{r.started:%Y-%m-%d}</td><td>{e(r.session_id)}</td>"
        f"<td>{r.distance_m / 1000:.2f}</td><td>{r.duration_s / 60:.1f}</td>"
        f"<td>{_fmt(r.metrics['cadence_spm'], 0)}</td>"
        f"<td>{_fmt(r.metrics['contact_time_s'], 0, 1000)}</td>"
        f"<td>{_fmt(r.metrics['foot_strike_angle_deg'], 1)}</td>"
        f"<td>{_fmt(r.metrics['overstride_m'], 1, 100)}</td>"
        f"<td>{_fmt(r.left_share_contact_pct, 1)}</td></tr>"
        for r in reversed(runs)
    )
    return head + body + "</table>"
