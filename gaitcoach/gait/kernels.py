"""Compiled helpers of the gait engine (numba): small loops over samples with named results.

Every helper works on one stretch of samples (a segment, a run) and depends on nothing else,
so streaming equals batch bit for bit. The stages of the engine (:mod:`~gaitcoach.gait.rest`,
:mod:`~gaitcoach.gait.swings`, :mod:`~gaitcoach.gait.segmentation`,
:mod:`~gaitcoach.gait.trajectory`, :mod:`~gaitcoach.gait.events`,
:mod:`~gaitcoach.gait.parameters`) are classes around these helpers; the per-segment
measurement composes the same helpers in one compiled call per batch of segments.
A readable numpy reference of the measurement lives in ``tests/gait/reference.py``.

Why compiled: the orientation is a recurrence over samples (each depends on the previous
one), which numpy can only run as a Python loop or in lock-step over padded segments; both
cost far more than the arithmetic (docs/metrics.md, "Speed").
"""

from __future__ import annotations

import math

import numba
import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.types import FloatArray

_NAN = math.nan
_RISE_S = 0.1
# sin(h) / (2 h) = sum (-1)^k h^2k / (2 (2k + 1)!), cos(h) = sum (-1)^k h^2k / (2k)!
_S1, _S2, _S3, _S4, _S5 = ((-1) ** k / (2.0 * math.factorial(2 * k + 1)) for k in range(1, 6))
_C1, _C2, _C3, _C4, _C5 = ((-1) ** k / float(math.factorial(2 * k)) for k in range(1, 6))

# --------------------------------------------------------------------------- named results

SEGMENT_FIELDS = (
    "start_s",
    "end_s",
    "to_s",
    "ms_s",
    "ic_impact_s",
    "ic_walking_s",
    "strike_deg",
    "peak_impact_g",
    "loading_rate_gps",
    "length_m",
    "clearance_m",
    "forward_m",
    "flat_start",
    "flat_end",
)
"""Fields of one measured segment (:func:`measure_segments`); NaN = not found."""
SEGMENT_DTYPE = np.dtype([(name, np.float64) for name in SEGMENT_FIELDS])
"""Structured dtype of :func:`measure_segments`' rows (a zero-copy view of the float array)."""

SPAN_FIELDS = ("a0", "a1", "swing_start", "swing_end", "ic_from", "kind", "land")
"""Fields of one segment found by :func:`scan_segments` (sample indices into the run buffer):
start anchor, end anchor (inclusive), the swing's first and one-past-last sample, the earliest
impact sample (-1: after mid-swing), the swing detector (:data:`KIND_PITCH` or
:data:`KIND_STEP`) and the landing sample."""
SPAN_DTYPE = np.dtype([(name, np.int64) for name in SPAN_FIELDS])
KIND_PITCH = 0
"""A swing found as a toes-up rotation (:class:`~gaitcoach.gait.swings.PitchSwingDetector`)."""
KIND_STEP = 1
"""A swing found as a foot displacement between two rests
(:class:`~gaitcoach.gait.swings.ZuptStepDetector`)."""


