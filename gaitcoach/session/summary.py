"""Post-run gait summary computed from the stored strides (pure, no I/O).

Definitions (docs/summary.md): distance is the sum of one foot's stride lengths (the mean of
both feet when both are present; a stride without a length counts the median speed times its
duration; where data was lost, the strides the runner took are estimated at the pace around
the gap, and counted as estimated); pace is moving time over distance, for the run and for
every split; every metric has its median and inter-quartile range overall and per foot;
strides with impossible values are left out and counted; fatigue drift is the trend of the
per-minute medians over the run (a robust line fit); a cue "worked" when the metric it
targets moved the intended way from the ``window_s`` before it to the ``window_s`` after a
``settle_s`` delay.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaitcoach.coach.targets import CadenceTarget
from gaitcoach.jsonenc import jsonable
from gaitcoach.metrics import median_of, symmetry_pct
from gaitcoach.session.store import SessionData
from gaitcoach.types import Activity, CueKind, Foot, Gap, StrideRecord, StrikePattern

SUMMARY_SCHEMA_VERSION = 1

SUMMARY_METRICS: dict[str, str] = {
    "cadence_spm": "steps/min",
    "stride_length_m": "m",
    "speed_mps": "m/s",
    "contact_time_s": "s",
    "flight_time_s": "s",
    "foot_strike_angle_deg": "deg",
    "overstride_m": "m",
    "peak_impact_g": "g",
    "loading_rate_gps": "g/s",
}
"""Metrics summarised, by StrideRecord attribute, with their unit."""

# Display name, unit, scale and decimals per metric: one unit per quantity (overstride in cm,
# times in ms, pace in m:ss /km everywhere).
DISPLAY = {
    "cadence_spm": ("Cadence", "steps/min", 1.0, 0),
    "stride_length_m": ("Stride length", "m", 1.0, 2),
    "speed_mps": ("Speed", "m/s", 1.0, 2),
    "contact_time_s": ("Ground contact time", "ms", 1000.0, 0),
    "flight_time_s": ("Flight time", "ms", 1000.0, 0),
    "foot_strike_angle_deg": ("Foot strike angle", "deg", 1.0, 1),
    "overstride_m": ("Overstride", "cm", 100.0, 1),
    "peak_impact_g": ("Peak impact", "g", 1.0, 1),
    "loading_rate_gps": ("Loading rate", "g/s", 1.0, 0),
}

SPLIT_METRICS = ("cadence_spm", "contact_time_s", "foot_strike_angle_deg", "overstride_m")

# What each cue kind asks the runner to change, and the smallest change that counts as moved.
CUE_TARGETS: dict[CueKind, tuple[str, int, float]] = {
    CueKind.CADENCE: ("cadence_spm", +1, 1.5),
    CueKind.STRIDE: ("overstride_m", -1, 0.01),
    CueKind.SOFTER: ("foot_strike_angle_deg", -1, 1.0),
}


@dataclass(frozen=True, slots=True)
class Stat:
    """Median and spread (inter-quartile range) of one metric over ``n`` strides."""

    n: int
    median: float
    p25: float
    p75: float

    @property
    def iqr(self) -> float:
        return self.p75 - self.p25


@dataclass(frozen=True, slots=True)
class MetricSummary:
    name: str
    unit: str
    all: Stat | None
    left: Stat | None
    right: Stat | None
    left_share_pct: float | None
    """Left median over left + right medians, 50 = balanced."""
    first_third: float | None
    last_third: float | None
    drift_pct: float | None
    """Last third versus first third, percent of the first third's median."""


@dataclass(frozen=True, slots=True)
class Drift:
    """How a metric moved over the run: a robust line (Theil-Sen) through its per-minute
    medians, read at the start and the end of the running."""

    metric: str
    unit: str
    start: float | None
    end: float | None
    change: float | None
    """``end - start`` in the metric's unit."""
    change_pct: float | None
    """``change`` in percent of ``start``."""
    minutes: int
    """Per-minute medians the line was fitted to (0: too short a run to tell)."""


@dataclass(frozen=True, slots=True)
class Fatigue:
    """Form over the run, per metric (what the strength tip reads)."""

    cadence_spm: Drift
    contact_time_s: Drift
    stride_length_m: Drift
    peak_impact_g: Drift
    foot_strike_angle_deg: Drift
    overstride_m: Drift


