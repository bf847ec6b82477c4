"""Gait events of one segment (foot frame, after :class:`~gaitcoach.gait.trajectory.StrapdownZupt`).

A segment holds the toe-off (TO) of the stance it starts in, the swing with its mid-swing
(MS) and the initial contact (IC) of the next stance. The initial contact has two methods,
chosen by activity when a stride is assembled (:mod:`gaitcoach.gait.parameters`): in running
the contact is sharp and the impact transient marks it; in walking the heel lands softly as
the terminal-swing dorsiflexion ends and the transient follows 5-30 ms later.

Body frame: foot frame of docs/frames.md; ``gyr_ml`` is negative while the toes rise.
"""

from __future__ import annotations

import math

import numpy as np

from gaitcoach.gait.base import BaseEventDetector
from gaitcoach.gait.kernels import _dorsiflexion_end, _impact_onset, _mid_swing, _pivot_toe_off
from gaitcoach.gait.trajectory import StrapdownZupt
from gaitcoach.types import FloatArray

IMPACT_ONSET_FRACTION = 0.15
"""IC: share of the largest second-difference residual after mid-swing that marks the impact."""
IMPACT_RISE_S = 0.06
"""IC: the impact's onset comes at most this long before its largest residual."""
HEEL_OFF_FRACTION = 0.5
"""Heel-off samples for the lever-arm fit: toes-down rate above this share of its peak."""
TOE_SPEED_LEVELS_MPS = (0.25, 0.5, 1.0)
"""Toe speeds whose crossing times give the toe-off by power-law extrapolation."""


def _time_at(t: FloatArray, pos: float) -> float:
    """Time at a fractional sample index (linear between samples)."""
    k = min(max(int(pos), 0), len(t) - 1)
    k1 = min(k + 1, len(t) - 1)
    return float(t[k] + (pos - k) * (t[k1] - t[k]))


class MidSwing(BaseEventDetector):
    """Mid-swing: the fastest foot (peak of the strapdown speed) within the swing (its
    toes-up rotation, or a step's motion), which unlike the largest toes-up rate cannot be
    confused with the heel drop after a forefoot landing, and unlike the fastest sample of
    the whole segment not with the slap to flat after a slow first step.

    Attributes
    ----------
    index_
        Sample of mid-swing.
    event_s_
        Its time.
    """

    index_: int
    event_s_: float

    def detect(
        self, t: FloatArray, traj: StrapdownZupt, swing: tuple[int, int] | None = None
    ) -> MidSwing:
        lo, hi = swing if swing is not None else (0, len(t))
        self.index_ = int(_mid_swing(traj.speed_mps_, lo, hi))
        self.event_s_ = float(t[self.index_])
        return self


class ImpactOnsetIC(BaseEventDetector):
    """Initial contact of running (and the landing transient of walking): an impact's onset.

    Method
    ------
    The swing's specific force is smooth, the landing's is not: the residual of a linear
    prediction from the two previous samples (second difference, per unit squared time so a
    bridged timestamp hole is not taken for an impact) jumps at the first sample after
    contact. IC is the midpoint before the first sample, after mid-swing and after the end of
    the swing's toes-up rotation (``search_from``; a knock earlier in the swing is never
    taken), whose residual reaches ``onset_fraction`` of the largest. Acceleration-based
    contact features of foot-worn sensors are compared by Falbriard et al. (2018).

    Parameters
    ----------
    onset_fraction
        Share of the largest residual that marks the onset.

    Attributes
    ----------
    index_
        First sample showing the impact (-1: none).
    event_s_
        IC time (NaN: none).

    References
    ----------
    .. [1] Falbriard, M., Meyer, F., Mariani, B., Millet, G. P., Aminian, K. (2018). Accurate
       estimation of running temporal parameters using foot-worn inertial sensors. Front.
       Physiol. 9, 610.
    """

    def __init__(
        self, onset_fraction: float = IMPACT_ONSET_FRACTION, rise_s: float = math.inf
    ) -> None:
        self.onset_fraction = onset_fraction
        self.rise_s = rise_s

    index_: int
    event_s_: float

    def detect(
        self, t: FloatArray, acc: FloatArray, mid_swing: int, search_from: int = -1
    ) -> ImpactOnsetIC:
        self.index_ = int(
            _impact_onset(
                np.ascontiguousarray(t, dtype=np.float64),
                np.ascontiguousarray(acc, dtype=np.float64),
                max(mid_swing + 1, search_from),
                self.onset_fraction,
                self.rise_s,
                np.empty(len(t)),
            )
        )
        i = self.index_
        self.event_s_ = 0.5 * float(t[i - 1] + t[i]) if i > 0 else math.nan
        return self


