"""The per-segment measurement compiled into one kernel (numba).

For every stride segment (one zero-velocity anchor to the next, docs/metrics.md) in one pass:
rotation to the foot frame, strapdown integration with ZUPT de-drifting, mid-swing, impact
onset (IC), toe-off by the pivot model, strike angle, impact peak and loading rate, stride
length, clearance and the walking IC (end of the terminal-swing dorsiflexion).

The algorithms are those of :mod:`gaitcoach.gait.strapdown` and :mod:`gaitcoach.gait.events`
(which stay the readable, vectorised reference and are tested against this kernel); here each
segment is a plain loop over its own samples. A segment's numbers therefore depend on that
segment only, never on which others share the call: streaming equals batch bit for bit.

Why compiled: the integration is a recurrence (each orientation depends on the previous one),
which numpy can only run as a Python loop over samples or in lock-step over padded segments;
both cost far more than the arithmetic (docs/metrics.md, "Speed").
"""

from __future__ import annotations

import math

import numba
import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.types import FloatArray

COLUMNS = (
    "start_s",
    "end_s",
    "to_s",
    "ms_s",
    "ic_s",
    "strike_deg",
    "peak_impact_g",
    "loading_rate_gps",
    "length_m",
    "clearance_m",
    "ic_rotation_s",
    "forward_m",
)
"""Columns of :func:`measure_segments`' result; NaN means "not found" (None)."""

