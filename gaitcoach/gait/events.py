"""Gait events within stride segments (one zero-velocity anchor to the next).

A segment runs from the last zero-velocity sample of one stance to the first one of the
next; it holds the toe-off (TO) of the first stance, the swing with its mid-swing (MS), and
the initial contact (IC) of the next stance. All functions work on padded (S, L) arrays, one
row per segment, with per-row arithmetic only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitcoach.types import FloatArray

IntArray = np.ndarray
IMPACT_ONSET_FRACTION = 0.15
"""IC: share of the largest second-difference residual after mid-swing that marks the impact."""
HEEL_OFF_FRACTION = 0.5
"""Heel-off samples for the lever-arm fit: toes-down rate above this share of its peak."""
TOE_SPEED_LEVELS_MPS = (0.25, 0.5, 1.0)
"""Toe speeds whose crossing times give the toe-off by power-law extrapolation."""


@dataclass(frozen=True, slots=True)
class SegmentEvents:
    """Sample indices (within each row) of the events; -1 where not found.

    ``ic`` is the first sample that shows the impact: contact happened between ``ic - 1`` and
    ``ic`` (the engine reports the midpoint).
    """

    ms: IntArray
    to: IntArray
    ic: IntArray


def _row_sum(x: FloatArray) -> FloatArray:
    """Sum along rows in sequence: unlike ``sum`` (pairwise, split by length) the result does
    not depend on the padding, so a segment gives the same bits in any batch."""
    return np.cumsum(x, axis=1)[:, -1]


def _masked(x: FloatArray, mask: np.ndarray, fill: float) -> FloatArray:
    return np.where(mask, x, fill)


def detect_events(
    acc: FloatArray,
    gyr: FloatArray,
    speed: FloatArray,
    n: IntArray,
    onset_fraction: float = IMPACT_ONSET_FRACTION,
    dt: FloatArray | None = None,
    ic_from: IntArray | None = None,
) -> SegmentEvents:
    """Mid-swing, toe-off and initial contact per segment row.

    Method
    ------
    * Mid-swing: the fastest foot (peak of the strapdown speed), which unlike the largest
      toes-up rate cannot be confused with the heel drop after a forefoot landing.
    * Toe-off: between the segment start and mid-swing, the peak of the toes-down rotation
      about the toe (maximum of ``gyr_ml``) marks the end of push-off.
    * Initial contact: after mid-swing, the onset of the impact transient: the first sample
      of the largest rise of specific force (jerk), searched after the swing rotation stops.

    Parameters
    ----------
    acc, gyr
        (S, L, 3) foot-frame specific force (m/s^2) and angular rate (rad/s).
    speed
        (S, L) foot speed from the strapdown integration (m/s).
    n
        (S,) valid samples per row.
    onset_fraction
        Share of the largest second-difference residual that marks the impact onset.
    dt
        (S, L) time step before each sample, for irregular timestamps (bridged holes): the
        prediction extrapolates over the actual steps and the residual is taken per unit of
        squared time, so a smooth swing across a hole does not look like an impact. None:
        uniform steps.
    ic_from
        (S,) earliest row of the impact search (the middle of the segment's swing), -1: none.
    """
    s, length = gyr.shape[:2]
    idx = np.arange(length)[None, :]
    valid = idx < n[:, None]
    gml = gyr[..., 1]
    ms = np.argmax(_masked(speed, valid, -np.inf), axis=1)
    before = valid & (idx < ms[:, None])
    to = np.argmax(_masked(gml, before, -np.inf), axis=1)
    to = np.where(before.any(axis=1), to, -1)
    # Impact: the swing's specific force is smooth, the transient is not. The residual of a
    # linear prediction from the two previous samples (second difference) jumps at the first
    # sample after contact; IC lies just before the first sample whose residual reaches
    # ``onset_fraction`` of the largest one after mid-swing.
    jerk = np.zeros((s, length))
    if dt is None:
        d2 = acc[:, 2:] - 2 * acc[:, 1:-1] + acc[:, :-2]
        jerk[:, 2:] = np.sqrt(d2[..., 0] ** 2 + d2[..., 1] ** 2 + d2[..., 2] ** 2)
    else:
        h1, h0 = dt[:, 2:], dt[:, 1:-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(h0 > 0, h1 / np.where(h0 > 0, h0, 1.0), 1.0)
            d2 = acc[:, 2:] - acc[:, 1:-1] - (acc[:, 1:-1] - acc[:, :-2]) * ratio[..., None]
            scale = np.where(h1 > 0, 1.0 / np.where(h1 > 0, h1 * (h1 + h0), 1.0), 0.0)
        jerk[:, 2:] = np.sqrt(d2[..., 0] ** 2 + d2[..., 1] ** 2 + d2[..., 2] ** 2) * scale
    after = valid & (idx > ms[:, None])
    if ic_from is not None:
        after &= idx >= ic_from[:, None]
    jmax = _masked(jerk, after, -np.inf).max(axis=1, initial=-np.inf)
    first = np.argmax(after & (jerk >= onset_fraction * jmax[:, None]), axis=1)
    ic = np.where(after.any(axis=1) & (first > 0), first, -1)
    return SegmentEvents(ms=ms, to=to, ic=ic)


def toe_off_from_pivot(
    gyr: FloatArray,
    vel_foot: FloatArray,
    n: IntArray,
    ms: IntArray,
    peak: IntArray,
    levels_mps: tuple[float, float, float] = TOE_SPEED_LEVELS_MPS,
    heel_off_fraction: float = HEEL_OFF_FRACTION,
) -> tuple[FloatArray, FloatArray]:
    """Toe-off as the end of the rotation about the toe (pivot model).

    Method
    ------
    During heel-off the foot rotates about its toe, which stays on the ground: the sensor's
    velocity is ``v = r x w`` for the toe's position ``r`` relative to the sensor. ``r`` (in
    the sagittal plane) is fitted by least squares over the heel-off samples up to the peak
    toes-down rate; toe-off is the first sample after that peak where the toe's velocity
    ``v + w x r`` starts to grow, extrapolated back from the times it crosses three speed
    ``levels_mps`` (a power law in the time since toe-off). The idea follows the rigid-body
    contact models of foot-mounted IMU event detection (e.g. Falbriard et al. 2018, toe-off
    from the end of the pivot), implemented here from the kinematics.

    Returns the toe-off as a fractional sample index per row (NaN if not found) and the
    fitted lever arm (S, 2): (forward, up) position of the pivot relative to the sensor (m).
    """
    s, length = gyr.shape[:2]
    idx = np.arange(length)[None, :]
    w = gyr[..., 1]
    wpk = np.take_along_axis(w, peak[:, None], axis=1)
    heel_off = (idx <= peak[:, None]) & (w > heel_off_fraction * wpk) & (peak[:, None] >= 0)
    ww = _row_sum(np.where(heel_off, w * w, 0.0))
    ww = np.where(ww > 0, ww, 1.0)
    # v = r x w with w = (0, w, 0), r = (x, 0, z): v_pa = -z w, v_si = x w
    x = _row_sum(np.where(heel_off, vel_foot[..., 2] * w, 0.0)) / ww
    z = -_row_sum(np.where(heel_off, vel_foot[..., 0] * w, 0.0)) / ww
    r = np.stack([x, np.zeros(s), z], axis=-1)
    w_vec = gyr
    cross = np.stack(
        [
            w_vec[..., 1] * r[:, None, 2] - w_vec[..., 2] * r[:, None, 1],
            w_vec[..., 2] * r[:, None, 0] - w_vec[..., 0] * r[:, None, 2],
            w_vec[..., 0] * r[:, None, 1] - w_vec[..., 1] * r[:, None, 0],
        ],
        axis=-1,
    )
    toe = vel_foot + cross
    toe_speed = np.sqrt(toe[..., 0] ** 2 + toe[..., 1] ** 2 + toe[..., 2] ** 2)
    search = (idx > peak[:, None]) & (idx < ms[:, None]) & (idx < n[:, None])
    # The toe speeds up from zero as a power of the time since toe-off, s = c (t - t_to)^p:
    # the times it crosses three geometric levels give both p and t_to (sub-sample).
    crossings = []
    for level in levels_mps:
        hit = search & (toe_speed > level)
        j = np.argmax(hit, axis=1)
        found = hit.any(axis=1) & (j > 0)
        j = np.where(found, j, 1)
        s0 = np.take_along_axis(toe_speed, (j - 1)[:, None], axis=1)[:, 0]
        s1 = np.take_along_axis(toe_speed, j[:, None], axis=1)[:, 0]
        frac = np.clip((level - s0) / np.where(s1 > s0, s1 - s0, 1.0), 0.0, 1.0)
        crossings.append(np.where(found, j - 1 + frac, np.nan))
    ta, tb, tc = crossings
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.clip((tc - tb) / (tb - ta), 1.2, 10.0)
        # s^(1/p) grows linearly from toe-off: fit a line through the samples between the
        # first and last level (least squares, no interpolation bias) and take its root.
        inv_p = np.log(m) / np.log(levels_mps[1] / levels_mps[0])
        lo = np.floor(ta)
        hi = np.ceil(tc)
        use = (idx >= lo[:, None]) & (idx <= hi[:, None]) & search
        yy = np.where(use, np.maximum(toe_speed, 0.0) ** inv_p[:, None], 0.0)
        xx = np.where(use, idx, 0.0)
        k = use.sum(axis=1)
        sx, sy = _row_sum(xx), _row_sum(yy)
        sxx, sxy = _row_sum(xx * xx), _row_sum(xx * yy)
        slope = (k * sxy - sx * sy) / (k * sxx - sx * sx)
        intercept = (sy - slope * sx) / k
        to = -intercept / slope
        crude = (m * ta - tb) / (m - 1.0)
        to = np.where((k >= 3) & (slope > 0), to, crude)
    to = np.where(np.isfinite(to), np.maximum(to, peak.astype(float)), np.nan)
    # The toe was never still (a foot that does not rest): no pivot to end; the toe-off is the
    # end of push-off, the toes-down rate peak.
    first = np.clip(peak + 1, 0, length - 1)
    never_still = (
        (peak >= 0)
        & (first < ms)
        & (np.take_along_axis(toe_speed, first[:, None], axis=1)[:, 0] > levels_mps[0])
    )
    to = np.where(never_still, peak.astype(float), to)
    return to, np.stack([x, z], axis=-1)