# --------------------------------------------------------------------------- per sample


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _acc_dev(acc: FloatArray, i: int) -> float:
    """``||acc| - g|`` of sample ``i``."""
    return abs(
        math.sqrt(acc[i, 0] * acc[i, 0] + acc[i, 1] * acc[i, 1] + acc[i, 2] * acc[i, 2]) - G_MPS2
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _stance_energy(
    acc: FloatArray,
    gyr: FloatArray,
    gn: FloatArray,
    en: FloatArray,
    ad: FloatArray,
    gs: float,
    as_: float,
) -> None:
    for i in range(acc.shape[0]):
        g = math.sqrt(gyr[i, 0] * gyr[i, 0] + gyr[i, 1] * gyr[i, 1] + gyr[i, 2] * gyr[i, 2])
        d = _acc_dev(acc, i)
        gn[i] = g
        ad[i] = d
        en[i] = max(g / gs, d / as_)


def stance_energy(
    acc: FloatArray,
    gyr: FloatArray,
    gn: FloatArray,
    en: FloatArray,
    ad: FloatArray,
    gyr_scale: float,
    acc_scale: float,
) -> None:
    """Per sample: gyro norm into ``gn``, ``||acc| - g|`` into ``ad`` and the stance energy
    ``max(|gyr| / gyr_scale, ||acc| - g| / acc_scale)`` into ``en`` (below 1: could rest)."""
    _stance_energy(acc, gyr, gn, en, ad, float(gyr_scale), float(acc_scale))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _running_max(en: FloatArray, h: int, lo: int, hi: int, out: FloatArray) -> None:
    n = en.shape[0]
    for i in range(lo, hi):
        m = en[i]
        for j in range(max(i - h, 0), min(i + h + 1, n)):
            m = max(m, en[j])
        out[i] = m


def running_max(en: FloatArray, h: int, lo: int, hi: int, out: FloatArray) -> None:
    """``out[i] = max(en[i - h : i + h + 1])`` for ``lo <= i < hi`` (clipped at the ends)."""
    _running_max(en, int(h), int(lo), int(hi), out)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _project(gyr: FloatArray, axis: FloatArray, lo: int, hi: int, out: FloatArray) -> None:
    for i in range(lo, hi):
        out[i] = axis[0] * gyr[i, 0] + axis[1] * gyr[i, 1] + axis[2] * gyr[i, 2]


def project(gyr: FloatArray, axis: FloatArray, lo: int, hi: int, out: FloatArray) -> None:
    """``out[i] = axis . gyr[i]`` for ``lo <= i < hi`` (the foot's pitch rate ``gyr_ml``)."""
    _project(gyr, np.ascontiguousarray(axis, dtype=np.float64), int(lo), int(hi), out)


# --------------------------------------------------------------------------- input checks


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
def _finite_max_abs(x: FloatArray) -> float:
    m = 0.0
    for v in x.ravel():
        if math.isfinite(v):
            m = max(m, abs(v))
    return m


def finite_max_abs(x: FloatArray) -> float:
    """Largest finite absolute value (NaN and infinities are counted elsewhere); 0 if none."""
    return float(_finite_max_abs(np.ascontiguousarray(x, dtype=np.float64)))


# --------------------------------------------------------------------------- strapdown


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _rot(
    q0: float, q1: float, q2: float, q3: float, vx: float, vy: float, vz: float
) -> tuple[float, float, float]:
    """Rotate ``v`` by the unit quaternion ``q``: ``t = 2 q_vec x v; v' = v + w t + q_vec x t``."""
    tx = 2 * (q2 * vz - q3 * vy)
    ty = 2 * (q3 * vx - q1 * vz)
    tz = 2 * (q1 * vy - q2 * vx)
    return (
        vx + q0 * tx + (q2 * tz - q3 * ty),
        vy + q0 * ty + (q3 * tx - q1 * tz),
        vz + q0 * tz + (q1 * ty - q2 * tx),
    )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _tilt_quat(rx: float, ry: float, rz: float) -> tuple[float, float, float, float]:
    """Zero-yaw orientation that turns the rest specific force ``r`` to world up."""
    roll = math.atan2(ry, rz)
    pitch = math.atan2(-rx, math.hypot(ry, rz))
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    qw, qx, qy, qz = cp * cr, cp * sr, sp * cr, -sp * sr
    nrm = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
    return qw / nrm, qx / nrm, qy / nrm, qz / nrm


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _strapdown(
    t: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    rest: FloatArray,
    quat: FloatArray,
    vel: FloatArray,
    speed: FloatArray,
    pos_z: FloatArray,
) -> tuple[float, float, float]:
    """Strapdown integration of one segment between two zero-velocity instants.

    Initial tilt from the rest specific force (heading 0), first-order quaternion update with
    the mid-point rate, gravity removed in the world frame, trapezoid velocity, linear
    de-drifting to zero velocity at the end (ZUPT), trapezoid position. Fills ``quat`` (n, 4),
    ``vel`` (n, 3, world), ``speed`` (n,) and ``pos_z`` (n,, height de-drifted to end level);
    returns the end position (x, y, z) before the height de-drifting.
    """
    n = t.shape[0]
    qw, qx, qy, qz = _tilt_quat(rest[0], rest[1], rest[2])
    quat[0, 0], quat[0, 1], quat[0, 2], quat[0, 3] = qw, qx, qy, qz
    for i in range(1, n):
        dt = t[i] - t[i - 1]
        wx = 0.5 * (gyr[i, 0] + gyr[i - 1, 0])
        wy = 0.5 * (gyr[i, 1] + gyr[i - 1, 1])
        wz = 0.5 * (gyr[i, 2] + gyr[i - 1, 2])
        ang = math.sqrt(wx * wx + wy * wy + wz * wz) * dt
        half = 0.5 * ang
        if half < 0.1:
            # Taylor series of sin(h) / (2 h) and cos(h): exact to double precision for
            # h < 0.1 (next terms < 1e-20) and cheaper than libm's sin and cos.
            h2 = half * half
            k = (0.5 + h2 * (_S1 + h2 * (_S2 + h2 * (_S3 + h2 * (_S4 + h2 * _S5))))) * dt
            dw = 1.0 + h2 * (_C1 + h2 * (_C2 + h2 * (_C3 + h2 * (_C4 + h2 * _C5))))
        else:
            k = math.sin(half) / ang * dt
            dw = math.cos(half)
        dx, dy, dz = wx * k, wy * k, wz * k
        qw, qx, qy, qz = (
            qw * dw - qx * dx - qy * dy - qz * dz,
            qw * dx + qx * dw + qy * dz - qz * dy,
            qw * dy - qx * dz + qy * dw + qz * dx,
            qw * dz + qx * dy - qy * dx + qz * dw,
        )
        nrm = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
        qw, qx, qy, qz = qw / nrm, qx / nrm, qy / nrm, qz / nrm
        quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3] = qw, qx, qy, qz
    ax0, ay0, az0 = _rot(
        quat[0, 0], quat[0, 1], quat[0, 2], quat[0, 3], acc[0, 0], acc[0, 1], acc[0, 2]
    )
    az0 -= G_MPS2
    vx = vy = vz = 0.0
    vel[0, 0], vel[0, 1], vel[0, 2] = 0.0, 0.0, 0.0
    for i in range(1, n):
        ax, ay, az = _rot(
            quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3], acc[i, 0], acc[i, 1], acc[i, 2]
        )
        az -= G_MPS2
        dt = t[i] - t[i - 1]
        vx += 0.5 * (ax + ax0) * dt
        vy += 0.5 * (ay + ay0) * dt
        vz += 0.5 * (az + az0) * dt
        vel[i, 0], vel[i, 1], vel[i, 2] = vx, vy, vz
        ax0, ay0, az0 = ax, ay, az
    total = max(t[n - 1] - t[0], 1e-9)
    ex, ey, ez = vel[n - 1, 0], vel[n - 1, 1], vel[n - 1, 2]
    for i in range(n):
        f = (t[i] - t[0]) / total
        vel[i, 0] -= f * ex
        vel[i, 1] -= f * ey
        vel[i, 2] -= f * ez
    px = py = pz = 0.0
    pos_z[0] = 0.0
    speed[0] = math.sqrt(vel[0, 0] ** 2 + vel[0, 1] ** 2 + vel[0, 2] ** 2)
    for i in range(1, n):
        dt = t[i] - t[i - 1]
        px += 0.5 * (vel[i, 0] + vel[i - 1, 0]) * dt
        py += 0.5 * (vel[i, 1] + vel[i - 1, 1]) * dt
        pz += 0.5 * (vel[i, 2] + vel[i - 1, 2]) * dt
        pos_z[i] = pz
        speed[i] = math.sqrt(vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2)
    for i in range(n):
        pos_z[i] -= (t[i] - t[0]) / total * pz
    return px, py, pz


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mean_acc_into(acc: FloatArray, start: int, stop: int, out: FloatArray) -> None:
    start, stop = max(start, 0), min(stop, acc.shape[0])
    out[0] = out[1] = out[2] = 0.0
    for i in range(start, stop):
        for j in range(3):
            out[j] += acc[i, j]
    k = max(stop - start, 1)
    for j in range(3):
        out[j] /= k


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mean_acc(acc: FloatArray, start: int, stop: int) -> FloatArray:
    m = np.empty(3)
    _mean_acc_into(acc, start, stop, m)
    return m


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _step_motion(
    t: FloatArray, acc: FloatArray, gyr: FloatArray, a: int, b: int, h: int
) -> tuple[float, float, float]:
    """The sensor's motion from rest at ``a`` to rest at ``b - 1`` (ZUPT at both ends), in
    any sensor frame: horizontal displacement (m), the angle (rad) between its orientations
    at the two rests, and its greatest height above the line between them (m)."""
    n = b - a
    quat = np.empty((n, 4))
    vel = np.empty((n, 3))
    speed = np.empty(n)
    pos_z = np.empty(n)
    rest = _mean_acc(acc, a - h, a + h + 1)
    px, py, _ = _strapdown(t[a:b], acc[a:b], gyr[a:b], rest, quat, vel, speed, pos_z)
    cos_half = 0.0
    for j in range(4):
        cos_half += quat[0, j] * quat[n - 1, j]
    turn = 2.0 * math.acos(min(1.0, abs(cos_half)))
    lift = -math.inf
    for i in range(n):
        lift = max(lift, pos_z[i])
    return math.hypot(px, py), turn, lift


