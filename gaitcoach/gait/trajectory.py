"""Trajectory of a segment between two zero-velocity instants (strapdown with ZUPT)."""

from __future__ import annotations

import numpy as np

from gaitcoach.gait.base import BaseTrajectory
from gaitcoach.gait.kernels import _strapdown
from gaitcoach.types import FloatArray


class StrapdownZupt(BaseTrajectory):
    """Strapdown integration with a zero-velocity update at both ends of a segment.

    Method
    ------
    Initial tilt from gravity (the mean specific force at rest; heading 0), first-order
    quaternion update with the mid-point angular rate, gravity removed in the world frame,
    trapezoid integration of velocity, the linear drift that leaves the end velocity non-zero
    removed (the ZUPT: the foot is at rest again), trapezoid integration of position; the
    height is de-drifted so the foot ends at its starting level. After Skog et al. (2010) and
    the linear de-drifting of Rampp et al. (2014).

    Body frame: the foot frame of docs/frames.md (``pa``, ``ml``, ``si``) when the input is
    aligned; the result is frame-independent in its horizontal displacement.

    Attributes
    ----------
    quat_
        (n, 4) foot-to-world orientation (w, x, y, z), yaw 0 at the start.
    vel_mps_
        (n, 3) velocity in the world frame, zero at both ends.
    speed_mps_
        (n,) speed.
    height_m_
        (n,) height above the start, de-drifted to end level.
    end_m_
        (3,) position at the end (before the height de-drifting).

    References
    ----------
    .. [1] Skog, I., Händel, P., Nilsson, J.-O., Rantakokko, J. (2010). Zero-velocity
       detection: an algorithm evaluation. IEEE Trans. Biomed. Eng. 57(11), 2657-2666.
    .. [2] Rampp, A., Barth, J., Schülein, S., Gaßmann, K.-G., Klucken, J., Eskofier, B. M.
       (2015). Inertial sensor-based stride parameter calculation from gait sequences in
       geriatric patients. IEEE Trans. Biomed. Eng. 62(4), 1089-1097.
    """

    quat_: FloatArray
    vel_mps_: FloatArray
    speed_mps_: FloatArray
    height_m_: FloatArray
    end_m_: FloatArray

    def estimate(
        self, t: FloatArray, acc: FloatArray, gyr: FloatArray, acc_rest: FloatArray
    ) -> StrapdownZupt:
        """Integrate one segment (time (n,), specific force and rate (n, 3), rest force (3,))."""
        n = len(t)
        self.quat_ = np.empty((n, 4))
        self.vel_mps_ = np.empty((n, 3))
        self.speed_mps_ = np.empty(n)
        self.height_m_ = np.empty(n)
        end = _strapdown(
            np.ascontiguousarray(t, dtype=np.float64),
            np.ascontiguousarray(acc, dtype=np.float64),
            np.ascontiguousarray(gyr, dtype=np.float64),
            np.ascontiguousarray(acc_rest, dtype=np.float64),
            self.quat_,
            self.vel_mps_,
            self.speed_mps_,
            self.height_m_,
        )
        self.end_m_ = np.array(end)
        return self
