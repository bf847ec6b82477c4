"""The readable numpy reference of the per-segment measurement (gaitcoach.gait.kernels).

The same algorithms as the compiled kernel, written plainly for one segment at a time, so
the kernel can be tested against them (tests/gait/test_kernels.py). Not fast: tests only.
"""

from __future__ import annotations

import math

import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.gait.kernels import SEGMENT_FIELDS
from gaitcoach.types import FloatArray


def _quat_mul(p: FloatArray, q: FloatArray) -> FloatArray:
    w0, x0, y0, z0 = p
    w1, x1, y1, z1 = q
    return np.array(
        [
            w0 * w1 - x0 * x1 - y0 * y1 - z0 * z1,
            w0 * x1 + x0 * w1 + y0 * z1 - z0 * y1,
            w0 * y1 - x0 * z1 + y0 * w1 + z0 * x1,
            w0 * z1 + x0 * y1 - y0 * x1 + z0 * w1,
        ]
    )


def rotate(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vector(s) ``v`` (..., 3) by unit quaternion(s) ``q`` (..., 4)."""
    w = q[..., 0:1]
    u = q[..., 1:4]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def tilt_quat(rest: FloatArray) -> FloatArray:
    """Zero-yaw orientation turning the rest specific force to world up."""
    roll = math.atan2(rest[1], rest[2])
    pitch = math.atan2(-rest[0], math.hypot(rest[1], rest[2]))
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    q = np.array([cp * cr, cp * sr, sp * cr, -sp * sr])
    return q / np.linalg.norm(q)


def strapdown(
    t: FloatArray, acc: FloatArray, gyr: FloatArray, rest: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Orientation (n, 4), de-drifted velocity (n, 3), position (n, 3) and height de-drifted
    to end level (n,) of one segment (ZUPT at both ends)."""
    n = len(t)
    quat = np.empty((n, 4))
    quat[0] = tilt_quat(rest)
    for i in range(1, n):
        dt = t[i] - t[i - 1]
        w = 0.5 * (gyr[i] + gyr[i - 1])
        ang = float(np.linalg.norm(w)) * dt
        k = math.sin(ang / 2) / ang * dt if ang > 0 else 0.5 * dt
        dq = np.array([math.cos(ang / 2), *(w * k)])
        q = _quat_mul(quat[i - 1], dq)
        quat[i] = q / np.linalg.norm(q)
    acc_w = rotate(quat, acc)
    acc_w[:, 2] -= G_MPS2
    dt = np.diff(t)
    vel = np.zeros((n, 3))
    vel[1:] = np.cumsum(0.5 * (acc_w[1:] + acc_w[:-1]) * dt[:, None], axis=0)
    frac = (t - t[0]) / max(t[-1] - t[0], 1e-9)
    vel -= frac[:, None] * vel[-1]
    pos = np.zeros((n, 3))
    pos[1:] = np.cumsum(0.5 * (vel[1:] + vel[:-1]) * dt[:, None], axis=0)
    height = pos[:, 2] - frac * pos[-1, 2]
    return quat, vel, pos, height


def impact_onset(
    t: FloatArray, acc: FloatArray, lo: int, hi: int, fraction: float, rise_s: float
) -> int:
    t, acc = t[:hi], acc[:hi]
    n = len(t)
    lo = max(lo, 2)
    if lo >= n:
        return -1
    h1 = t[lo:] - t[lo - 1 : -1]
    h0 = t[lo - 1 : -1] - t[lo - 2 : -2]
    ratio = np.where(h0 > 0, h1 / np.where(h0 > 0, h0, 1.0), 1.0)
    d2 = acc[lo:] - acc[lo - 1 : -1] - (acc[lo - 1 : -1] - acc[lo - 2 : -2]) * ratio[:, None]
    scale = np.where(h1 > 0, 1.0 / np.where(h1 > 0, h1 * (h1 + h0), 1.0), 0.0)
    jerk = np.linalg.norm(d2, axis=1) * scale
    peak = int(np.argmax(jerk))
    near = t[lo + peak] - t[lo:] <= rise_s
    near[peak:] = True
    hits = np.flatnonzero(near & (jerk >= fraction * jerk.max()))
    return lo + int(hits[0]) if len(hits) else -1


def toe_off(
    t: FloatArray,
    gyr: FloatArray,
    quat: FloatArray,
    vel: FloatArray,
    ms: int,
    levels: tuple[float, float, float],
    heel_off_fraction: float,
) -> float:
    """Pivot-model toe-off in fractional samples (NaN if none)."""
    if ms <= 0:
        return math.nan
    w = gyr[:ms, 1]
    peak = int(np.argmax(w))
    vf = rotate(quat[:ms] * np.array([1.0, -1.0, -1.0, -1.0]), vel[:ms])
    heel = (np.arange(ms) <= peak) & (w > heel_off_fraction * w[peak])
    ww = float(np.sum(w[heel] ** 2)) or 1.0
    lx = float(np.sum(vf[heel, 2] * w[heel])) / ww
    lz = -float(np.sum(vf[heel, 0] * w[heel])) / ww
    lever = np.array([lx, 0.0, lz])
    toe = np.linalg.norm(vf + np.cross(gyr[:ms], lever), axis=1)
    lo = peak + 1
    if lo < ms and toe[lo] > levels[0]:
        return float(peak)
    crossings = []
    for level in levels:
        hit = np.flatnonzero(toe[lo:] > level)
        if not len(hit):
            crossings.append(math.nan)
            continue
        i = lo + int(hit[0])
        s0, s1 = toe[i - 1], toe[i]
        fr = (level - s0) / (s1 - s0 if s1 > s0 else 1.0)
        crossings.append(i - 1 + min(max(fr, 0.0), 1.0))
    ta, tb, tc = crossings
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (tc - tb) / (tb - ta)
    if m == m:
        m = min(max(m, 1.2), 10.0)
    if not (math.isfinite(ta) and math.isfinite(tc)):
        return math.nan
    inv_p = math.log(m) / math.log(levels[1] / levels[0])
    idx = np.arange(lo, ms)
    use = idx[(idx >= math.floor(ta)) & (idx <= math.ceil(tc))]
    y = np.maximum(toe[use], 0.0) ** inv_p
    if len(use) >= 3:
        slope, intercept = np.polyfit(use.astype(float), y, 1)
        if slope > 0:
            return max(-intercept / slope, float(peak))
    to = (m * ta - tb) / (m - 1.0)
    return max(to, float(peak)) if math.isfinite(to) else math.nan


def measure_segment(
    t: FloatArray,
    acc_s: FloatArray,
    gyr_s: FloatArray,
    rest_s: FloatArray,
    rest_end_s: FloatArray,
    r: FloatArray,
    swing: tuple[int, int],
    ic_from: int,
    ic_until: int,
    *,
    flat_max_tilt_deg: float,
    onset_fraction: float,
    rise_s: float,
    levels: tuple[float, float, float],
    heel_off_fraction: float,
    win: int,
    walking_window_s: float,
    onset: int = -1,
) -> dict[str, float]:
    """Every field of :data:`~gaitcoach.gait.kernels.SEGMENT_FIELDS` for one segment.
    ``onset``: a step's first sample of motion (-1: not a step), its toe-off when the pivot
    model finds none."""
    acc = acc_s @ r.T
    gyr = gyr_s @ r.T
    rest, rest_end = r @ rest_s, r @ rest_end_s
    quat, vel, pos, height = strapdown(t, acc, gyr, rest)
    speed = np.linalg.norm(vel, axis=1)
    lo, hi = max(swing[0], 0), min(swing[1], len(t))
    if hi <= lo:
        lo, hi = 0, len(t)
    ms = lo + int(np.argmax(speed[lo:hi]))
    ic = impact_onset(t, acc, max(ms + 1, ic_from), ic_until, onset_fraction, math.inf)
    land = impact_onset(t, acc, max(ms + 1, ic_from), ic_until, onset_fraction, rise_s)
    out = dict.fromkeys(SEGMENT_FIELDS, math.nan)
    out.update(start_s=t[0], end_s=t[-1], ms_s=t[ms])
    if ic > 0:
        ic_t = 0.5 * (t[ic - 1] + t[ic])
        out["ic_impact_s"] = ic_t
        land_t = 0.5 * (t[land - 1] + t[land])
        out["ic_walking_s"] = land_t
        for j in range(land - 2, ms - 1, -1):
            g0, g1 = gyr[j, 1], gyr[j + 1, 1]
            if walking_window_s > 0 and g0 < 0.0 <= g1 and land_t - t[j] <= walking_window_s:
                out["ic_walking_s"] = t[j] + (t[j + 1] - t[j]) * (-g0) / (g1 - g0)
                break
        conj = quat[-1] * np.array([1.0, -1.0, -1.0, -1.0])
        toes = rotate(conj, rotate(quat[ic - 1], np.eye(3)[0]))
        out["strike_deg"] = math.degrees(math.atan2(toes[2], math.hypot(toes[0], toes[1])))
        a_g = np.linalg.norm(acc, axis=1) / G_MPS2
        seg = a_g[ic - 1 : min(ic + win + 1, len(t))]
        j = ic - 1 + int(np.argmax(seg))
        out["peak_impact_g"] = float(a_g[j])
        if j > ic - 1:
            out["loading_rate_gps"] = (a_g[j] - a_g[ic - 1]) / (t[j] - ic_t)
    to = toe_off(t, gyr, quat, vel, ms, levels, heel_off_fraction)
    if not math.isfinite(to) and 0 <= onset < ms:
        to = float(onset)
    if math.isfinite(to):
        k = min(max(int(to), 0), len(t) - 1)
        k1 = min(k + 1, len(t) - 1)
        out["to_s"] = t[k] + (to - k) * (t[k1] - t[k])
    out["length_m"] = math.hypot(pos[-1, 0], pos[-1, 1])
    out["clearance_m"] = float(height.max())
    out["forward_m"] = float(pos[-1, 0])
    cos_tilt = math.cos(math.radians(flat_max_tilt_deg))
    out["flat_start"] = float(rest[2] >= cos_tilt * np.linalg.norm(rest))
    out["flat_end"] = float(rest_end[2] >= cos_tilt * np.linalg.norm(rest_end))
    return out