# --------------------------------------------------------------------------- events


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mid_swing(speed: FloatArray, lo: int, hi: int) -> int:
    """Mid-swing: the fastest sample (peak strapdown speed) in ``[lo, hi)`` (the swing)."""
    lo, hi = max(lo, 0), min(hi, speed.shape[0])
    if hi <= lo:
        lo, hi = 0, speed.shape[0]
    ms = lo
    for i in range(lo + 1, hi):
        if speed[i] > speed[ms]:
            ms = i
    return ms


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _jerk(t: FloatArray, acc: FloatArray, lo: int, hi: int, jerk: FloatArray) -> int:
    """Second-difference residual of the specific force per unit squared time (so a bridged
    timestamp hole is not an impact) into ``jerk[lo:hi]``; returns the index of its largest
    value (``lo`` >= 2; -1 if the range is empty)."""
    hi = min(hi, t.shape[0])
    if lo >= hi:
        return -1
    peak = lo
    for i in range(lo, hi):
        h1, h0 = t[i] - t[i - 1], t[i - 1] - t[i - 2]
        ratio = h1 / h0 if h0 > 0 else 1.0
        scale = 1.0 / (h1 * (h1 + h0)) if h1 > 0 else 0.0
        s2 = 0.0
        for j in range(3):
            d2 = acc[i, j] - acc[i - 1, j] - (acc[i - 1, j] - acc[i - 2, j]) * ratio
            s2 += d2 * d2
        jerk[i] = math.sqrt(s2) * scale
        if jerk[i] > jerk[peak]:
            peak = i
    return peak


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _onset(
    t: FloatArray, jerk: FloatArray, lo: int, peak: int, onset_fraction: float, rise_s: float
) -> int:
    """The first sample from ``lo``, and at most ``rise_s`` before ``peak``, whose residual
    reaches ``onset_fraction`` of the peak's."""
    first = lo
    while first < peak and t[peak] - t[first] > rise_s:
        first += 1
    for i in range(first, peak + 1):
        if jerk[i] >= onset_fraction * jerk[peak]:
            return i
    return peak


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _impact_onset(
    t: FloatArray,
    acc: FloatArray,
    lo: int,
    onset_fraction: float,
    rise_s: float,
    jerk: FloatArray,
) -> int:
    """The onset of an impact after ``lo``: the first sample, at most ``rise_s`` before the
    largest residual (:func:`_jerk`), whose residual reaches ``onset_fraction`` of it; -1 if
    none. ``rise_s = inf``: the first transient anywhere. ``jerk``: scratch (n,)."""
    lo = max(lo, 2)
    peak = _jerk(t, acc, lo, t.shape[0], jerk)
    return -1 if peak < 0 else _onset(t, jerk, lo, peak, onset_fraction, rise_s)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _dorsiflexion_end(
    t: FloatArray, gml: FloatArray, ms: int, ici: int, ic_t: float, window_s: float
) -> float:
    """Last zero crossing of ``gml`` from negative (toes rising) to non-negative between
    mid-swing and the impact sample ``ici``, at most ``window_s`` before ``ic_t`` (linear
    interpolation); NaN if none."""
    if window_s <= 0:
        return _NAN
    for j in range(ici - 2, ms - 1, -1):
        g0, g1 = gml[j], gml[j + 1]
        if g0 < 0.0 and g1 >= 0.0 and (ic_t - t[j]) <= window_s:
            return t[j] + (t[j + 1] - t[j]) * (-g0) / (g1 - g0)
    return _NAN


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _pivot_toe_off(
    t: FloatArray,
    gyr: FloatArray,
    quat: FloatArray,
    vel: FloatArray,
    ms: int,
    levels: FloatArray,
    heel_off_fraction: float,
    vf: FloatArray,
    toe_speed: FloatArray,
) -> float:
    """Toe-off as the end of the rotation about the toe (pivot model), in fractional samples.

    During heel-off the foot rotates about its toe: the sensor moves as ``v = r x w``. The
    toe's position ``r`` (sagittal plane) is fitted by least squares over the heel-off
    samples (toes-down rate above ``heel_off_fraction`` of its peak); the toe's speed
    ``|v + w x r|`` grows from zero as a power of the time since toe-off, whose power and
    origin come from its crossings of three geometric ``levels`` and a line through
    ``speed^(1/p)``. A toe never still (a foot that does not rest) has no pivot to end: the
    toes-down rate peak is taken. NaN if none. ``vf`` (n, 3), ``toe_speed`` (n,): scratch.
    """
    peak = -1
    for i in range(ms):
        if peak < 0 or gyr[i, 1] > gyr[peak, 1]:
            peak = i
    if peak < 0:
        return _NAN
    for i in range(ms):
        vf[i, 0], vf[i, 1], vf[i, 2] = _rot(
            quat[i, 0], -quat[i, 1], -quat[i, 2], -quat[i, 3], vel[i, 0], vel[i, 1], vel[i, 2]
        )
    wpk = gyr[peak, 1]
    ww = sxw = szw = 0.0
    for i in range(peak + 1):
        w = gyr[i, 1]
        if w > heel_off_fraction * wpk:
            ww += w * w
            sxw += vf[i, 2] * w
            szw += vf[i, 0] * w
    if not ww > 0:
        ww = 1.0
    lx = sxw / ww
    lz = -szw / ww
    for i in range(ms):
        cx = gyr[i, 1] * lz
        cy = gyr[i, 2] * lx - gyr[i, 0] * lz
        cz = -gyr[i, 1] * lx
        ex, ey, ez = vf[i, 0] + cx, vf[i, 1] + cy, vf[i, 2] + cz
        toe_speed[i] = math.sqrt(ex * ex + ey * ey + ez * ez)
    lo_i = peak + 1
    if lo_i < ms and toe_speed[lo_i] > levels[0]:
        return float(peak)
    ta = tb = tc = _NAN
    for lv in range(3):
        level = levels[lv]
        cross = _NAN
        for i in range(lo_i, ms):
            if toe_speed[i] > level:
                s0, s1 = toe_speed[i - 1], toe_speed[i]
                fr = (level - s0) / (s1 - s0 if s1 > s0 else 1.0)
                cross = i - 1 + min(max(fr, 0.0), 1.0)
                break
        if lv == 0:
            ta = cross
        elif lv == 1:
            tb = cross
        else:
            tc = cross
    m = (tc - tb) / (tb - ta)  # error_model="numpy": x / 0 is inf or NaN
    if m == m:
        m = min(max(m, 1.2), 10.0)
    inv_p = math.log(m) / math.log(levels[1] / levels[0])
    kk = 0
    sx = sy = sxx = sxy = 0.0
    if ta == ta and tc == tc:
        lo, hi = math.floor(ta), math.ceil(tc)
        for i in range(lo_i, ms):
            if lo <= i <= hi:
                yy = max(toe_speed[i], 0.0) ** inv_p
                kk += 1
                sx += i
                sy += yy
                sxx += i * i
                sxy += i * yy
    slope = (kk * sxy - sx * sy) / (kk * sxx - sx * sx)
    if kk >= 3 and slope > 0:
        to_pos = -((sy - slope * sx) / kk) / slope
    else:
        to_pos = (m * ta - tb) / (m - 1.0)
    return max(to_pos, float(peak)) if math.isfinite(to_pos) else _NAN


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _strike_angle(quat: FloatArray, ic: int) -> float:
    """Pitch (deg, toes up) of the foot at sample ``ic`` relative to its orientation at the
    segment's last sample (foot flat at the end anchor)."""
    last = quat.shape[0] - 1
    a0, a1, a2 = _rot(quat[ic, 0], quat[ic, 1], quat[ic, 2], quat[ic, 3], 1.0, 0.0, 0.0)
    b0, b1, b2 = _rot(quat[last, 0], -quat[last, 1], -quat[last, 2], -quat[last, 3], a0, a1, a2)
    return math.degrees(math.atan2(b2, math.hypot(b0, b1)))


