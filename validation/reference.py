"""The engine against each real data set (used by tests and ``./run bench accuracy``)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from gaitcoach.gait import FootAnalyzer, GaitConfig, analyze_all
from gaitcoach.gait.config import DEFAULT_CONFIG
from gaitcoach.types import FloatArray, Foot, ImuChunk, SwingRecord
from validation.datasets import (
    IpolTrial,
    WalkingReference,
    ipol_trial_names,
    load_fuzzy_run,
    load_gaitmap_walking,
    load_ipol_trial,
)
from validation.scoring import (
    match_events,
    match_one_to_one,
    spectral_cadence_spm,
    stride_cadence_spm,
    swing_cadence_spm,
    swing_times_s,
)


class SegmentLike(Protocol):
    """What :func:`walking_errors` reads of a segment (ours, or another engine's)."""

    @property
    def start_s(self) -> float: ...
    @property
    def ic_s(self) -> float | None: ...
    @property
    def to_s(self) -> float | None: ...
    @property
    def length_m(self) -> float | None: ...


def walking_errors(
    ref: WalkingReference,
    segs: Mapping[Foot, Sequence[SegmentLike]],
    ics: Mapping[Foot, Sequence[float]] | None = None,
) -> tuple[list[float], list[float], list[float]]:
    """Signed IC and TO errors (s; NaN where no estimate within 100 ms) against the motion
    capture, and the relative stride length errors of the segments that start within 0.3 s of
    a mocap mid-stance, for every foot in ``segs``. ``ics``: final contact times per foot if
    they differ from the segments' impact onsets (our walking IC refinement)."""
    ic_err: list[float] = []
    to_err: list[float] = []
    len_err: list[float] = []
    for foot, ss in segs.items():
        truth = [s for s in ref.strides if s.foot is foot]
        est_ic = ics[foot] if ics is not None else [s.ic_s for s in ss if s.ic_s is not None]
        ic_err += match_events(np.array([s.ic_s for s in truth]), np.array(est_ic), 0.1).tolist()
        to_err += match_events(
            np.array([s.to_s for s in truth]),
            np.array([s.to_s for s in ss if s.to_s is not None]),
            0.1,
        ).tolist()
        starts = np.array([s.start_s for s in ss])
        for s in truth:
            j = int(np.argmin(np.abs(starts - s.start_s)))
            length = ss[j].length_m
            if abs(starts[j] - s.start_s) < 0.3 and length is not None:
                len_err.append(length / s.length_m - 1.0)
    return ic_err, to_err, len_err


def walking_reference(folder: Path, config: GaitConfig = DEFAULT_CONFIG) -> dict[str, float]:
    """gaitmap-walking: IC/TO against motion capture, stride length against the heel marker."""
    ref = load_gaitmap_walking(folder)
    res = analyze_all(ref.imu, config=config)
    swings = {f: [s for s in res.swings if s.foot is f] for f in ref.imu}
    # The swings' final contacts (walking: end of the terminal-swing dorsiflexion).
    ic_err, to_err, len_err = walking_errors(ref, swings)
    ic = np.array(ic_err) * 1000
    to = np.array(to_err) * 1000
    le = np.array(len_err) * 100
    n_ic = int(np.isfinite(ic).sum())
    out = {
        "ic_signed_median_ms": float(np.nanmedian(ic)),
        "ic_abs_median_ms": float(np.nanmedian(np.abs(ic))),
        "ic_abs_p95_ms": float(np.nanpercentile(np.abs(ic), 95)),
        "to_signed_median_ms": float(np.nanmedian(to)),
        "to_abs_median_ms": float(np.nanmedian(np.abs(to))),
        "to_abs_p95_ms": float(np.nanpercentile(np.abs(to), 95)),
        "length_signed_median_pct": float(np.median(le)),
        "length_abs_median_pct": float(np.median(np.abs(le))),
        "length_abs_p95_pct": float(np.percentile(np.abs(le), 95)),
        "matched": float(n_ic),
        "mocap_strides": float(len(ic)),
    }
    return out


def _max_abs(x: Sequence[float]) -> float:
    return float(np.max(np.abs(x))) if len(x) else float("nan")


def _median_abs(x: Sequence[float]) -> float:
    return float(np.median(np.abs(x))) if len(x) else float("nan")


def running_reference(path: Path, config: GaitConfig = DEFAULT_CONFIG) -> dict[str, float]:
    """fuzzy-run: strides found over the run, stride vs spectral cadence, distributions."""
    chunk = load_fuzzy_run(path)
    fa = FootAnalyzer(Foot.UNKNOWN, config)
    strides = fa.push(chunk) + fa.finish()
    moving = chunk.t_s[np.linalg.norm(chunk.gyr_radps, axis=1) > 3.0]
    start, stop = float(moving[0]), float(moving[-1])
    cad = np.array([s.cadence_spm for s in strides])
    swings = np.array([])
    if fa.alignment_ is not None:
        swings = swing_times_s(chunk, fa.alignment_.r_fs_)
    diffs: list[float] = []
    vs_swings: list[float] = []
    spectral_vs_swings: list[float] = []
    # 20 s windows every 5 s over the running part (5 s margins for the start and stop).
    for w in np.arange(start + 5.0, stop - 25.0 + 1e-9, 5.0):
        sc = stride_cadence_spm(strides, w, w + 20.0)
        if np.isfinite(sc):
            spectral = spectral_cadence_spm(chunk, w, w + 20.0)
            diffs.append(sc - spectral)
            # The second reference: the swing peaks' own timing, same weighting. Where the
            # cadence changes inside the window the spectral peak follows the steadiest
            # part, not the mean; this one measures the mean like the strides.
            swing = swing_cadence_spm(swings, w, w + 20.0)
            vs_swings.append(sc - swing)
            spectral_vs_swings.append(spectral - swing)
    expected = (stop - start) * float(np.median(cad)) / 120.0 if len(cad) else float("nan")
    ct = np.array([s.contact_time_s for s in strides])
    fsa = np.array(
        [s.foot_strike_angle_deg for s in strides if s.foot_strike_angle_deg is not None]
    )
    holes = [b.ic_s - a.end_ic_s for a, b in itertools.pairwise(strides)]
    swings = swings[(swings > start) & (swings < stop)]
    one = [np.sum((swings >= s.ic_s) & (swings <= s.end_ic_s)) == 1 for s in strides]
    return {
        "swings": float(len(swings)),
        "one_swing_pct": 100.0 * float(np.mean(one)) if one else float("nan"),
        "strides": float(len(strides)),
        "first_ic_after_start_s": strides[0].ic_s - start if strides else float("nan"),
        "last_ic_before_stop_s": stop - strides[-1].end_ic_s if strides else float("nan"),
        "longest_hole_s": float(max(holes)) if holes else float("nan"),
        "expected_strides": expected,
        "gaps": float(len(fa.gaps_)),
        "cadence_median_spm": float(np.median(cad)) if len(cad) else float("nan"),
        "cadence_iqr_spm": float(np.subtract(*np.percentile(cad, [75, 25])))
        if len(cad)
        else float("nan"),
        "cadence_vs_spectral_max_abs_spm": _max_abs(diffs),
        "cadence_vs_spectral_median_abs_spm": _median_abs(diffs),
        "cadence_vs_swings_max_abs_spm": _max_abs(vs_swings),
        "cadence_vs_swings_median_abs_spm": _median_abs(vs_swings),
        "spectral_vs_swings_max_abs_spm": _max_abs(spectral_vs_swings),
        "windows": float(len(diffs)),
        "contact_p10_s": float(np.percentile(ct, 10)) if len(ct) else float("nan"),
        "contact_p50_s": float(np.percentile(ct, 50)) if len(ct) else float("nan"),
        "contact_p90_s": float(np.percentile(ct, 90)) if len(ct) else float("nan"),
        "strike_p10_deg": float(np.percentile(fsa, 10)) if len(fsa) else float("nan"),
        "strike_p50_deg": float(np.percentile(fsa, 50)) if len(fsa) else float("nan"),
        "strike_p90_deg": float(np.percentile(fsa, 90)) if len(fsa) else float("nan"),
        "saturated_samples": float(fa.rejected_.saturated),
    }


IPOL_TOLERANCE_S = 0.15
"""An estimate within this of an annotated event matches it (one to one)."""


@dataclass
class EventCount:
    """Recall and false detections of one event kind in one set of swings."""

    truth: int = 0
    found: int = 0
    false: int = 0
    errors_s: list[float] = field(default_factory=list)

    @property
    def recall_pct(self) -> float:
        return 100.0 * self.found / self.truth if self.truth else float("nan")

    @property
    def false_pct(self) -> float:
        total = self.found + self.false
        return 100.0 * self.false / total if total else 0.0

    def add(self, err: FloatArray, false: int, rows: np.ndarray) -> None:
        e = err[rows]
        self.truth += len(e)
        self.found += int(np.isfinite(e).sum())
        self.false += false
        self.errors_s += e[np.isfinite(e)].tolist()


@dataclass
class IpolCategory:
    ic: EventCount = field(default_factory=EventCount)
    to: EventCount = field(default_factory=EventCount)


IPOL_CATEGORIES = ("all", "first", "last", "turn", "after stop", "steady", "aged 60+")
"""Rows of the ipol-walking-dev table: every swing; each foot's first and last swing of a
trial; swings within the U-turn boundaries; swings after the trial's end (walking away);
the remaining straight walking; every swing of subjects aged 60 and over."""


@dataclass
class IpolReport:
    categories: dict[str, IpolCategory]
    feet: int
    flipped_feet: list[str]
    """Feet whose contacts land on the annotated toe-offs (a frame turned 180 deg)."""
    unconfident_feet: list[str]
    per_foot: list[tuple[str, str, int, int, int, int, int]]
    """(trial, foot, swings, IC found, TO found, IC false, TO false)."""
    misses: dict[str, Counter[str]] = field(default_factory=dict)
    """Per event ("IC", "TO"): annotated events not matched, counted by
    :data:`MISS_REASONS`."""


MISS_REASONS = (
    "no swing, peak rate < 2.5 rad/s",
    "no swing, peak rate >= 2.5 rad/s",
    "no swing, samples lost",
    "swing, event > 150 ms early",
    "swing, event > 150 ms late",
    "swing, no event",
)
"""Why an annotated event has no match: the engine gives no swing over the annotated one
(its fastest rotation below the stance energy's 2.5 rad/s scale, faster, or a gap in the
samples), or a swing whose event is too early, too late or missing."""


def _miss_reason(
    row: FloatArray,
    event: str,
    swings: Sequence[SwingRecord],
    chunk: ImuChunk,
    max_dt_s: float,
) -> str:
    """The :data:`MISS_REASONS` entry of one unmatched annotated event (``row``: toe-off,
    contact)."""
    to_a, ic_a = float(row[0]), float(row[1])
    tol = IPOL_TOLERANCE_S
    over = [
        s
        for s in swings
        if (s.to_s if s.to_s is not None else s.start_s) < ic_a + tol
        and (s.ic_s if s.ic_s is not None else s.end_s) > to_a - tol
    ]
    if not over:
        m = (chunk.t_s >= to_a - 0.3) & (chunk.t_s <= ic_a + 0.3)
        if m.sum() > 1 and float(np.max(np.diff(chunk.t_s[m]))) > max_dt_s:
            return MISS_REASONS[2]
        inside = (chunk.t_s >= to_a) & (chunk.t_s <= ic_a)
        peak = float(np.max(np.linalg.norm(chunk.gyr_radps[inside], axis=1), initial=0.0))
        return MISS_REASONS[0] if peak < 2.5 else MISS_REASONS[1]
    near = min(over, key=lambda s: abs(s.ms_s - 0.5 * (to_a + ic_a)))
    est = near.ic_s if event == "IC" else near.to_s
    if est is None:
        return MISS_REASONS[5]
    return MISS_REASONS[4] if est > (ic_a if event == "IC" else to_a) else MISS_REASONS[3]


def _categories(trial: IpolTrial, foot: Foot) -> dict[str, np.ndarray]:
    ev = trial.events[foot]
    n = len(ev)
    idx = np.arange(n)
    turn = (ev[:, 1] >= trial.uturn_s[0]) & (ev[:, 0] <= trial.uturn_s[1])
    after = ev[:, 0] > trial.trial_s[1]
    first = idx == 0
    last = idx == n - 1
    steady = ~(turn | after | first | last)
    cats = {
        "all": idx,
        "first": idx[first],
        "last": idx[last],
        "turn": idx[turn],
        "after stop": idx[after],
        "steady": idx[steady],
    }
    if trial.age >= 60:
        cats["aged 60+"] = idx
    return cats


def ipol_reference(folder: Path, config: GaitConfig = DEFAULT_CONFIG) -> IpolReport:
    """ipol-walking-dev: recall and false detections of IC and TO per category (swings of
    the engine matched one to one to the annotations within 150 ms)."""
    cats = {c: IpolCategory() for c in IPOL_CATEGORIES}
    flipped: list[str] = []
    unconfident: list[str] = []
    per_foot: list[tuple[str, str, int, int, int, int, int]] = []
    feet = 0
    misses: dict[str, Counter[str]] = {"IC": Counter(), "TO": Counter()}
    for name in ipol_trial_names(folder):
        trial = load_ipol_trial(folder, name)
        res = analyze_all(trial.imu, config=config)
        for foot, ev in trial.events.items():
            feet += 1
            swings = [s for s in res.swings if s.foot is foot]
            ics = np.array([s.ic_s for s in swings if s.ic_s is not None])
            tos = np.array([s.to_s for s in swings if s.to_s is not None])
            ic_err, ic_false = match_one_to_one(ev[:, 1], ics, IPOL_TOLERANCE_S)
            to_err, to_false = match_one_to_one(ev[:, 0], tos, IPOL_TOLERANCE_S)
            on_to, _ = match_one_to_one(ev[:, 0], ics, IPOL_TOLERANCE_S)
            if np.isfinite(on_to).sum() > np.isfinite(ic_err).sum():
                flipped.append(f"{name} {foot}")
            fa = res.analyzer.feet_[foot]
            if fa.alignment_ is None or not fa.alignment_.confident_:
                unconfident.append(f"{name} {foot}")
            # The engine's own gap rule: a time step above max_dt_factor nominal periods.
            assert fa.rate_hz_ is not None
            max_dt_s = config.max_dt_factor / fa.rate_hz_
            for event, err in (("IC", ic_err), ("TO", to_err)):
                for i in np.flatnonzero(~np.isfinite(err)):
                    reason = _miss_reason(ev[i], event, swings, trial.imu[foot], max_dt_s)
                    misses[event][reason] += 1
            for cat, rows in _categories(trial, foot).items():
                whole = cat in ("all", "aged 60+")
                cats[cat].ic.add(ic_err, ic_false if whole else 0, rows)
                cats[cat].to.add(to_err, to_false if whole else 0, rows)
            per_foot.append(
                (
                    name,
                    str(foot),
                    len(ev),
                    int(np.isfinite(ic_err).sum()),
                    int(np.isfinite(to_err).sum()),
                    ic_false,
                    to_false,
                )
            )
    return IpolReport(cats, feet, flipped, unconfident, per_foot, misses)


def swings_of(records: Sequence[SwingRecord], foot: Foot) -> list[SwingRecord]:
    """The swings of one foot, in order."""
    return [s for s in records if s.foot is foot]


WALKING_PROFILES = ("slow-walker", "walk-knocks", "start-stop", "u-turns", "walk-trials")
"""The simulator's walking conditions (docs/simulator.md): slow walking with a pause after
toe-off, knocks and scuffs and a brake before landing, starts and stops, U-turns with pivot
steps, and the real data sets' protocol."""


@dataclass
class SimulatedWalking:
    """The engine's swings against the simulator's per-swing truth (both feet)."""

    kinds: dict[str, IpolCategory]
    """Per truth swing kind (normal, initiation, termination, turn, pivot)."""
    all: IpolCategory
    flipped_feet: int
    knocked: EventCount
    """IC of swings carrying a knock or a scuff."""


def simulated_walking(
    profile: str,
    minutes: float,
    rate_hz: float,
    seed: int,
    config: GaitConfig = DEFAULT_CONFIG,
) -> SimulatedWalking:
    """A walking profile recorded with a random mounting per foot (seeded), analysed, and
    its swings matched one to one to the truth within 150 ms."""
    from firmware_sim.mounting import random_mountings
    from firmware_sim.recording import record

    rec = record(profile, minutes, rate_hz, seed, mounting=random_mountings(seed + 1000))
    res = analyze_all(rec.imu, config=config)
    kinds: dict[str, IpolCategory] = {}
    everything = IpolCategory()
    knocked = EventCount()
    flipped = 0
    for foot in (Foot.LEFT, Foot.RIGHT):
        truth = [s for s in rec.swings if s.foot is foot]
        est = [s for s in res.swings if s.foot is foot]
        ic_err, ic_false = match_one_to_one(
            np.array([s.ic_s for s in truth]),
            np.array([s.ic_s for s in est if s.ic_s is not None]),
            IPOL_TOLERANCE_S,
        )
        to_err, to_false = match_one_to_one(
            np.array([s.to_s for s in truth]),
            np.array([s.to_s for s in est if s.to_s is not None]),
            IPOL_TOLERANCE_S,
        )
        rows = np.arange(len(truth))
        everything.ic.add(ic_err, ic_false, rows)
        everything.to.add(to_err, to_false, rows)
        for kind in {s.kind.value for s in truth}:
            sel = np.array([i for i, s in enumerate(truth) if s.kind.value == kind])
            cat = kinds.setdefault(kind, IpolCategory())
            cat.ic.add(ic_err, 0, sel)
            cat.to.add(to_err, 0, sel)
        hit = np.array([i for i, s in enumerate(truth) if s.knock_s or s.scuff_s], dtype=int)
        knocked.add(ic_err, 0, hit)
        align = res.analyzer.feet_[foot].alignment_
        if align is None or float(align.r_fs_[0] @ rec.r_fs(foot)[0]) < 0:
            flipped += 1
    return SimulatedWalking(kinds, everything, flipped, knocked)
