"""A runner's sessions over time: key metrics per run, trends, weekly load and baseline.

Also builds a session's full summary with the advice context that needs the history (load
rising quickly, discomfort that keeps coming back).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from gaitcoach.session.advice import AdviceBook, AdviceContext, advise
from gaitcoach.session.store import SessionData, SessionInfo, SessionStore
from gaitcoach.session.summary import SessionSummary, summarize

KEY_METRICS = (
    "cadence_spm",
    "stride_length_m",
    "contact_time_s",
    "foot_strike_angle_deg",
    "overstride_m",
    "peak_impact_g",
)
BASELINE_RUNS = 10
"""The baseline is the median of up to this many runs before the latest."""


@dataclass(frozen=True, slots=True)
class RunRow:
    session_id: str
    started: datetime
    status: str
    duration_s: float
    distance_m: float
    pace_s_per_km: float | None
    metrics: dict[str, float | None]
    left_share_contact_pct: float | None


@dataclass(frozen=True, slots=True)
class WeekLoad:
    week: str
    """ISO year and week, e.g. ``2026-W48``."""
    runs: int
    time_s: float
    distance_m: float


@dataclass(frozen=True, slots=True)
class Trend:
    metric: str
    slope_per_week: float | None
    """Least-squares slope over the runs, per week (None with fewer than 2 runs)."""


@dataclass(frozen=True, slots=True)
class BaselineComparison:
    metric: str
    latest: float | None
    baseline: float | None
    change: float | None


@dataclass(frozen=True, slots=True)
class History:
    runner: str | None
    runs: list[RunRow]
    weeks: list[WeekLoad]
    trends: list[Trend]
    baseline: list[BaselineComparison]


def parse_started(info: SessionInfo) -> datetime:
    return datetime.fromisoformat(info.started_utc)


def run_row(data: SessionData, summary: SessionSummary | None = None) -> RunRow:
    """Key figures of one run (``summary``: when the caller has it already)."""
    s = summary if summary is not None else summarize(data)
    return RunRow(
        session_id=s.session_id,
        started=parse_started(data.info),
        status=s.status,
        duration_s=s.moving_time_s,
        distance_m=s.distance_m,
        pace_s_per_km=s.pace_s_per_km,
        metrics={m: (x.median if (x := s.metrics[m].all) else None) for m in KEY_METRICS},
        left_share_contact_pct=s.metrics["contact_time_s"].left_share_pct,
    )


def weekly_load(runs: list[RunRow]) -> list[WeekLoad]:
    weeks: dict[str, list[RunRow]] = defaultdict(list)
    for r in runs:
        y, w, _ = r.started.isocalendar()
        weeks[f"{y}-W{w:02d}"].append(r)
    return [
        WeekLoad(k, len(v), sum(r.duration_s for r in v), sum(r.distance_m for r in v))
        for k, v in sorted(weeks.items())
    ]


def trends(runs: list[RunRow]) -> list[Trend]:
    out = []
    for m in KEY_METRICS:
        pts = [
            (r.started.timestamp() / 604800.0, v) for r in runs if (v := r.metrics[m]) is not None
        ]
        slope = None
        if len({x for x, _ in pts}) >= 2:
            x, y = np.array(pts).T
            slope = float(np.polyfit(x, y, 1)[0])
        out.append(Trend(m, slope))
    return out


def baseline(runs: list[RunRow]) -> list[BaselineComparison]:
    if not runs:
        return []
    latest, before = runs[-1], runs[-1 - BASELINE_RUNS : -1]
    out = []
    for m in KEY_METRICS:
        vals = [v for r in before if (v := r.metrics[m]) is not None]
        base = statistics.median(vals) if vals else None
        now = latest.metrics[m]
        change = None if base is None or now is None else now - base
        out.append(BaselineComparison(m, now, base, change))
    return out


def history(store: SessionStore, runner: str | None = None) -> History:
    runs = [run_row(store.load_info(info)) for info in store.list_sessions(runner)]
    runs.sort(key=lambda r: r.started)
    return History(runner, runs, weekly_load(runs), trends(runs), baseline(runs))


def advice_context(
    store: SessionStore, data: SessionData, summary: SessionSummary
) -> AdviceContext:
    """Load of the last 7 days versus the 4 weeks before, and recent discomfort reports."""
    me = data.info
    now = parse_started(me)
    earlier = [
        i
        for i in store.list_sessions(me.runner)
        if i.id != me.id and now - timedelta(days=35) <= parse_started(i) <= now
    ]
    week_km = summary.distance_m / 1000.0
    base_km = 0.0
    has_base = False
    previous: dict[str, int] = defaultdict(int)
    for info in earlier:
        other = store.load_info(info)
        age = now - parse_started(info)
        km = summarize(other).distance_m / 1000.0
        if age <= timedelta(days=7):
            week_km += km
        else:
            base_km += km
            has_base = True
        if age <= timedelta(days=30):
            for part in {d.body_part for d in other.discomfort if d.score > 0}:
                previous[part] += 1
    return AdviceContext(
        load_week_km=week_km,
        load_base_km=base_km / 4.0 if has_base else None,
        previous_discomfort=dict(previous),
    )


def session_summary(
    store: SessionStore,
    ref: str,
    book: AdviceBook,
    target_cadence_spm: tuple[float, float] = (170.0, 185.0),
) -> tuple[SessionData, SessionSummary]:
    """A session's summary with advice, using its history for the load and discomfort."""
    data = store.load(ref)
    summary = summarize(data, target_cadence_spm)
    return data, advise(summary, book, advice_context(store, data, summary))