# --------------------------------------------------------------------------- measurement


_WORK_COLUMNS = 19
"""Scratch columns of one segment: acc 3, gyr 3, quat 4, vel 3, speed, height, jerk, toe
speed, spare (allocated once per call of :func:`measure_segments`, not per segment)."""


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _measure_segment(
    t: FloatArray,
    acc_s: FloatArray,
    gyr_s: FloatArray,
    rest_s: FloatArray,
    rest_end_s: FloatArray,
    r: FloatArray,
    swing_lo: int,
    swing_hi: int,
    ic_from: int,
    ic_until: int,
    cos_tilt: float,
    onset_fraction: float,
    rise_s: float,
    levels: FloatArray,
    heel_off_fraction: float,
    win: int,
    walking_window_s: float,
    onset: int,
    out: FloatArray,
    work: FloatArray,
) -> None:
    n = t.shape[0]
    acc = work[:n, 0:3]
    gyr = work[:n, 3:6]
    quat = work[:n, 6:10]
    vel = work[:n, 10:13]
    speed = work[:n, 13]
    pos_z = work[:n, 14]
    jerk = work[:n, 15]
    toe_speed = work[:n, 16]
    vf = work[:n, 0:3]  # the foot-frame acc is not needed once the toe-off is searched
    for i in range(n):
        for j in range(3):
            acc[i, j] = r[j, 0] * acc_s[i, 0] + r[j, 1] * acc_s[i, 1] + r[j, 2] * acc_s[i, 2]
            gyr[i, j] = r[j, 0] * gyr_s[i, 0] + r[j, 1] * gyr_s[i, 1] + r[j, 2] * gyr_s[i, 2]
    rx = r[0, 0] * rest_s[0] + r[0, 1] * rest_s[1] + r[0, 2] * rest_s[2]
    ry = r[1, 0] * rest_s[0] + r[1, 1] * rest_s[1] + r[1, 2] * rest_s[2]
    rz = r[2, 0] * rest_s[0] + r[2, 1] * rest_s[1] + r[2, 2] * rest_s[2]
    ex = r[0, 0] * rest_end_s[0] + r[0, 1] * rest_end_s[1] + r[0, 2] * rest_end_s[2]
    ey = r[1, 0] * rest_end_s[0] + r[1, 1] * rest_end_s[1] + r[1, 2] * rest_end_s[2]
    ez = r[2, 0] * rest_end_s[0] + r[2, 1] * rest_end_s[1] + r[2, 2] * rest_end_s[2]
    rest = np.empty(3)
    rest[0], rest[1], rest[2] = rx, ry, rz
    px, py, _ = _strapdown(t, acc, gyr, rest, quat, vel, speed, pos_z)
    clearance = -math.inf
    for i in range(n):
        clearance = max(clearance, pos_z[i])
    # Mid-swing within the swing: after a slow first step the foot's slap to flat can be
    # faster than its swing.
    ms = _mid_swing(speed, swing_lo, swing_hi)
    # Running: the onset of the first transient after the swing (the contact is sharp).
    # Walking: the landing transient (the one holding the largest residual), whose onset the
    # end of the terminal-swing dorsiflexion precedes.
    lo = max(ms + 1, ic_from, 2)
    peak = _jerk(t, acc, lo, ic_until, jerk)
    ic = -1 if peak < 0 else _onset(t, jerk, lo, peak, onset_fraction, math.inf)
    land = -1 if peak < 0 else _onset(t, jerk, lo, peak, onset_fraction, rise_s)
    out[0] = t[0]
    out[1] = t[n - 1]
    out[3] = t[ms]
    out[4] = out[5] = out[6] = out[7] = out[8] = _NAN
    if ic > 0:
        ic_t = 0.5 * (t[ic - 1] + t[ic])
        out[4] = ic_t
        land_t = 0.5 * (t[land - 1] + t[land])
        walk = _dorsiflexion_end(t, gyr[:, 1], ms, land, land_t, walking_window_s)
        out[5] = walk if walk == walk else land_t
        out[6] = _strike_angle(quat, ic - 1)
        j_abs = ic - 1
        peak_g = -math.inf
        for i in range(ic - 1, min(ic + win + 1, n)):
            a = math.sqrt(acc[i, 0] ** 2 + acc[i, 1] ** 2 + acc[i, 2] ** 2) / G_MPS2
            if a > peak_g:
                peak_g = a
                j_abs = i
        out[7] = peak_g
        if j_abs > ic - 1:
            a_ic = math.sqrt(acc[ic - 1, 0] ** 2 + acc[ic - 1, 1] ** 2 + acc[ic - 1, 2] ** 2)
            out[8] = (peak_g - a_ic / G_MPS2) / (t[j_abs] - ic_t)
    to_pos = _pivot_toe_off(t, gyr, quat, vel, ms, levels, heel_off_fraction, vf, toe_speed)
    out[2] = _NAN
    if not math.isfinite(to_pos) and 0 <= onset < ms:
        # A step that does not roll over its toes (a pivot, a shuffle) leaves the ground when
        # its rest ends: the zero-velocity definition of toe-off.
        to_pos = float(onset)
    if math.isfinite(to_pos):
        kq = min(max(int(to_pos), 0), n - 1)
        k1 = min(kq + 1, n - 1)
        out[2] = t[kq] + (to_pos - kq) * (t[k1] - t[kq])
    out[9] = math.hypot(px, py)
    out[10] = clearance
    out[11] = px
    # A real stance has the foot flat: its rest specific force along si.
    out[12] = 1.0 if rz >= cos_tilt * math.sqrt(rx * rx + ry * ry + rz * rz) else 0.0
    out[13] = 1.0 if ez >= cos_tilt * math.sqrt(ex * ex + ey * ey + ez * ez) else 0.0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _measure_all(
    t: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    spans: np.ndarray,
    h: int,
    r: FloatArray,
    cos_tilt: float,
    onset_fraction: float,
    rise_s: float,
    levels: FloatArray,
    heel_off_fraction: float,
    win: int,
    walking_window_s: float,
) -> FloatArray:
    s = spans.shape[0]
    out = np.empty((s, len(SEGMENT_FIELDS)))
    longest = 1
    for k in range(s):
        longest = max(longest, spans[k, 1] + 1 - spans[k, 0])
    work = np.empty((longest, _WORK_COLUMNS))
    rest = np.empty(3)
    rest_end = np.empty(3)
    for k in range(s):
        a, b = spans[k, 0], spans[k, 1] + 1
        icf = spans[k, 4]
        # A step between rests lands before its second rest begins (its last sample of
        # motion, plus the running maximum's half window).
        step = spans[k, 5] == KIND_STEP
        until = spans[k, 3] - a + h + 1 if step else b - a
        # Its rest ends where the stance energy's running maximum (half window h) rises.
        onset = spans[k, 2] - a + h if step else -1
        _mean_acc_into(acc, a - h, a + h + 1, rest)
        _mean_acc_into(acc, b - 1 - h, b + h, rest_end)
        _measure_segment(
            t[a:b],
            acc[a:b],
            gyr[a:b],
            rest,
            rest_end,
            r,
            spans[k, 2] - a,
            spans[k, 3] - a,
            icf - a if icf >= 0 else -1,
            until,
            cos_tilt,
            onset_fraction,
            rise_s,
            levels,
            heel_off_fraction,
            win,
            walking_window_s,
            onset,
            out[k],
            work,
        )
    return out