_NAN = math.nan
# sin(h) / (2 h) = sum (-1)^k h^2k / (2 (2k + 1)!), cos(h) = sum (-1)^k h^2k / (2k)!
_S1, _S2, _S3, _S4, _S5 = ((-1) ** k / (2.0 * math.factorial(2 * k + 1)) for k in range(1, 6))
_C1, _C2, _C3, _C4, _C5 = ((-1) ** k / float(math.factorial(2 * k)) for k in range(1, 6))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rot(
    q0: float, q1: float, q2: float, q3: float, vx: float, vy: float, vz: float
) -> tuple[float, float, float]:
    # t = 2 q_vec x v; v' = v + w t + q_vec x t (as strapdown.rotate)
    tx = 2 * (q2 * vz - q3 * vy)
    ty = 2 * (q3 * vx - q1 * vz)
    tz = 2 * (q1 * vy - q2 * vx)
    return (
        vx + q0 * tx + (q2 * tz - q3 * ty),
        vy + q0 * ty + (q3 * tx - q1 * tz),
        vz + q0 * tz + (q1 * ty - q2 * tx),
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _segment(
    t: FloatArray,
    acc_s: FloatArray,
    gyr_s: FloatArray,
    rest_s: FloatArray,
    rest_end_s: FloatArray,
    r: FloatArray,
    cos_tilt: float,
    onset_fraction: float,
    levels: FloatArray,
    heel_off_fraction: float,
    win: int,
    walking_window_s: float,
    ic_from: int,
    out: FloatArray,
) -> None:
    n = t.shape[0]
    acc = np.empty((n, 3))
    gyr = np.empty((n, 3))
    for i in range(n):
        for j in range(3):
            acc[i, j] = r[j, 0] * acc_s[i, 0] + r[j, 1] * acc_s[i, 1] + r[j, 2] * acc_s[i, 2]
            gyr[i, j] = r[j, 0] * gyr_s[i, 0] + r[j, 1] * gyr_s[i, 1] + r[j, 2] * gyr_s[i, 2]
    rest = np.empty(3)
    rest_end = np.empty(3)
    for j in range(3):
        rest[j] = r[j, 0] * rest_s[0] + r[j, 1] * rest_s[1] + r[j, 2] * rest_s[2]
        rest_end[j] = r[j, 0] * rest_end_s[0] + r[j, 1] * rest_end_s[1] + r[j, 2] * rest_end_s[2]
    # A real stance has the foot flat (rest specific force along si).
    flat_start = rest[2] >= cos_tilt * math.sqrt(rest[0] ** 2 + rest[1] ** 2 + rest[2] ** 2)
    flat_end = rest_end[2] >= cos_tilt * math.sqrt(
        rest_end[0] ** 2 + rest_end[1] ** 2 + rest_end[2] ** 2
    )
    dt = np.empty(n)
    dt[0] = 0.0
    for i in range(1, n):
        dt[i] = t[i] - t[i - 1]

    # --- orientation: initial tilt from gravity, first-order update with mid-point rate
    roll = math.atan2(rest[1], rest[2])
    pitch = math.atan2(-rest[0], math.hypot(rest[1], rest[2]))
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    qw, qx, qy, qz = cp * cr, cp * sr, sp * cr, -sp * sr
    quat = np.empty((n, 4))
    nrm = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
    quat[0, 0], quat[0, 1], quat[0, 2], quat[0, 3] = qw / nrm, qx / nrm, qy / nrm, qz / nrm
    for i in range(1, n):
        wx = 0.5 * (gyr[i, 0] + gyr[i - 1, 0])
        wy = 0.5 * (gyr[i, 1] + gyr[i - 1, 1])
        wz = 0.5 * (gyr[i, 2] + gyr[i - 1, 2])
        ang = math.sqrt(wx * wx + wy * wy + wz * wz) * dt[i]
        half = 0.5 * ang
        if half < 0.1:
            # Taylor series of sin(h) / (2 h) and cos(h): exact to double precision for
            # h < 0.1 (next terms < 1e-20) and cheaper than libm's sin and cos.
            h2 = half * half
            k = (0.5 + h2 * (_S1 + h2 * (_S2 + h2 * (_S3 + h2 * (_S4 + h2 * _S5))))) * dt[i]
            dw = 1.0 + h2 * (_C1 + h2 * (_C2 + h2 * (_C3 + h2 * (_C4 + h2 * _C5))))
        else:
            k = math.sin(half) / ang * dt[i]
            dw = math.cos(half)
        dx, dy, dz = wx * k, wy * k, wz * k
        qw, qx, qy, qz = (
            qw * dw + qx * -dx + qy * -dy + qz * -dz,
            qw * dx + qx * dw + qy * dz + qz * -dy,
            qw * dy + qx * -dz + qy * dw + qz * dx,
            qw * dz + qx * dy + qy * -dx + qz * dw,
        )
        nrm = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
        quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3] = qw / nrm, qx / nrm, qy / nrm, qz / nrm

    # --- velocity (trapezoid), linear de-drifting to zero at the end anchor (ZUPT), position
    vel = np.empty((n, 3))
    ax0, ay0, az0 = _rot(
        quat[0, 0], quat[0, 1], quat[0, 2], quat[0, 3], acc[0, 0], acc[0, 1], acc[0, 2]
    )
    az0 -= G_MPS2
    vx = ax0 * 0.0
    vy = ay0 * 0.0
    vz = az0 * 0.0
    vel[0, 0], vel[0, 1], vel[0, 2] = vx, vy, vz
    for i in range(1, n):
        ax, ay, az = _rot(
            quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3], acc[i, 0], acc[i, 1], acc[i, 2]
        )
        az -= G_MPS2
        vx += 0.5 * (ax + ax0) * dt[i]
        vy += 0.5 * (ay + ay0) * dt[i]
        vz += 0.5 * (az + az0) * dt[i]
        vel[i, 0], vel[i, 1], vel[i, 2] = vx, vy, vz
        ax0, ay0, az0 = ax, ay, az
    t_rel = np.empty(n)
    acc_t = 0.0
    for i in range(n):
        acc_t += dt[i]
        t_rel[i] = acc_t
    total = max(t_rel[n - 1], 1e-9)
    ex, ey, ez = vel[n - 1, 0], vel[n - 1, 1], vel[n - 1, 2]
    for i in range(n):
        f = t_rel[i] / total
        vel[i, 0] -= f * ex
        vel[i, 1] -= f * ey
        vel[i, 2] -= f * ez
    px = py = pz = 0.0
    pos_z = np.empty(n)
    pos_z[0] = 0.0
    speed = np.empty(n)
    speed[0] = math.sqrt(vel[0, 0] ** 2 + vel[0, 1] ** 2 + vel[0, 2] ** 2)
    for i in range(1, n):
        px += 0.5 * (vel[i, 0] + vel[i - 1, 0]) * dt[i]
        py += 0.5 * (vel[i, 1] + vel[i - 1, 1]) * dt[i]
        pz += 0.5 * (vel[i, 2] + vel[i - 1, 2]) * dt[i]
        pos_z[i] = pz
        speed[i] = math.sqrt(vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2)
    length_m = math.hypot(px, py)
    clearance = -math.inf
    for i in range(n):
        z = pos_z[i] - t_rel[i] / total * pz
        clearance = max(clearance, z)

    # --- mid-swing (fastest foot), toes-down peak before it
    ms = 0
    for i in range(1, n):
        if speed[i] > speed[ms]:
            ms = i
    to = -1
    for i in range(ms):
        if to < 0 or gyr[i, 1] > gyr[to, 1]:
            to = i

    # --- impact onset: second-difference residual per unit squared time
    jerk = np.zeros(n)
    for i in range(max(ms + 1, 2), n):
        h1, h0 = dt[i], dt[i - 1]
        ratio = h1 / h0 if h0 > 0 else 1.0
        scale = 1.0 / (h1 * (h1 + h0)) if h1 > 0 else 0.0
        s2 = 0.0
        for j in range(3):
            d2 = acc[i, j] - acc[i - 1, j] - (acc[i - 1, j] - acc[i - 2, j]) * ratio
            s2 += d2 * d2
        jerk[i] = math.sqrt(s2) * scale
    # Contact comes after the swing's toes-up rotation is half done (``ic_from``, when the
    # swing is known): an early jerk is never taken for the impact.
    ic_lo = max(ms + 1, ic_from)
    jmax = -math.inf
    for i in range(ic_lo, n):
        jmax = max(jmax, jerk[i])
    ic = -1
    for i in range(ic_lo, n):
        if jerk[i] >= onset_fraction * jmax:
            ic = i
            break

    # --- toe-off: pivot about the toe (lever arm by least squares), power-law extrapolation
    # Foot-frame velocity before mid-swing (the toe-off search window).
    vf = np.empty((ms, 3))
    for i in range(ms):
        vf[i, 0], vf[i, 1], vf[i, 2] = _rot(
            quat[i, 0], -quat[i, 1], -quat[i, 2], -quat[i, 3], vel[i, 0], vel[i, 1], vel[i, 2]
        )
    lx = lz = 0.0
    if to >= 0:
        wpk = gyr[to, 1]
        ww = sxw = szw = 0.0
        for i in range(to + 1):
            w = gyr[i, 1]
            if w > heel_off_fraction * wpk:
                ww += w * w
                sxw += vf[i, 2] * w
                szw += vf[i, 0] * w
        if not ww > 0:
            ww = 1.0
        lx = sxw / ww
        lz = -szw / ww
    lo_i = to + 1
    # Only needed before mid-swing (the toe-off search window).
    toe_speed = np.empty(ms)
    for i in range(ms):
        # w x r with r = (lx, 0, lz), term by term as the reference
        cx = gyr[i, 1] * lz - gyr[i, 2] * 0.0
        cy = gyr[i, 2] * lx - gyr[i, 0] * lz
        cz = gyr[i, 0] * 0.0 - gyr[i, 1] * lx
        ex_, ey_, ez_ = vf[i, 0] + cx, vf[i, 1] + cy, vf[i, 2] + cz
        toe_speed[i] = math.sqrt(ex_**2 + ey_**2 + ez_**2)
    cross = np.empty(3)
    for lv in range(3):
        level = levels[lv]
        cross[lv] = _NAN
        for i in range(max(lo_i, 0), ms):
            if toe_speed[i] > level:
                if i > 0:
                    s0, s1 = toe_speed[i - 1], toe_speed[i]
                    fr = (level - s0) / (s1 - s0 if s1 > s0 else 1.0)
                    fr = min(max(fr, 0.0), 1.0)
                    cross[lv] = i - 1 + fr
                break
    ta, tb, tc = cross[0], cross[1], cross[2]
    m = (tc - tb) / (tb - ta)  # error_model="numpy": x / 0 is inf or NaN, as in numpy
    if m == m:
        m = min(max(m, 1.2), 10.0)
    inv_p = math.log(m) / math.log(levels[1] / levels[0])
    kk = 0
    sx = sy = sxx = sxy = 0.0
    if ta == ta and tc == tc:
        lo = math.floor(ta)
        hi = math.ceil(tc)
        for i in range(max(lo_i, 0), ms):
            if i >= lo and i <= hi:
                yy = max(toe_speed[i], 0.0) ** inv_p
                xx = float(i)
                kk += 1
                sx += xx
                sy += yy
                sxx += xx * xx
                sxy += xx * yy
    slope = (kk * sxy - sx * sy) / (kk * sxx - sx * sx)
    if kk >= 3 and slope > 0:
        intercept = (sy - slope * sx) / kk
        to_pos = -intercept / slope
    else:
        to_pos = (m * ta - tb) / (m - 1.0)
    to_pos = max(to_pos, float(to)) if math.isfinite(to_pos) else _NAN
    if 0 <= lo_i < ms and toe_speed[lo_i] > levels[0]:
        # The toe was never still (a foot that does not rest): no pivot to end; the toe-off
        # is the end of push-off, the toes-down rate peak.
        to_pos = float(to)

    # --- strike angle: toes direction at the sample before the impact, seen from the end
    ici = max(ic, 1)
    ic_q = max(ic - 1, 0)
    a0, a1, a2 = _rot(quat[ic_q, 0], quat[ic_q, 1], quat[ic_q, 2], quat[ic_q, 3], 1.0, 0.0, 0.0)
    last = n - 1
    b0, b1, b2 = _rot(quat[last, 0], -quat[last, 1], -quat[last, 2], -quat[last, 3], a0, a1, a2)
    strike = math.degrees(math.atan2(b2, math.hypot(b0, b1)))
    has_ic = ic > 0 and flat_end
    ic_t = 0.5 * (t[ici - 1] + t[ici])
    # --- impact peak and loading rate
    j_abs = ici - 1
    peak = -math.inf
    for i in range(ici - 1, min(ici + win + 1, n)):
        a = math.sqrt(acc[i, 0] ** 2 + acc[i, 1] ** 2 + acc[i, 2] ** 2) / G_MPS2
        if a > peak:
            peak = a
            j_abs = i
    a_ic = math.sqrt(acc[ici - 1, 0] ** 2 + acc[ici - 1, 1] ** 2 + acc[ici - 1, 2] ** 2) / G_MPS2
    rise = t[j_abs] - ic_t
    has_rate = has_ic and j_abs > ici - 1
    # --- toe-off time (sub-sample)
    has_to = math.isfinite(to_pos) and flat_start
    to_t = _NAN
    if has_to:
        kq = min(max(int(to_pos), 0), n - 1)
        k1 = min(kq + 1, n - 1)
        to_t = t[kq] + (to_pos - kq) * (t[k1] - t[kq])
    # --- walking IC: last gyr_ml zero crossing (toes rising -> falling) before the impact
    ic_rot = _NAN
    if walking_window_s > 0:
        for j in range(ici - 2, ms - 1, -1):
            g0, g1 = gyr[j, 1], gyr[j + 1, 1]
            if g0 < 0.0 and g1 >= 0.0 and (ic_t - t[j]) <= walking_window_s:
                ic_rot = t[j] + (t[j + 1] - t[j]) * (-g0) / (g1 - g0)
                break

    out[0] = t[0]
    out[1] = t[last]
    out[2] = to_t
    out[3] = t[ms]
    out[4] = ic_t if has_ic else _NAN
    out[5] = strike if has_ic else _NAN
    out[6] = peak if has_ic else _NAN
    out[7] = (peak - a_ic) / rise if has_rate else _NAN
    out[8] = length_m
    out[9] = clearance
    out[10] = ic_rot if has_ic else _NAN
    out[11] = px


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _measure_all(
    t: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    starts: np.ndarray,
    stops: np.ndarray,
    rest_start: FloatArray,
    rest_end: FloatArray,
    r: FloatArray,
    cos_tilt: float,
    onset_fraction: float,
    levels: FloatArray,
    heel_off_fraction: float,
    win: int,
    walking_window_s: float,
    ic_from: np.ndarray,
) -> FloatArray:
    s = starts.shape[0]
    out = np.empty((s, 12))
    for k in range(s):
        a, b = starts[k], stops[k]
        _segment(
            t[a:b],
            acc[a:b],
            gyr[a:b],
            rest_start[k],
            rest_end[k],
            r,
            cos_tilt,
            onset_fraction,
            levels,
            heel_off_fraction,
            win,
            walking_window_s,
            ic_from[k],
            out[k],
        )
    return out


