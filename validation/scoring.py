"""Matching estimates to references, and cadence estimates independent of the engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from gaitcoach.types import FloatArray, Foot, ImuChunk, StrideRecord, classify_strike


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


def match_one_to_one(
    truth_s: FloatArray, est_s: FloatArray, tolerance_s: float
) -> tuple[FloatArray, int]:
    """Match events one to one, closest pairs first, within ``tolerance_s``.

    Returns the signed error ``est - truth`` of each truth event (NaN: missed) and the number
    of estimates left unmatched (false detections).
    """
    truth = np.asarray(truth_s, dtype=float)
    est = np.sort(np.asarray(est_s, dtype=float))
    err = np.full(len(truth), np.nan)
    if not len(truth) or not len(est):
        return err, len(est)
    d = est[None, :] - truth[:, None]
    ti, ej = np.nonzero(np.abs(d) <= tolerance_s)
    order = np.argsort(np.abs(d[ti, ej]), kind="stable")
    used_t: set[int] = set()
    used_e: set[int] = set()
    for k in order.tolist():
        i, j = int(ti[k]), int(ej[k])
        if i in used_t or j in used_e:
            continue
        used_t.add(i)
        used_e.add(j)
        err[i] = d[i, j]
    return err, len(est) - len(used_e)