def measure_segments(
    t: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    spans: np.ndarray,
    r_fs: FloatArray,
    *,
    h: int,
    flat_max_tilt_deg: float,
    impact_onset_fraction: float,
    impact_rise_s: float,
    toe_speed_levels_mps: tuple[float, float, float],
    heel_off_fraction: float,
    impact_window_samples: int,
    walking_ic_window_s: float,
) -> np.ndarray:
    """Measure segments ``spans[k]`` (rows of :data:`SPAN_DTYPE`, or an (S, 7) int array)
    of the sensor-frame samples: rotation to the foot frame, strapdown with ZUPT, mid-swing,
    impact onset and dorsiflexion end (IC), pivot toe-off, strike angle, impact peak, loading
    rate, length, clearance. Returns an array of :data:`SEGMENT_DTYPE` (NaN: not found)."""
    raw = np.ascontiguousarray(spans.view(np.int64).reshape(len(spans), -1), dtype=np.int64)
    out = _measure_all(
        np.ascontiguousarray(t, dtype=np.float64),
        np.ascontiguousarray(acc, dtype=np.float64),
        np.ascontiguousarray(gyr, dtype=np.float64),
        raw,
        int(h),
        np.ascontiguousarray(r_fs, dtype=np.float64),
        math.cos(math.radians(flat_max_tilt_deg)),
        float(impact_onset_fraction),
        float(impact_rise_s),
        np.asarray(toe_speed_levels_mps, dtype=np.float64),
        float(heel_off_fraction),
        int(impact_window_samples),
        float(walking_ic_window_s),
    )
    return out.view(SEGMENT_DTYPE).reshape(len(spans))
