"""A runner's sessions over time: key metrics per run, trends, weekly load and baseline.

Also builds a session's full summary with the advice context that needs the history (load
rising quickly, discomfort that keeps coming back).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from gaitcoach.coach.targets import CadenceTarget, cadence_target, warmup_baseline
from gaitcoach.session.advice import AdviceBook, AdviceContext, advise
from gaitcoach.session.store import SessionData, SessionInfo, SessionStore
from gaitcoach.session.summary import SessionSummary, summarize
from gaitcoach.types import CueKind

KEY_METRICS = (
    "cadence_spm",
    "stride_length_m",
    "contact_time_s",
    "foot_strike_angle_deg",
    "overstride_m",
    "peak_impact_g",
)
BASELINE_RUNS = 10
"""The runner's usual range is taken from up to this many runs before the latest."""
TREND_MIN_RUNS = 4
TREND_MIN_DAYS = 14.0
"""A trend per week is shown only with this many counted runs spread over this many days:
four runs minutes apart make no "-1.4e4 spm/week"."""
MIN_COUNTED_M = 200.0
"""Runs shorter than this (or failed, or without strides) stay out of trends and load."""


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
    counted: bool = True
    """In weekly load, trends and the usual range (not failed, not empty, not a few steps)."""


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
    """The median of the runs before the latest (up to :data:`BASELINE_RUNS`)."""
    change: float | None
    previous: float | None = None
    """The run before the latest."""
    usual_low: float | None = None
    usual_high: float | None = None
    """The runner's usual range: the middle half of the runs before the latest."""


@dataclass(frozen=True, slots=True)
class History:
    runner: str | None
    runs: list[RunRow]
    weeks: list[WeekLoad]
    trends: list[Trend]
    baseline: list[BaselineComparison]
    trend_note: str = ""
    """Why there are no trends yet (too few runs, too short a time)."""


def parse_started(info: SessionInfo) -> datetime:
    return datetime.fromisoformat(info.started_utc)


def run_row(data: SessionData, summary: SessionSummary | None = None) -> RunRow:
    """Key figures of one run (``summary``: when the caller has it already)."""
    s = summary if summary is not None else summarize(data)
    counted = s.status != "failed" and s.n_strides["all"] > 0 and s.distance_m >= MIN_COUNTED_M
    return RunRow(
        session_id=s.session_id,
        started=parse_started(data.info),
        status=s.status,
        duration_s=s.moving_time_s,
        distance_m=s.distance_m,
        pace_s_per_km=s.pace_s_per_km,
        metrics={m: (x.median if (x := s.metrics[m].all) else None) for m in KEY_METRICS},
        left_share_contact_pct=s.metrics["contact_time_s"].left_share_pct,
        counted=counted,
    )


def weekly_load(runs: list[RunRow]) -> list[WeekLoad]:
    weeks: dict[str, list[RunRow]] = defaultdict(list)
    for r in (r for r in runs if r.counted):
        y, w, _ = r.started.isocalendar()
        weeks[f"{y}-W{w:02d}"].append(r)
    return [
        WeekLoad(k, len(v), sum(r.duration_s for r in v), sum(r.distance_m for r in v))
        for k, v in sorted(weeks.items())
    ]


def trend_note(runs: list[RunRow]) -> str:
    """Empty when trends mean something, else why not."""
    counted = [r for r in runs if r.counted]
    if len(counted) < TREND_MIN_RUNS:
        return f"trends need {TREND_MIN_RUNS} runs (so far {len(counted)})"
    days = (counted[-1].started - counted[0].started).total_seconds() / 86400.0
    if days < TREND_MIN_DAYS:
        return f"trends need runs over {TREND_MIN_DAYS:.0f} days (so far {days:.0f})"
    return ""


def trends(runs: list[RunRow], note: str) -> list[Trend]:
    """Slope per week of each key metric over the counted runs; none while ``note`` (the
    runs' :func:`trend_note`) says why trends mean nothing yet."""
    if note:
        return [Trend(m, None) for m in KEY_METRICS]
    runs = [r for r in runs if r.counted]
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
    counted = [r for r in runs if r.counted] or runs
    latest, before = counted[-1], counted[-1 - BASELINE_RUNS : -1]
    out = []
    for m in KEY_METRICS:
        vals = [v for r in before if (v := r.metrics[m]) is not None]
        base = statistics.median(vals) if vals else None
        now = latest.metrics[m]
        change = None if base is None or now is None else now - base
        low = high = None
        if len(vals) >= 2:
            low, high = (float(x) for x in np.percentile(vals, [25, 75]))
        previous = before[-1].metrics[m] if before else None
        out.append(BaselineComparison(m, now, base, change, previous, low, high))
    return out


def history(store: SessionStore, runner: str | None = None) -> History:
    return history_of(runner, [run_row(store.load_info(i)) for i in store.list_sessions(runner)])


def history_of(runner: str | None, runs: list[RunRow]) -> History:
    """The history of these runs (any order): one place for the rules on weekly load, trends
    and the usual range, shared by the history page and the team hub's views."""
    runs = sorted(runs, key=lambda r: r.started)
    note = trend_note(runs)
    return History(runner, runs, weekly_load(runs), trends(runs, note), baseline(runs), note)


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


def session_cadence_target(
    data: SessionData, override_spm: float | None = None
) -> CadenceTarget | None:
    """The cadence target the session ran with: the target of its last cadence cue when the
    coach spoke about cadence (exact, ``set_targets`` included), else the coach's rule on the
    recorded runner and coach settings and the warm-up's strides; ``override_spm`` (the
    command line's) wins."""
    from gaitcoach.service.config import recorded_config

    config = recorded_config(data.config, data.info.leg_length_m)
    profile, settings = config.runner, config.coach
    live = [
        c.trigger["target_spm"]
        for c in data.cues
        if c.kind is CueKind.CADENCE and "target_spm" in c.trigger
    ]
    baseline = profile.baseline_cadence_spm or warmup_baseline(data.strides, settings.warmup_s)
    if override_spm is not None:
        return cadence_target(profile, settings, baseline, override_spm=override_spm)
    rule = cadence_target(profile, settings, baseline)
    if not live or (rule is not None and abs(rule.target_spm - live[-1]) < 0.5):
        return rule
    # The coach ran with another target (a warm-up baseline measured on its windows, or
    # set_targets): what the runner heard is what the summary uses.
    live_target = cadence_target(profile, settings, baseline, override_spm=live[-1])
    assert live_target is not None
    return dataclasses.replace(live_target, source="the coach's target during this run")


def session_summary(
    store: SessionStore,
    ref: str,
    book: AdviceBook,
    cadence_target_spm: float | None = None,
) -> tuple[SessionData, SessionSummary]:
    """A session's summary with advice, using its history for the load and discomfort;
    ``cadence_target_spm`` replaces the runner's target."""
    data = store.load(ref)
    summary = summarize(data, session_cadence_target(data, cadence_target_spm))
    return data, advise(summary, book, advice_context(store, data, summary))
