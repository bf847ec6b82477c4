"""Validation helpers: loaders for the public reference recordings, event matching and
independent cadence estimates (used by tests and ``bench/accuracy.py``)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.gait.config import DEFAULT_CONFIG, GaitConfig
from gaitcoach.gait.foot import FootAnalyzer
from gaitcoach.types import FloatArray, Foot, ImuChunk, StrideRecord, classify_strike

GAITMAP_RATE_HZ = 204.8
MOCAP_RATE_HZ = 100.0


@dataclass(frozen=True, slots=True)
class MocapStride:
    """One stride of the gaitmap example with motion-capture events (seconds, metres)."""

    foot: Foot
    start_s: float
    """Mid-stance (minimum velocity) that starts the stride."""
    end_s: float
    ic_s: float
    to_s: float
    length_m: float
    """Horizontal heel-marker displacement between the two mid-stances."""


@dataclass(frozen=True, slots=True)
class WalkingReference:
    imu: dict[Foot, ImuChunk]
    strides: list[MocapStride]


def load_gaitmap_walking(folder: Path) -> WalkingReference:
    """Load ``gaitmap-walking`` (IMU in m/s^2 and deg/s, foot frame; mocap in mm)."""
    rows = list(csv.reader((folder / "imu_sample.csv").open()))
    sensors, axes, data = rows[0], rows[1], np.array(rows[2:], dtype=float)
    t = np.arange(len(data)) / GAITMAP_RATE_HZ
    imu: dict[Foot, ImuChunk] = {}
    for foot in (Foot.LEFT, Foot.RIGHT):
        name = f"{foot}_sensor"
        col = {a: i for i, (s, a) in enumerate(zip(sensors, axes, strict=True)) if s == name}
        acc = data[:, [col["acc_x"], col["acc_y"], col["acc_z"]]]
        gyr = np.radians(data[:, [col["gyr_x"], col["gyr_y"], col["gyr_z"]]])
        imu[foot] = ImuChunk(foot, t, acc, gyr)
    mrows = list(csv.reader((folder / "mocap_sample.csv").open()))
    markers, maxes, mdata = mrows[0], mrows[1], np.array(mrows[2:], dtype=float)
    strides: list[MocapStride] = []
    for row in csv.DictReader((folder / "stride_events_sample.csv").open()):
        foot = Foot(row["foot"])
        side = "L" if foot is Foot.LEFT else "R"
        heel = {maxes[i]: i for i, m in enumerate(markers) if m == f"{side}_FCC"}
        xy = mdata[:, [heel["x"], heel["y"]]] / 1000.0
        start_s = float(row["start"]) / GAITMAP_RATE_HZ
        end_s = float(row["end"]) / GAITMAP_RATE_HZ
        i0, i1 = round(start_s * MOCAP_RATE_HZ), round(end_s * MOCAP_RATE_HZ)
        if i1 >= len(xy):
            continue
        strides.append(
            MocapStride(
                foot=foot,
                start_s=start_s,
                end_s=end_s,
                ic_s=float(row["ic"]) / GAITMAP_RATE_HZ,
                to_s=float(row["tc"]) / GAITMAP_RATE_HZ,
                length_m=float(np.hypot(*(xy[i1] - xy[i0]))),
            )
        )
    return WalkingReference(imu=imu, strides=strides)


def load_fuzzy_run(path: Path, foot: Foot = Foot.UNKNOWN) -> ImuChunk:
    """Load one ``fuzzy-run`` CSV (time in ms, acc in g, gyro in deg/s) as SI units.

    Duplicate or backward timestamps are kept: the engine's input checks deal with them.
    """
    data = np.genfromtxt(path, delimiter=",", names=True)
    t = data["time"] / 1000.0
    acc = np.column_stack([data["aX"], data["aY"], data["aZ"]]) * G_MPS2
    gyr = np.radians(np.column_stack([data["gX"], data["gY"], data["gZ"]]))
    return ImuChunk(foot, t.astype(np.float64), acc, gyr)


def match_events(truth_s: FloatArray, est_s: FloatArray, tolerance_s: float) -> FloatArray:
    """Signed errors ``est - truth`` for each truth event with an estimate within tolerance
    (nearest estimate; NaN where none)."""
    est = np.sort(np.asarray(est_s, dtype=float))
    out = np.full(len(truth_s), np.nan)
    if est.size == 0:
        return out
    for i, x in enumerate(truth_s):
        j = int(np.searchsorted(est, x))
        cands = [k for k in (j - 1, j) if 0 <= k < est.size]
        k = min(cands, key=lambda k: abs(est[k] - x))
        if abs(est[k] - x) <= tolerance_s:
            out[i] = est[k] - x
    return out


def spectral_cadence_spm(chunk: ImuChunk, start_s: float, end_s: float) -> float:
    """Cadence from the spectrum of the gyro norm of one foot (its stride frequency x 2).

    Independent of event detection: the angular-rate magnitude is resampled to a uniform
    100 Hz grid over ``[start_s, end_s]``, its mean removed, Hann-windowed and zero-padded to
    2^20 points (0.0001 Hz bins); the highest peak in the 0.6-1.8 Hz stride band is refined
    by a parabola through the log power of the three bins around it.
    """
    m = (chunk.t_s >= start_s) & (chunk.t_s <= end_s)
    t = chunk.t_s[m]
    g = np.linalg.norm(chunk.gyr_radps[m], axis=1)
    fs = 100.0
    grid = np.arange(start_s, end_s, 1.0 / fs)
    x = np.interp(grid, t, g)
    x = (x - x.mean()) * np.hanning(len(x))
    nfft = 1 << 20
    power = np.abs(np.fft.rfft(x, nfft)) ** 2
    f = np.fft.rfftfreq(nfft, 1.0 / fs)
    band = np.flatnonzero((f >= 0.6) & (f <= 1.8))
    k = int(band[np.argmax(power[band])])
    y0, y1, y2 = np.log(power[k - 1 : k + 2])
    shift = 0.5 * (y0 - y2) / (y0 - 2.0 * y1 + y2)
    return float(120.0 * (f[k] + shift * (f[1] - f[0])))


def swing_times_s(chunk: ImuChunk, r_fs: FloatArray) -> FloatArray:
    """Times of the swing phases of one foot, independent of the engine's events: peaks of
    the toes-up rotation rate.

    ``gyr_ml`` (the sensor rate turned into the foot frame by ``r_fs``; only the mounting is
    taken from the engine) is resampled to a uniform 100 Hz grid and low-passed at 6 Hz
    (2nd-order Butterworth, forward-backward); every peak of ``-gyr_ml`` above 3 rad/s with a
    prominence of 3 rad/s and at least 0.3 s from the previous one is a swing. Each stride
    holds exactly one.
    """
    from scipy.signal import butter, find_peaks, sosfiltfilt

    fs = 100.0
    grid = np.arange(chunk.t_s[0], chunk.t_s[-1], 1.0 / fs)
    gml = np.interp(grid, chunk.t_s, chunk.gyr_radps @ np.asarray(r_fs)[1])
    smooth = sosfiltfilt(butter(2, 6.0, fs=fs, output="sos"), gml)
    peaks, _ = find_peaks(-smooth, height=3.0, prominence=3.0, distance=round(0.3 * fs))
    return grid[peaks]


def _hann_cadence_spm(
    start_s: FloatArray, duration_s: FloatArray, window_start_s: float, window_end_s: float
) -> float:
    """Mean stride frequency x 2 of the strides ``[start, start + duration]`` inside the
    window, weighted by each stride's duration and the Hann window at its midpoint (so a
    cadence drift inside the window weighs like in the spectrum). NaN without strides."""
    inside = (start_s >= window_start_s) & (start_s + duration_s <= window_end_s)
    if not inside.any():
        return float("nan")
    dur = duration_s[inside]
    mid = start_s[inside] + 0.5 * dur
    weight = np.sin(np.pi * (mid - window_start_s) / (window_end_s - window_start_s)) ** 2 * dur
    return float(120.0 * np.sum(weight / dur) / np.sum(weight))


def stride_cadence_spm(strides: Sequence[StrideRecord], start_s: float, end_s: float) -> float:
    """Cadence of the strides inside ``[start_s, end_s]`` with the spectral estimate's time
    weighting (Hann at each stride's midpoint x its duration). NaN without strides."""
    ic = np.array([s.ic_s for s in strides])
    dur = np.array([s.stride_time_s for s in strides])
    return _hann_cadence_spm(ic, dur, start_s, end_s)


def swing_cadence_spm(swings_s: FloatArray, start_s: float, end_s: float) -> float:
    """Cadence of one foot's swing-to-swing intervals inside ``[start_s, end_s]``
    (:func:`swing_times_s`, independent of the events) with the same weighting as
    :func:`stride_cadence_spm`. NaN with fewer than two swings."""
    return _hann_cadence_spm(swings_s[:-1], np.diff(swings_s), start_s, end_s)


class TruthLike(Protocol):
    """What scoring needs from a truth stride (``firmware_sim.trajectory.TruthStride``)."""

    @property
    def foot(self) -> Foot: ...

    @property
    def ic_s(self) -> float: ...

    @property
    def to_s(self) -> float: ...

    @property
    def end_ic_s(self) -> float: ...

    @property
    def contact_time_s(self) -> float: ...

    @property
    def stride_time_s(self) -> float: ...

    @property
    def cadence_spm(self) -> float: ...

    @property
    def stride_length_m(self) -> float: ...

    @property
    def speed_mps(self) -> float: ...

    @property
    def foot_strike_angle_deg(self) -> float: ...

    @property
    def landing_distance_m(self) -> float: ...


@dataclass(frozen=True)
class Score:
    """Engine output against truth (matched one-to-one by foot and initial contact)."""

    n_truth: int
    n_found: int
    n_false: int
    ic_err_samples: FloatArray
    to_err_samples: FloatArray
    contact_err_s: FloatArray
    strike_err_deg: FloatArray
    strike_class_ok: np.ndarray
    length_rel_err: FloatArray
    speed_rel_err: FloatArray
    cadence_window_err_spm: FloatArray
    """Per 30 s window: mean estimated minus mean true cadence (windows with >= 10 strides)."""
    overstride_m: FloatArray
    landing_m: FloatArray

    @property
    def found_pct(self) -> float:
        return 100.0 * self.n_found / self.n_truth if self.n_truth else 100.0

    @property
    def false_pct(self) -> float:
        total = self.n_found + self.n_false
        return 100.0 * self.n_false / total if total else 0.0


def _abs_stat(x: FloatArray, q: float) -> float:
    return float(np.percentile(np.abs(x), q)) if len(x) else float("nan")


def median_abs(x: FloatArray) -> float:
    return _abs_stat(x, 50)


def p95_abs(x: FloatArray) -> float:
    return _abs_stat(x, 95)


def score(
    truth: Sequence[TruthLike],
    strides: Sequence[StrideRecord],
    rate_hz: float,
    tolerance_s: float = 0.1,
    window_s: float = 30.0,
) -> Score:
    """Match strides to truth and collect the errors (see docs/validation.md)."""
    pairs: list[tuple[TruthLike, StrideRecord]] = []
    n_false = 0
    for foot in {t.foot for t in truth} | {s.foot for s in strides}:
        tr = sorted((t for t in truth if t.foot is foot), key=lambda t: t.ic_s)
        es = sorted((s for s in strides if s.foot is foot), key=lambda s: s.ic_s)
        t_ic = np.array([t.ic_s for t in tr])
        used: set[int] = set()
        for s in es:
            if not len(t_ic):
                n_false += 1
                continue
            j = int(np.argmin(np.abs(t_ic - s.ic_s)))
            if abs(t_ic[j] - s.ic_s) <= tolerance_s and j not in used:
                used.add(j)
                pairs.append((tr[j], s))
            else:
                n_false += 1

    def arr(values: list[float]) -> FloatArray:
        return np.array(values, dtype=float)

    ic = arr([(s.ic_s - t.ic_s) * rate_hz for t, s in pairs])
    to = arr([(s.to_s - t.to_s) * rate_hz for t, s in pairs])
    ct = arr([s.contact_time_s - t.contact_time_s for t, s in pairs])
    with_angle = [(t, s) for t, s in pairs if s.foot_strike_angle_deg is not None]
    strike = arr([s.foot_strike_angle_deg - t.foot_strike_angle_deg for t, s in with_angle])  # type: ignore[operator]
    cls_ok = np.array(
        [s.strike_pattern == classify_strike(t.foot_strike_angle_deg) for t, s in with_angle],
        dtype=bool,
    )
    spatial = [
        (t, s) for t, s in pairs if s.stride_length_m is not None and s.speed_mps is not None
    ]
    length = arr([s.stride_length_m / t.stride_length_m - 1.0 for t, s in spatial])  # type: ignore[operator]
    speed = arr([s.speed_mps / t.speed_mps - 1.0 for t, s in spatial])  # type: ignore[operator]
    cad: list[float] = []
    if truth:
        t0 = min(t.ic_s for t in truth)
        t1 = max(t.end_ic_s for t in truth)
        for w in np.arange(t0, t1 - window_s + 1e-9, window_s):
            tw = [t.cadence_spm for t in truth if w <= t.ic_s < w + window_s]
            ew = [s.cadence_spm for s in strides if w <= s.ic_s < w + window_s]
            if len(tw) >= 10 and len(ew) >= 10:
                cad.append(float(np.mean(ew) - np.mean(tw)))
    over = [(t, s) for t, s in pairs if s.overstride_m is not None]
    return Score(
        n_truth=len(truth),
        n_found=len(pairs),
        n_false=n_false,
        ic_err_samples=ic,
        to_err_samples=to,
        contact_err_s=ct,
        strike_err_deg=strike,
        strike_class_ok=cls_ok,
        length_rel_err=length,
        speed_rel_err=speed,
        cadence_window_err_spm=arr(cad),
        overstride_m=arr([s.overstride_m for _, s in over]),  # type: ignore[misc]
        landing_m=arr([t.landing_distance_m for t, _ in over]),
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
    def length_m(self) -> float: ...


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
            if abs(starts[j] - s.start_s) < 0.3:
                len_err.append(ss[j].length_m / s.length_m - 1.0)
    return ic_err, to_err, len_err


def walking_reference(folder: Path, config: GaitConfig = DEFAULT_CONFIG) -> dict[str, float]:
    """gaitmap-walking: IC/TO against motion capture, stride length against the heel marker."""
    ref = load_gaitmap_walking(folder)
    fas = {foot: FootAnalyzer(foot, config) for foot in ref.imu}
    for foot, fa in fas.items():
        fa.push(ref.imu[foot])
        fa.finish()
    # Final contact times (walking strides: end of the terminal-swing dorsiflexion).
    ic_err, to_err, len_err = walking_errors(
        ref, {f: fa.segments_ for f, fa in fas.items()}, {f: fa.ic_times() for f, fa in fas.items()}
    )
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
    fa.push(chunk)
    fa.finish()
    strides = fa.strides_
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
