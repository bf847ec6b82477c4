"""Post-run gait summary computed from the stored strides (pure, no I/O).

Definitions (docs/summary.md): distance is the sum of one foot's stride lengths (the mean of
both feet when both are present; a stride without a length counts the median speed times its
duration); pace is moving time over distance; every metric has its median and inter-quartile
range overall and per foot; fatigue drift compares the first and last third of the running
time; a cue "worked" when the metric it targets moved the intended way from the
``window_s`` before it to the ``window_s`` after a ``settle_s`` delay.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaitcoach.jsonenc import jsonable
from gaitcoach.metrics import median_of, symmetry_pct
from gaitcoach.session.store import SessionData
from gaitcoach.types import Activity, CueKind, Foot, StrideRecord, StrikePattern

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
    fatigue: dict[str, float | None]
    """Drift (percent, deg for the strike angle, m for overstride) first versus last third."""
    cues: list[CueEffect]
    cue_counts: dict[str, int]
    discomfort: list[DiscomfortEntry]
    data_quality: dict[str, float]
    target_cadence_spm: tuple[float, float]
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


def stride_distances(strides: Sequence[StrideRecord]) -> dict[Foot, list[tuple[float, float]]]:
    """Per foot, (end time, metres) of each stride; missing lengths from the median speed."""
    speed = median_of(strides, "speed_mps")
    out: dict[Foot, list[tuple[float, float]]] = {}
    for s in strides:
        length = s.stride_length_m
        if length is None:
            length = (s.speed_mps or speed or 0.0) * s.stride_time_s
        out.setdefault(s.foot, []).append((s.end_ic_s, float(length)))
    return out


def distance_track(strides: Sequence[StrideRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative distance (m) over time (s): per-foot tracks averaged on a common clock."""
    per_foot = stride_distances(strides)
    if not per_foot:
        return np.zeros(0), np.zeros(0)
    times = np.unique(np.concatenate([[t for t, _ in v] for v in per_foot.values()]))
    tracks = []
    for v in per_foot.values():
        t = np.array([x for x, _ in v])
        d = np.cumsum([x for _, x in v])
        order = np.argsort(t)
        tracks.append(np.interp(times, t[order], d[order], left=0.0))
    return times, np.mean(tracks, axis=0)


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
) -> list[Split]:
    """``track`` is ``distance_track(strides)``, computed once by the caller."""
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
        out.append(
            Split(
                kind=kind,
                index=i,
                start_s=float(a - t0),
                end_s=float(b - t0),
                distance_m=d,
                pace_s_per_km=(b - a) / d * 1000.0 if d > 1.0 else None,
                medians={m: median_of(inside, m) for m in SPLIT_METRICS},
            )
        )
    return out


def cue_effects(
    data: SessionData, t0: float, window_s: float = 30.0, settle_s: float = 5.0
) -> list[CueEffect]:
    out = []
    by_ic = _ByContact(data.strides)
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
                moved=moved,
            )
        )
    return out


def summarize(
    data: SessionData,
    target_cadence_spm: tuple[float, float] = (170.0, 185.0),
    split_s: float = 60.0,
) -> SessionSummary:
    """Summary of one session from its stored strides (advice is added by ``advise``).

    Parameters
    ----------
    data
        The session as loaded from the store.
    target_cadence_spm
        The runner's target cadence band (for plots and advice).
    split_s
        Length of the time splits.
    """
    strides = sorted(data.strides, key=lambda s: (s.ic_s, s.foot.value))
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
    feet = {s.foot for s in running}
    moving = sum(s.stride_time_s for s in running) / max(len(feet), 1)
    track = distance_track(running)
    dist = track[1]
    distance = float(dist[-1]) if dist.size else 0.0
    metrics = {name: _metric(name, running, r0, r1) for name in SUMMARY_METRICS}
    fatigue: dict[str, float | None] = {}
    for name in ("cadence_spm", "contact_time_s", "stride_length_m", "peak_impact_g"):
        fatigue[f"{name}_drift_pct"] = metrics[name].drift_pct
    for name in ("foot_strike_angle_deg", "overstride_m"):
        m = metrics[name]
        fatigue[f"{name}_change"] = (
            None if m.first_third is None or m.last_third is None else m.last_third - m.first_third
        )
    counts: dict[str, int] = {}
    for cue in data.cues:
        counts[cue.kind.value] = counts.get(cue.kind.value, 0) + 1
    lost = sum(g.lost_samples for g in data.gaps)
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
        splits_minute=_splits(running, track, t0, "minute", split_s),
        splits_km=_splits(running, track, t0, "km"),
        fatigue=fatigue,
        cues=cue_effects(data, t0),
        cue_counts=counts,
        discomfort=[
            DiscomfortEntry(d.t_s - t0, d.body_part, d.score, d.note) for d in data.discomfort
        ],
        data_quality={
            "gaps": float(len(data.gaps)),
            "lost_samples": float(lost),
            "gap_time_s": float(sum(g.end_s - g.start_s for g in data.gaps)),
        },
        target_cadence_spm=(float(target_cadence_spm[0]), float(target_cadence_spm[1])),
    )


def summary_text(s: SessionSummary) -> str:
    """The summary as a few lines of text (terminal, demo)."""
    lines = [
        f"session {s.session_id} ({s.status}) runner {s.runner}",
        f"  {s.duration_s / 60:.1f} min, {s.distance_m / 1000:.2f} km"
        + (f", pace {s.pace_s_per_km / 60:.2f} min/km" if s.pace_s_per_km else ""),
    ]
    for name, m in s.metrics.items():
        if m.all is not None:
            share = f"  L {m.left_share_pct:.1f}%" if m.left_share_pct is not None else ""
            lines.append(
                f"  {name:<22} {m.all.median:9.3f}  IQR {m.all.p25:.3f}-{m.all.p75:.3f}{share}"
            )
    shares = s.strike_share_pct["all"]
    lines.append("  strike: " + ", ".join(f"{k} {v:.0f}%" for k, v in shares.items()))
    moved = [c for c in s.cues if c.moved is not None]
    if s.cues:
        lines.append(
            f"  cues: {len(s.cues)}, metric moved after {sum(bool(c.moved) for c in moved)}"
            f" of {len(moved)}"
        )
    for d in s.discomfort:
        lines.append(f"  discomfort at {d.t_s / 60:.1f} min: {d.body_part} {d.score}/10")
    for a in s.advice:
        lines.append(f"* {a.title}: {a.text}")
        lines.extend(f"    because: {r}" for r in a.reasons)
    lines.append(s.disclaimer)
    return "\n".join(lines)