def measure_segments(
    t: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    starts: np.ndarray,
    stops: np.ndarray,
    rest_start: FloatArray,
    rest_end: FloatArray,
    r_fs: FloatArray,
    *,
    flat_max_tilt_deg: float,
    impact_onset_fraction: float,
    toe_speed_levels_mps: tuple[float, float, float],
    heel_off_fraction: float,
    impact_window_samples: int,
    walking_ic_window_s: float,
    ic_from: np.ndarray | None = None,
) -> FloatArray:
    """Measure segments (rows ``starts[k]:stops[k]`` of the sample arrays).

    Parameters
    ----------
    t, acc, gyr
        (N,), (N, 3), (N, 3): samples holding every segment (sensor frame, SI).
    starts, stops
        (S,) int64: segment ``k`` is rows ``starts[k]:stops[k]``.
    rest_start, rest_end
        (S, 3) mean specific force at rest around each segment's start and end anchor.
    r_fs
        (3, 3) sensor-to-foot rotation.
    ic_from
        (S,) int64: row within each segment where the IC search may start at the earliest
        (the middle of its swing, :func:`split_swings`); -1 or None: after mid-swing only.

    Returns
    -------
    (S, 12) array, columns :data:`COLUMNS`; NaN where an event or value was not found.
    """
    return _measure_all(
        np.ascontiguousarray(t, dtype=np.float64),
        np.ascontiguousarray(acc, dtype=np.float64),
        np.ascontiguousarray(gyr, dtype=np.float64),
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(stops, dtype=np.int64),
        np.ascontiguousarray(rest_start, dtype=np.float64),
        np.ascontiguousarray(rest_end, dtype=np.float64),
        np.ascontiguousarray(r_fs, dtype=np.float64),
        math.cos(math.radians(flat_max_tilt_deg)),
        float(impact_onset_fraction),
        np.asarray(toe_speed_levels_mps, dtype=np.float64),
        float(heel_off_fraction),
        int(impact_window_samples),
        float(walking_ic_window_s),
        np.full(len(starts), -1, np.int64)
        if ic_from is None
        else np.ascontiguousarray(ic_from, dtype=np.int64),
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mean_acc(acc: FloatArray, start: int, stop: int) -> FloatArray:
    start, stop = max(start, 0), min(stop, acc.shape[0])
    m = np.zeros(3)
    for i in range(start, stop):
        for j in range(3):
            m[j] += acc[i, j]
    return m / max(stop - start, 1)


MAX_SWINGS = 8
"""Segments with more swings than this are not split (their events are dropped)."""


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _segment_bounds(
    t: FloatArray,
    gn: FloatArray,
    en: FloatArray,
    acc: FloatArray,
    anchors: np.ndarray,
    rested: np.ndarray,
    prev: int,
    prev_rested: bool,
    stance: int,
    swing_min_gyr_radps: float,
    max_stride_s: float,
    h: int,
) -> tuple[np.ndarray, FloatArray, FloatArray, int, bool, int]:
    k_max = anchors.shape[0]
    bounds = np.empty((k_max, 4), np.int64)
    rest_start = np.empty((k_max, 3))
    rest_end = np.empty((k_max, 3))
    count = 0
    for q in range(k_max):
        a, a_rested = anchors[q], rested[q]
        p, p_rested = prev, prev_rested
        prev, prev_rested = a, a_rested
        if p < 0:
            continue
        first_swing = -1
        for i in range(p + 1, a):
            if gn[i] > swing_min_gyr_radps:
                first_swing = i - (p + 1)
                break
        if first_swing < 0:
            continue  # same stance
        stance += 1
        if t[a] - t[p] > max_stride_s:
            # A perfectly flat rest (noise-free data) has its minimum on its first sample:
            # start at the end of the plateau, the last still sample before the foot moves.
            e0 = en[p]
            moved = -1
            for i in range(p, p + 1 + first_swing):
                if not en[i] <= e0:
                    moved = i - p
                    break
            p += moved - 1 if moved >= 0 else first_swing
        # Longer than a stride: kept if it may hold several strides, for the swing cut
        # (``split_swings``); a single stride that long is refused when it is assembled.
        if not 0.1 <= t[a] - t[p] <= MAX_SWINGS * max_stride_s:
            continue
        bounds[count, 0] = p
        bounds[count, 1] = a + 1
        bounds[count, 2] = stance - 1
        bounds[count, 3] = 1 if p_rested and a_rested else 0
        rest_start[count] = _mean_acc(acc, p - h, p + h + 1)
        rest_end[count] = _mean_acc(acc, a - h, a + h + 1)
        count += 1
    return bounds[:count], rest_start[:count], rest_end[:count], prev, prev_rested, stance


def segment_bounds(
    t: FloatArray,
    gn: FloatArray,
    en: FloatArray,
    acc: FloatArray,
    anchors: np.ndarray,
    rested: np.ndarray,
    prev: int,
    prev_rested: bool,
    stance: int,
    *,
    swing_min_gyr_radps: float,
    max_stride_s: float,
    h: int,
) -> tuple[np.ndarray, FloatArray, FloatArray, int, bool, int]:
    """Stride segments between consecutive stance anchors (docs/metrics.md, Segmentation).

    Indices are into the given buffer arrays; ``prev`` is the previous anchor (-1: none).
    Returns ``bounds`` (K, 4): start, stop (exclusive), stance index, both anchors rested;
    the mean specific force around the start and end anchors (K, 3) each; and the new
    ``prev``, ``prev_rested`` and ``stance``.
    """
    return _segment_bounds(
        t,
        gn,
        en,
        acc,
        np.asarray(anchors, dtype=np.int64),
        np.asarray(rested, dtype=np.bool_),
        int(prev),
        bool(prev_rested),
        int(stance),
        float(swing_min_gyr_radps),
        float(max_stride_s),
        int(h),
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _scan_clean(
    t: FloatArray, acc: FloatArray, gyr: FloatArray
) -> tuple[bool, bool, float, float, int, int]:
    n = t.shape[0]
    finite = True
    increasing = True
    acc_max = 0.0
    gyr_max = 0.0
    longest = 1
    run = 1
    for i in range(n):
        if not math.isfinite(t[i]):
            finite = False
        if i > 0 and not t[i] > t[i - 1]:
            increasing = False
        same = i > 0
        for j in range(3):
            a, g = acc[i, j], gyr[i, j]
            if not (math.isfinite(a) and math.isfinite(g)):
                finite = False
            acc_max = max(acc_max, abs(a))
            gyr_max = max(gyr_max, abs(g))
            if same and (a != acc[i - 1, j] or g != gyr[i - 1, j]):
                same = False
        run = run + 1 if same else 1
        longest = max(longest, run)
    return finite, increasing, acc_max, gyr_max, longest, run


def scan_clean(
    t: FloatArray, acc: FloatArray, gyr: FloatArray
) -> tuple[bool, bool, float, float, int, int]:
    """One pass over a chunk for the input checks' fast path: all finite, strictly increasing
    timestamps, largest |acc| and |gyr| component, longest run of bit-identical 6-axis
    samples, and the length of the run that ends the chunk."""
    return _scan_clean(
        np.ascontiguousarray(t, dtype=np.float64),
        np.ascontiguousarray(acc, dtype=np.float64),
        np.ascontiguousarray(gyr, dtype=np.float64),
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _acc_dev(acc: FloatArray, i: int) -> float:
    """``||acc| - g|`` of sample ``i``."""
    return abs(
        math.sqrt(acc[i, 0] * acc[i, 0] + acc[i, 1] * acc[i, 1] + acc[i, 2] * acc[i, 2]) - G_MPS2
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rate_and_energy(
    acc: FloatArray, gyr: FloatArray, i: int, gs: float, as_: float
) -> tuple[float, float]:
    """Gyro norm and stance energy of sample ``i`` (see :func:`stance_energy`)."""
    g = math.sqrt(gyr[i, 0] * gyr[i, 0] + gyr[i, 1] * gyr[i, 1] + gyr[i, 2] * gyr[i, 2])
    return g, max(g / gs, _acc_dev(acc, i) / as_)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _stance_energy(
    acc: FloatArray, gyr: FloatArray, gn: FloatArray, en: FloatArray, gs: float, as_: float
) -> None:
    for i in range(acc.shape[0]):
        gn[i], en[i] = _rate_and_energy(acc, gyr, i, gs, as_)


def stance_energy(
    acc: FloatArray,
    gyr: FloatArray,
    gn: FloatArray,
    en: FloatArray,
    gyr_scale: float,
    acc_scale: float,
) -> None:
    """Gyro norm into ``gn`` and stance energy ``max(|gyr| / gyr_scale, ||acc| - g| /
    acc_scale)`` into ``en`` (docs/metrics.md, Segmentation)."""
    _stance_energy(acc, gyr, gn, en, float(gyr_scale), float(acc_scale))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _find_anchors(
    en: FloatArray,
    h: int,
    hf: int,
    k_lo: int,
    k_hi: int,
    d: int,
    dw: int,
    dq: int,
    gate: float,
) -> tuple[np.ndarray, np.ndarray]:
    n = en.shape[0]
    energy = np.empty(n)
    # The relaxed rule skips samples followed within ``hf`` by energy above its gate: a foot
    # hanging still just before touchdown is no stance (its landing impact follows).
    relaxed = np.empty(n)
    # Only the rows the candidates k_lo:k_hi look at.
    lo = max(k_lo - max(d, dw, dq), 0)
    hi = min(k_hi + d + hf + 1, n)
    for i in range(lo, hi):
        m = en[i]
        for j in range(max(i - h, 0), min(i + h + 1, n)):
            m = max(m, en[j])
        energy[i] = m
    for i in range(lo, min(k_hi + d, n)):
        ahead = energy[i]
        if hf <= 3 * h + 1:
            # [i - h, i + hf] is the union of two running-maximum windows.
            ahead = max(ahead, energy[min(i + hf - h, n - 1)])
        else:
            for j in range(i + h + 1, min(i + hf + 1, n)):
                ahead = max(ahead, en[j])
        relaxed[i] = energy[i] if ahead < gate else math.inf
    idx = np.empty(max(k_hi - k_lo, 0), np.int64)
    rested = np.empty(max(k_hi - k_lo, 0), np.bool_)
    count = 0
    for k in range(k_lo, k_hi):
        rest = energy[k] < 1.0
        e = energy[k] if rest else relaxed[k]
        if not e < gate:
            continue
        ok = True
        for j in range(k + 1, min(k + 1 + d, n)):
            if (energy[j] if rest else relaxed[j]) < e:
                ok = False
                break
        if not ok:
            continue
        before = d if rest else dw
        for j in range(max(k - before, 0), k):
            if not e < (energy[j] if rest else relaxed[j]):
                ok = False
                break
        if not ok:
            continue
        if not rest:
            # Relaxed rule: only where the foot did not rest nearby.
            for j in range(max(k - dq, 0), min(k + d + 1, n)):
                if energy[j] < 1.0:
                    ok = False
                    break
            if not ok:
                continue
        idx[count] = k
        rested[count] = rest
        count += 1
    return idx[:count], rested[:count]


def find_anchors(
    en: FloatArray,
    h: int,
    hf: int,
    k_lo: int,
    k_hi: int,
    d: int,
    dw: int,
    dq: int,
    gate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Stance anchors among rows ``k_lo:k_hi`` of the stance energy ``en`` (docs/metrics.md,
    Segmentation): running maximum over +-``h``, then the strict minimum over ``d`` samples
    before and at-or-below over ``d`` after, below 1 (rested); or, below ``gate``, the strict
    minimum from ``dw`` before with no energy below 1 from ``dq`` before to ``d`` after, among
    the samples not followed within ``hf`` by energy at or above ``gate``.
    Returns the anchor rows and whether each is at rest."""
    return _find_anchors(
        np.ascontiguousarray(en, dtype=np.float64),
        int(h),
        int(max(hf, h)),
        int(k_lo),
        int(k_hi),
        int(d),
        int(dw),
        int(dq),
        float(gate),
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _finite_max_abs(x: FloatArray) -> float:
    m = 0.0
    for v in x.ravel():
        if math.isfinite(v):
            m = max(m, abs(v))
    return m


def finite_max_abs(x: FloatArray) -> float:
    """Largest finite absolute value (NaN and infinities are counted elsewhere); 0 if none."""
    return float(_finite_max_abs(np.ascontiguousarray(x, dtype=np.float64)))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rotation_runs(
    t: FloatArray,
    gyr: FloatArray,
    a: int,
    b: int,
    r1: FloatArray,
    rate: float,
    bridge_s: float,
    min_rot: float,
    run_a: np.ndarray,
    run_b: np.ndarray,
) -> int:
    """Runs of rotation faster than ``rate`` against the axis ``r1`` in rows ``a:b`` that turn
    by at least ``min_rot``; the first ones' bounds go to ``run_a``/``run_b``. Returns how
    many there are (also beyond the arrays' length)."""
    n = 0
    start = -1
    end = -1
    rot = 0.0
    for i in range(a, b):
        g = r1[0] * gyr[i, 0] + r1[1] * gyr[i, 1] + r1[2] * gyr[i, 2]
        if not g < -rate:
            continue
        # Consecutive samples continue a run even across a timestamp hole.
        if start < 0 or (i > end and t[i] - t[end - 1] > bridge_s):
            if start >= 0 and rot >= min_rot:
                if n < run_a.shape[0]:
                    run_a[n], run_b[n] = start, end
                n += 1
            start = i
            rot = 0.0
        if i > a:
            rot -= g * (t[i] - t[i - 1])
        end = i + 1
    if start >= 0 and rot >= min_rot:
        if n < run_a.shape[0]:
            run_a[n], run_b[n] = start, end
        n += 1
    return n


def rotation_runs(
    t: FloatArray,
    gyr: FloatArray,
    axis: FloatArray,
    *,
    rate_radps: float,
    bridge_s: float,
    min_rotation_rad: float,
) -> int:
    """How many runs of rotation against ``axis`` (a row of the sensor-to-foot rotation; the
    swing rule of :func:`split_swings` with any axis and sign) one segment holds."""
    none = np.empty(0, np.int64)
    return int(
        _rotation_runs(
            np.ascontiguousarray(t, dtype=np.float64),
            np.ascontiguousarray(gyr, dtype=np.float64),
            0,
            len(t),
            np.ascontiguousarray(axis, dtype=np.float64),
            float(rate_radps),
            float(bridge_s),
            float(min_rotation_rad),
            none,
            none,
        )
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _split_swings(
    t: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    starts: np.ndarray,
    stops: np.ndarray,
    r1: FloatArray,
    rate: float,
    bridge_s: float,
    min_rot: float,
    min_piece_s: float,
    gs: float,
    as_: float,
    h: int,
) -> tuple[np.ndarray, np.ndarray, FloatArray, np.ndarray]:
    s = starts.shape[0]
    counts = np.zeros(s, np.int64)
    cuts = np.full((s, MAX_SWINGS - 1), -1, np.int64)
    rests = np.zeros((s, MAX_SWINGS - 1, 3))
    mids = np.full((s, MAX_SWINGS), -1, np.int64)
    sw_a = np.empty(MAX_SWINGS, np.int64)
    sw_b = np.empty(MAX_SWINGS, np.int64)
    for k in range(s):
        a, b = starts[k], stops[k]
        n_sw = _rotation_runs(t, gyr, a, b, r1, rate, bridge_s, min_rot, sw_a, sw_b)
        counts[k] = n_sw
        if n_sw > MAX_SWINGS:
            continue
        for j in range(n_sw):
            mids[k, j] = (sw_a[j] + sw_b[j] - 1) // 2
        if n_sw < 2:
            continue
        last = a
        group = mids[k, 0]
        n_cut = 0
        for j in range(n_sw - 1):
            if t[mids[k, j + 1]] - t[group] < min_piece_s:
                # Less than a stride after the swing that opened this piece: one swing (the
                # rotation ringing after an impact, or the heel drop after a forefoot landing).
                counts[k] -= 1
                continue
            # The stance between two swings: its lowest (running-maximum) stance energy from
            # the landing on (the first ||acc| - g| of at least half the largest between the
            # swings: before it the foot may hang still in the air).
            peak = 0.0
            for i in range(sw_b[j], sw_a[j + 1]):
                peak = max(peak, _acc_dev(acc, i))
            land = sw_b[j]
            while land < sw_a[j + 1] - 1 and _acc_dev(acc, land) < 0.5 * peak:
                land += 1
            best = -1
            best_e = math.inf
            for i in range(land, sw_a[j + 1]):
                e = 0.0
                for m in range(max(i - h, a), min(i + h + 1, b)):
                    e = max(e, _rate_and_energy(acc, gyr, m, gs, as_)[1])
                if e < best_e:
                    best_e = e
                    best = i
            if best < 0 or t[best] - t[last] < min_piece_s or t[b - 1] - t[best] < min_piece_s:
                # Too close to a stance already there: not a second swing (e.g. the heel
                # drop after a forefoot landing), the two runs are one stride.
                counts[k] -= 1
                continue
            cuts[k, n_cut] = best
            rests[k, n_cut] = _mean_acc(acc, max(best - h, a), min(best + h + 1, b))
            n_cut += 1
            last = best
            group = mids[k, j + 1]
    return counts, cuts, rests, mids


def split_swings(
    t: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    starts: np.ndarray,
    stops: np.ndarray,
    r_fs: FloatArray,
    *,
    rate_radps: float,
    bridge_s: float,
    min_rotation_rad: float,
    min_piece_s: float,
    gyr_scale: float,
    acc_scale: float,
    h: int,
) -> tuple[np.ndarray, np.ndarray, FloatArray, np.ndarray]:
    """Swings per segment, and where to cut segments that hold more than one.

    A swing is a run of toes-up rotation (``gyr_ml`` below ``-rate_radps``; runs less than
    ``bridge_s`` apart are one) that turns the foot by at least ``min_rotation_rad``. Between
    two swings lies a stance the anchor rules missed: the cut is its lowest stance energy
    (running maximum over +-``h``), as for an anchor; a cut closer than ``min_piece_s`` to the
    segment's ends or the previous cut is not made (the two runs are one stride's). Returns
    the swing count per segment (S,; less the cuts not made), the cut rows (S, MAX_SWINGS - 1;
    -1 = none), the mean specific force around each cut and the middle row of each swing
    (S, MAX_SWINGS; -1 = none).
    """
    return _split_swings(
        np.ascontiguousarray(t, dtype=np.float64),
        np.ascontiguousarray(acc, dtype=np.float64),
        np.ascontiguousarray(gyr, dtype=np.float64),
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(stops, dtype=np.int64),
        np.ascontiguousarray(r_fs[1], dtype=np.float64),
        float(rate_radps),
        float(bridge_s),
        float(min_rotation_rad),
        float(min_piece_s),
        float(gyr_scale),
        float(acc_scale),
        int(h),
    )