FATIGUE_METRICS = (
    "cadence_spm",
    "contact_time_s",
    "stride_length_m",
    "peak_impact_g",
    "foot_strike_angle_deg",
    "overstride_m",
)
FATIGUE_MIN_MINUTES = 8
"""Trends need this many minutes of running (one median per minute) to mean something."""


@dataclass(frozen=True, slots=True)
class DataQuality:
    """What is missing or was left out, so that the report can say so."""

    gaps: int
    lost_samples: int
    gap_time_s: float
    lost_share_pct: float
    """Lost samples over all samples the pods should have sent."""
    feet: list[str]
    """Feet with strides (a pod that never streamed is missing here)."""
    excluded_strides: int
    """Strides with impossible values (cadence, stride time), left out of every number."""
    excluded_values: int
    """Single impossible values (a negative flight time) left out, the stride kept."""
    estimated_distance_m: float
    """Distance estimated across data gaps at the pace around them."""


PLAUSIBLE_CADENCE_SPM = (60.0, 250.0)
"""Running and walking cadences outside this are measurement errors (sprinters stay below
about 240; a 300 "cadence" is a missed stride)."""


@dataclass(frozen=True, slots=True)
class Split:
    kind: str
    """``minute`` or ``km``."""
    index: int
    start_s: float
    end_s: float
    distance_m: float
    pace_s_per_km: float | None
    medians: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class CueEffect:
    cue_id: str
    kind: str
    t_s: float
    """Seconds from the session start."""
    text: str
    metric: str | None
    before: float | None
    after: float | None
    change: float | None
    moved: bool | None
    """Whether the metric moved the intended way; ``None`` when it cannot be told."""
    delivered: bool = True
    """Sent to the runner before it expired (an undelivered cue claims no effect)."""


@dataclass(frozen=True, slots=True)
class DiscomfortEntry:
    t_s: float
    body_part: str
    score: int
    note: str


@dataclass(frozen=True, slots=True)
class Advice:
    tip: str
    """One of the five tips: technique, strength, mobility, cross_training, rest."""
    title: str
    text: str
    reasons: list[str]
    warning: bool = False
    """Safety first: shown first and as a warning (rising or high discomfort)."""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    schema_version: int
    session_id: str
    runner: str
    started_utc: str
    status: str
    duration_s: float
    moving_time_s: float
    distance_m: float
    pace_s_per_km: float | None
    n_strides: dict[str, int]
    metrics: dict[str, MetricSummary]
    strike_share_pct: dict[str, dict[str, float]]
    """Per ``all``/``left``/``right``: percent of strides per strike class."""
    splits_minute: list[Split]
    splits_km: list[Split]
    fatigue: Fatigue
    cues: list[CueEffect]
    cue_counts: dict[str, int]
    discomfort: list[DiscomfortEntry]
    data_quality: DataQuality
    cadence_target: CadenceTarget | None
    """The runner's target and band: the live coach's rule (:mod:`gaitcoach.coach.targets`)."""
    advice: list[Advice] = field(default_factory=list)
    disclaimer: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types; validates against the shipped summary.schema.json."""
        out = jsonable(self)
        assert isinstance(out, dict)
        for name, m in out["metrics"].items():
            for key in ("all", "left", "right"):
                if m[key] is not None:
                    stat = getattr(self.metrics[name], key)
                    m[key]["iqr"] = stat.iqr
        return out


def stat_of(values: Sequence[float]) -> Stat | None:
    if not values:
        return None
    a = np.asarray(values, dtype=np.float64)
    p25, med, p75 = np.percentile(a, [25, 50, 75])
    return Stat(n=int(a.size), median=float(med), p25=float(p25), p75=float(p75))


def _values(strides: Sequence[StrideRecord], name: str) -> list[float]:
    return [float(v) for s in strides if (v := getattr(s, name)) is not None]


def _running(strides: Sequence[StrideRecord]) -> list[StrideRecord]:
    running = [s for s in strides if s.activity is Activity.RUNNING]
    return running or list(strides)


def stride_distances(
    strides: Sequence[StrideRecord], gaps: Sequence[Gap] = ()
) -> dict[Foot, list[tuple[float, float]]]:
    """Per foot, (end time, metres) of each stride; missing lengths from the median speed.
    A stride after a data gap of its foot also carries the strides lost in the gap, at its
    own pace (the runner ran on; only the data is missing)."""
    speed = median_of(strides, "speed_mps")
    out: dict[Foot, list[tuple[float, float]]] = {}
    last: dict[Foot, StrideRecord] = {}
    for s in sorted(strides, key=lambda x: x.ic_s):
        length = s.stride_length_m
        if length is None:
            length = (s.speed_mps or speed or 0.0) * s.stride_time_s
        out.setdefault(s.foot, []).append((s.end_ic_s, float(length) + _bridged(s, last, gaps)[1]))
        last[s.foot] = s
    return out


def _bridged(
    s: StrideRecord, last: dict[Foot, StrideRecord], gaps: Sequence[Gap]
) -> tuple[float, float]:
    """(seconds, metres) of running lost in a data gap before stride ``s`` of its foot."""
    prev = last.get(s.foot)
    if prev is None or not gaps:
        return 0.0, 0.0
    hole = s.ic_s - prev.end_ic_s
    if hole < 0.5 * s.stride_time_s:
        return 0.0, 0.0
    lost = any(
        g.foot in (s.foot, Foot.UNKNOWN) and g.start_s < s.ic_s and g.end_s > prev.end_ic_s
        for g in gaps
    )
    if not lost:
        return 0.0, 0.0  # a stop, not lost data
    length = s.stride_length_m or (s.speed_mps or 0.0) * s.stride_time_s
    return hole, length * hole / s.stride_time_s


def _spans(strides: Sequence[StrideRecord]) -> dict[Foot, tuple[float, float]]:
    """Per foot, the time its pod was there: from its first contact to one (median) stride
    time past its last. Outside it (a pod that joined late, or dropped out for good) the
    other foot's strides count alone; where both feet are there they are averaged."""
    out: dict[Foot, tuple[float, float]] = {}
    for foot in {s.foot for s in strides}:
        mine = [s for s in strides if s.foot is foot]
        tail = median_of(mine, "stride_time_s") or 0.0
        out[foot] = (min(s.ic_s for s in mine), max(s.end_ic_s for s in mine) + tail)
    return out