class DorsiflexionEndIC(BaseEventDetector):
    """Initial contact of walking: the end of the terminal-swing dorsiflexion.

    Method
    ------
    In walking the heel touches down as the foot stops dorsiflexing: the last zero crossing
    of ``gyr_ml`` from negative (toes rising) to non-negative before the landing transient
    (:class:`ImpactOnsetIC` with ``rise_s``), if it comes at most ``window_s`` before it (else
    the landing transient's onset). Contact from the
    sagittal angular velocity of a foot-worn sensor follows Mariani et al. (2010) and Rampp
    et al. (2015); the window is calibrated on gaitmap's walking example with motion capture
    (docs/validation.md).

    Parameters
    ----------
    window_s
        Longest time from the zero crossing to the impact onset.

    Attributes
    ----------
    event_s_
        IC time (NaN: no impact).

    References
    ----------
    .. [1] Mariani, B., Hoskovec, C., Rochat, S., Büla, C., Penders, J., Aminian, K. (2010). 3D
       gait assessment in young and elderly subjects using foot-worn inertial sensors.
       J. Biomech. 43(15), 2999-3006.
    .. [2] Rampp, A., Barth, J., Schülein, S., Gaßmann, K.-G., Klucken, J., Eskofier, B. M.
       (2015). Inertial sensor-based stride parameter calculation from gait sequences in
       geriatric patients. IEEE Trans. Biomed. Eng. 62(4), 1089-1097.
    """

    def __init__(self, window_s: float = 0.035) -> None:
        self.window_s = window_s

    event_s_: float

    def detect(
        self, t: FloatArray, gyr_ml: FloatArray, mid_swing: int, impact: ImpactOnsetIC
    ) -> DorsiflexionEndIC:
        i = impact.index_
        self.event_s_ = math.nan
        if i > 0:
            end = _dorsiflexion_end(
                np.ascontiguousarray(t, dtype=np.float64),
                np.ascontiguousarray(gyr_ml, dtype=np.float64),
                mid_swing,
                i,
                impact.event_s_,
                self.window_s,
            )
            self.event_s_ = float(end) if end == end else impact.event_s_
        return self


class PivotToeOff(BaseEventDetector):
    """Toe-off as the end of the rotation about the toe (pivot model).

    Method
    ------
    During heel-off the foot rotates about its toe, which stays on the ground: the sensor's
    velocity is ``v = r x w`` for the toe's position ``r`` relative to the sensor. ``r`` (in
    the sagittal plane) is fitted by least squares over the heel-off samples (toes-down rate
    above ``heel_off_fraction`` of its peak before mid-swing); the toe's speed ``|v + w x r|``
    stays near zero until toe-off and then grows as a power of the time since; the power and
    the origin come from the times it crosses three geometric ``levels_mps``, refined by a
    least-squares line through ``speed^(1/p)``. If the toe already moves faster than the
    lowest level when push-off ends (a foot that never rests), TO is the toes-down rate peak.
    The idea follows the rigid-body contact models of foot-worn event detection (Falbriard et
    al. 2018, terminal contact at the end of the pivot), implemented from the kinematics.

    Parameters
    ----------
    heel_off_fraction, levels_mps
        As above.

    Attributes
    ----------
    event_s_
        TO time (NaN: none).

    References
    ----------
    .. [1] Falbriard, M., Meyer, F., Mariani, B., Millet, G. P., Aminian, K. (2018). Accurate
       estimation of running temporal parameters using foot-worn inertial sensors. Front.
       Physiol. 9, 610.
    """

    def __init__(
        self,
        heel_off_fraction: float = HEEL_OFF_FRACTION,
        levels_mps: tuple[float, float, float] = TOE_SPEED_LEVELS_MPS,
    ) -> None:
        self.heel_off_fraction = heel_off_fraction
        self.levels_mps = levels_mps

    event_s_: float

    def detect(
        self, t: FloatArray, gyr: FloatArray, traj: StrapdownZupt, mid_swing: int
    ) -> PivotToeOff:
        pos = _pivot_toe_off(
            np.ascontiguousarray(t, dtype=np.float64),
            np.ascontiguousarray(gyr, dtype=np.float64),
            traj.quat_,
            traj.vel_mps_,
            mid_swing,
            np.asarray(self.levels_mps, dtype=np.float64),
            self.heel_off_fraction,
            np.empty((len(t), 3)),
            np.empty(len(t)),
        )
        self.event_s_ = _time_at(t, pos) if math.isfinite(pos) else math.nan
        return self