def _feet_at(spans: dict[Foot, tuple[float, float]], t_s: float) -> int:
    return sum(a < t_s <= b for a, b in spans.values())


def _moving_and_estimated(
    strides: Sequence[StrideRecord], gaps: Sequence[Gap]
) -> tuple[float, float]:
    """(moving time s, distance m estimated across gaps), per foot and averaged over the
    feet present (at each stride's end: :func:`_spans`)."""
    feet = {s.foot for s in strides}
    if not feet:
        return 0.0, 0.0
    spans = _spans(strides)
    moving = est_d = 0.0
    shared_moving = shared_d = 0.0
    last: dict[Foot, StrideRecord] = {}
    n = len(feet)
    for s in sorted(strides, key=lambda x: x.ic_s):
        t, d = _bridged(s, last, gaps)
        moving += s.stride_time_s + t
        est_d += d
        here = max(_feet_at(spans, s.end_ic_s), 1)
        shared_moving += (s.stride_time_s + t) / here
        shared_d += d / here
        last[s.foot] = s
    if all(_feet_at(spans, s.end_ic_s) == n for s in strides):
        return moving / n, est_d / n  # every foot there throughout (as summed before)
    return shared_moving, shared_d


def distance_track(
    strides: Sequence[StrideRecord], gaps: Sequence[Gap] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative distance (m) over time (s): per-foot tracks averaged on a common clock."""
    per_foot = stride_distances(strides, gaps)
    if not per_foot:
        return np.zeros(0), np.zeros(0)
    times = np.unique(np.concatenate([[t for t, _ in v] for v in per_foot.values()]))
    tracks = []
    for v in per_foot.values():
        t = np.array([x for x, _ in v])
        d = np.cumsum([x for _, x in v])
        order = np.argsort(t)
        tracks.append(np.interp(times, t[order], d[order], left=0.0))
    spans = _spans(strides)
    there = np.array([(spans[f][0] < times) & (times <= spans[f][1]) for f in per_foot])
    if there.all():
        return times, np.mean(tracks, axis=0)
    # A foot whose pod was not there (joined late, dropped out for good) has a flat track
    # then: averaging it in counted that time as standing still. The distance grows by the
    # mean step of the feet that are there.
    steps = np.diff(np.array(tracks), axis=1, prepend=0.0)
    n = there.sum(axis=0)
    mean_step = np.where(n > 0, (steps * there).sum(axis=0) / np.maximum(n, 1), steps.mean(axis=0))
    return times, np.cumsum(mean_step)


def _share(strides: Sequence[StrideRecord]) -> dict[str, float]:
    patterns = [s.strike_pattern for s in strides if s.strike_pattern is not None]
    if not patterns:
        return {p.value: 0.0 for p in StrikePattern}
    return {p.value: 100.0 * patterns.count(p) / len(patterns) for p in StrikePattern}


def _metric(name: str, strides: Sequence[StrideRecord], t0: float, t1: float) -> MetricSummary:
    left = [s for s in strides if s.foot is Foot.LEFT]
    right = [s for s in strides if s.foot is Foot.RIGHT]
    all_stat = stat_of(_values(strides, name))
    l_stat, r_stat = stat_of(_values(left, name)), stat_of(_values(right, name))
    third = (t1 - t0) / 3.0
    first = median_of([s for s in strides if s.ic_s < t0 + third], name)
    last = median_of([s for s in strides if s.ic_s >= t1 - third], name)
    drift = None
    if first is not None and last is not None and first != 0:
        drift = 100.0 * (last - first) / abs(first)
    return MetricSummary(
        name=name,
        unit=SUMMARY_METRICS[name],
        all=all_stat,
        left=l_stat,
        right=r_stat,
        left_share_pct=symmetry_pct(
            l_stat.median if l_stat else None, r_stat.median if r_stat else None
        ),
        first_third=first,
        last_third=last,
        drift_pct=drift,
    )


class _ByContact:
    """Strides sorted by initial contact once, so that each time window is two binary
    searches (splits and cue effects were a scan of every stride per window)."""

    def __init__(self, strides: Sequence[StrideRecord]) -> None:
        self._strides = sorted(strides, key=lambda s: s.ic_s)
        self._ic = [s.ic_s for s in self._strides]

    def between(self, a: float, b: float) -> list[StrideRecord]:
        """Strides with ``a <= ic_s < b``."""
        return self._strides[bisect.bisect_left(self._ic, a) : bisect.bisect_left(self._ic, b)]


def _splits(
    strides: Sequence[StrideRecord],
    track: tuple[np.ndarray, np.ndarray],
    t0: float,
    kind: str,
    minute_s: float = 60.0,
    gaps: Sequence[Gap] = (),
) -> list[Split]:
    """``track`` is ``distance_track(strides, gaps)``, computed once by the caller. A split's
    pace is its moving time (strides, and running lost in gaps) over its distance: a stop or
    a standing pause does not slow the split."""
    times, dist = track
    if times.size == 0:
        return []
    if kind == "minute":
        edges = list(np.arange(t0, times[-1] + minute_s, minute_s))
    else:
        marks = np.arange(1000.0, dist[-1] + 1000.0, 1000.0)
        edges = [t0, *[float(np.interp(m, dist, times)) for m in marks[marks < dist[-1]]]]
        edges.append(float(times[-1]))
    by_ic = _ByContact(strides)
    out = []
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        if b <= a:
            continue
        inside = by_ic.between(a, b)
        if not inside:
            continue
        d = float(np.interp(b, times, dist, left=0.0) - np.interp(a, times, dist, left=0.0))
        moving = _moving_and_estimated(inside, gaps)[0] if kind == "km" else b - a
        out.append(
            Split(
                kind=kind,
                index=i,
                start_s=float(a - t0),
                end_s=float(b - t0),
                distance_m=d,
                pace_s_per_km=moving / d * 1000.0 if d > 1.0 else None,
                medians={m: median_of(inside, m) for m in SPLIT_METRICS},
            )
        )
    return out


def cue_effects(
    data: SessionData, t0: float, window_s: float = 30.0, settle_s: float = 5.0
) -> list[CueEffect]:
    out = []
    # Impossible strides are left out of every number (:func:`plausible`), cue effects too.
    by_ic = _ByContact(plausible(data.strides)[0])
    for cue in data.cues:
        target = CUE_TARGETS.get(cue.kind)
        metric = before = after = change = None
        moved: bool | None = None
        if target is not None:
            metric, sign, min_change = target
            t = cue.created_s
            before = median_of(by_ic.between(t - window_s, t), metric)
            after = median_of(by_ic.between(t + settle_s, t + settle_s + window_s), metric)
            if before is not None and after is not None:
                change = after - before
                moved = sign * change >= min_change
        out.append(
            CueEffect(
                cue_id=cue.id,
                kind=cue.kind.value,
                t_s=cue.created_s - t0,
                text=cue.text,
                metric=metric,
                before=before,
                after=after,
                change=change,
                moved=moved if data.cue_outcomes.get(cue.id, True) else None,
                delivered=data.cue_outcomes.get(cue.id, True),
            )
        )
    return out


def summarize(
    data: SessionData,
    cadence_target: CadenceTarget | None = None,
    split_s: float = 60.0,
) -> SessionSummary:
    """Summary of one session from its stored strides (advice is added by ``advise``).

    Parameters
    ----------
    data
        The session as loaded from the store.
    cadence_target
        The runner's cadence target and band (:func:`session_cadence_target`).
    split_s
        Length of the time splits.
    """
    strides, excluded, excluded_values = plausible(data.strides)
    strides.sort(key=lambda s: (s.ic_s, s.foot.value))
    running = _running(strides)
    info = data.info
    if strides:
        t0 = min(strides[0].ic_s, info.first_t_s if info.first_t_s is not None else math.inf)
        t1 = max(max(s.end_ic_s for s in strides), info.last_t_s or -math.inf)
        r0, r1 = min(s.ic_s for s in running), max(s.end_ic_s for s in running)
    else:
        t0 = info.first_t_s or 0.0
        t1 = info.last_t_s or t0
        r0, r1 = t0, t1
    moving, estimated_m = _moving_and_estimated(running, data.gaps)
    track = distance_track(running, data.gaps)
    dist = track[1]
    distance = float(dist[-1]) if dist.size else 0.0
    metrics = {name: _metric(name, running, r0, r1) for name in SUMMARY_METRICS}
    minute_splits = _splits(running, track, t0, "minute", split_s)
    fatigue = Fatigue(**{m: _drift(m, running, r0, r1) for m in FATIGUE_METRICS})
    counts: dict[str, int] = {}
    for cue in data.cues:
        counts[cue.kind.value] = counts.get(cue.kind.value, 0) + 1
    lost = sum(g.lost_samples for g in data.gaps)
    # Both pods at the recorded rate over the session: what should have arrived. Imported
    # here: the service package imports the session package.
    from gaitcoach.service.config import recorded_config

    rate_hz = recorded_config(data.config, info.leg_length_m).link.rate_hz
    expected = 2.0 * rate_hz * max(t1 - t0, 0.0)
    return SessionSummary(
        schema_version=SUMMARY_SCHEMA_VERSION,
        session_id=info.id,
        runner=info.runner,
        started_utc=info.started_utc,
        status=info.status.value,
        duration_s=float(t1 - t0),
        moving_time_s=float(moving),
        distance_m=distance,
        pace_s_per_km=moving / distance * 1000.0 if distance > 1.0 else None,
        n_strides={
            "all": len(strides),
            "running": sum(s.activity is Activity.RUNNING for s in strides),
            "left": sum(s.foot is Foot.LEFT for s in strides),
            "right": sum(s.foot is Foot.RIGHT for s in strides),
        },
        metrics=metrics,
        strike_share_pct={
            "all": _share(running),
            "left": _share([s for s in running if s.foot is Foot.LEFT]),
            "right": _share([s for s in running if s.foot is Foot.RIGHT]),
        },
        splits_minute=minute_splits,
        splits_km=_splits(running, track, t0, "km", gaps=data.gaps),
        fatigue=fatigue,
        cues=cue_effects(data, t0),
        cue_counts=counts,
        discomfort=[
            DiscomfortEntry(d.t_s - t0, d.body_part, d.score, d.note) for d in data.discomfort
        ],
        data_quality=DataQuality(
            gaps=len(data.gaps),
            lost_samples=lost,
            gap_time_s=float(sum(g.end_s - g.start_s for g in data.gaps)),
            lost_share_pct=min(100.0, 100.0 * lost / expected) if expected else 0.0,
            feet=sorted(f.value for f in {s.foot for s in strides}),
            excluded_strides=excluded,
            excluded_values=excluded_values,
            estimated_distance_m=estimated_m,
        ),
        cadence_target=cadence_target,
    )


def plausible(strides: Sequence[StrideRecord]) -> tuple[list[StrideRecord], int, int]:
    """The strides without impossible values: (kept, strides left out, values left out).
    A cadence outside :data:`PLAUSIBLE_CADENCE_SPM` drops the stride; a negative flight time
    of a running stride only that value (contact and the rest of the stride are still
    measured). A walking stride's flight time is negative by definition (double support)."""
    kept: list[StrideRecord] = []
    dropped = values = 0
    lo, hi = PLAUSIBLE_CADENCE_SPM
    for s in strides:
        if not lo <= s.cadence_spm <= hi:
            dropped += 1
            continue
        if (
            s.flight_time_s is not None
            and s.flight_time_s < 0.0
            and s.activity is not Activity.WALKING
        ):
            s = dataclasses.replace(s, flight_time_s=None)
            values += 1
        kept.append(s)
    return kept, dropped, values


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the median line: robust to a few odd minutes."""
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    ok = dx != 0
    slope = float(np.median((y[j] - y[i])[ok] / dx[ok]))
    return slope, float(np.median(y - slope * x))


def _drift(name: str, strides: Sequence[StrideRecord], r0: float, r1: float) -> Drift:
    unit = SUMMARY_METRICS[name]
    points: list[tuple[float, float]] = []
    minute = 60.0
    by_ic = _ByContact(strides)
    t = r0
    while t + minute <= r1 + 1e-9:
        v = median_of(by_ic.between(t, t + minute), name)
        if v is not None:
            points.append((t + minute / 2 - r0, v))
        t += minute
    if len(points) < FATIGUE_MIN_MINUTES:
        return Drift(name, unit, None, None, None, None, len(points))
    a = np.array(points)
    slope, icpt = _theil_sen(a[:, 0], a[:, 1])
    start, end = icpt + slope * 0.0, icpt + slope * (r1 - r0)
    pct = 100.0 * (end - start) / abs(start) if start else None
    return Drift(name, unit, start, end, end - start, pct, len(points))


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def data_banner(summary: SessionSummary) -> str | None:
    """One sentence when data is missing or was left out (None when all is there)."""
    dq = summary.data_quality
    parts = []
    if dq.lost_share_pct >= 1.0:
        parts.append(
            f"{dq.lost_share_pct:.0f} % of the samples were lost in {dq.gaps} gap(s) "
            f"({dq.gap_time_s / 60:.1f} min, shaded grey in the plots)"
        )
    missing = sorted({"left", "right"} - set(dq.feet))
    if missing and dq.feet:
        parts.append(f"no data from the {' and '.join(missing)} foot pod")
    if dq.estimated_distance_m >= 10.0:
        parts.append(
            f"{dq.estimated_distance_m / 1000:.2f} km of the distance is estimated across the "
            "gaps at your pace around them"
        )
    if dq.excluded_strides or dq.excluded_values:
        parts.append(
            f"{dq.excluded_strides} stride(s) and {dq.excluded_values} single value(s) with "
            "impossible readings were left out"
        )
    if not parts:
        return None
    return "Data missing: " + "; ".join(parts) + ". Pace uses moving time."


def summary_text(s: SessionSummary) -> str:
    """The summary as a few lines of text (terminal, demo)."""
    lines = [
        f"session {s.session_id} ({s.status}) runner {s.runner}",
        f"  {s.duration_s / 60:.1f} min, {s.distance_m / 1000:.2f} km"
        + (f", pace {_clock(s.pace_s_per_km)} /km" if s.pace_s_per_km else ""),
    ]
    if s.cadence_target is not None:
        t = s.cadence_target
        lines.append(f"  cadence target {t.target_spm:.0f} steps/min ({t.source})")
    banner = data_banner(s)
    if banner:
        lines.append(f"  {banner}")
    for name, m in s.metrics.items():
        if m.all is None or name == "speed_mps":  # speed is the pace above
            continue
        label, unit, scale, digits = DISPLAY[name]
        share = f"  left {m.left_share_pct:.1f} %" if m.left_share_pct is not None else ""
        med, lo, hi = (f"{v * scale:.{digits}f}" for v in (m.all.median, m.all.p25, m.all.p75))
        lines.append(f"  {label:<20} {med:>6} {unit:<9} (IQR {lo}-{hi}){share}")
    shares = s.strike_share_pct["all"]
    lines.append("  strike: " + ", ".join(f"{k} {v:.0f}%" for k, v in shares.items()))
    moved = [c for c in s.cues if c.moved is not None]
    if s.cues:
        lost = sum(not c.delivered for c in s.cues)
        lines.append(
            f"  cues: {len(s.cues)}"
            + (f" ({lost} never reached you)" if lost else "")
            + f", metric moved after {sum(bool(c.moved) for c in moved)} of {len(moved)} heard"
        )
    for d in s.discomfort:
        lines.append(f"  discomfort at {d.t_s / 60:.1f} min: {d.body_part} {d.score}/10")
    for a in s.advice:
        lines.append(f"* {a.title}: {a.text}")
        lines.extend(f"    because: {r}" for r in a.reasons)
    lines.append(s.disclaimer)
    return "\n".join(lines)
