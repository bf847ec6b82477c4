"""Sensor-to-foot alignment: the rotation ``R_FS`` (sensor frame -> foot frame) from the data.

Two stages, in gaitmap's order: :class:`GravityPcaAlignment` finds the foot's up axis and its
medio-lateral axis up to a sign; :class:`ForwardSignAlignment` decides the sign (a 180 deg
turn about the up axis) from evidence over several strides, with a confidence.
:class:`SensorAlignment` is the result the streaming driver keeps and re-checks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np

from gaitcoach.gait.base import BaseAlignment
from gaitcoach.types import FloatArray

_FLIP = np.array([[-1.0], [-1.0], [1.0]])
"""Turn 180 deg about ``si``: ``pa`` and ``ml`` change sign."""


def _unit(v: FloatArray) -> FloatArray:
    return v / np.linalg.norm(v)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _moments(
    acc: FloatArray, gyr: FloatArray, rest: np.ndarray, swing: np.ndarray
) -> tuple[FloatArray, FloatArray]:
    """Mean specific force over ``rest`` rows, second moment of the rate over ``swing`` rows:
    plain sequential sums, so the result depends on the values only (numpy's and BLAS's
    blocked sums can round differently with the arrays' memory alignment, and streaming must
    equal batch bit for bit)."""
    mean = np.zeros(3)
    k = 0
    for i in range(acc.shape[0]):
        if rest[i]:
            k += 1
            for j in range(3):
                mean[j] += acc[i, j]
    mean /= max(k, 1)
    cov = np.zeros((3, 3))
    for i in range(gyr.shape[0]):
        if swing[i]:
            for a in range(3):
                for b in range(3):
                    cov[a, b] += gyr[i, a] * gyr[i, b]
    return mean, cov


class GravityPcaAlignment(BaseAlignment):
    """The foot's up axis from gravity at rest, its medio-lateral axis from the swing rotation.

    Method
    ------
    1. ``si`` (up) is the mean specific force over the rest samples (stance energy below 1:
       the foot flat on the ground reads gravity only); with too few (a foot that never
       rests), over the stillest tenth of the samples.
    2. ``ml`` is the dominant rotation axis while the foot swings: the principal eigenvector
       of the angular-rate covariance of samples faster than ``swing_min_gyr_radps`` (the foot
       mostly pitches about its medio-lateral axis), made orthogonal to ``si``.
    3. ``pa = ml x si``. The eigenvector's sign is ambiguous: :class:`ForwardSignAlignment`
       fixes it.

    This is the gravity + PCA alignment of gaitmap (``align_dataset_to_gravity``,
    ``PcaAlignment``; Küderle et al. 2024), written from the description.

    Parameters
    ----------
    swing_min_gyr_radps
        Samples faster than this are swing samples (rad/s).
    min_rest_samples, min_swing_samples
        Fewest samples for the estimate (else ``r_fs_`` is None).

    Attributes
    ----------
    r_fs_
        (3, 3) rotation ``v_foot = r_fs_ @ v_sensor`` (sign of ``pa``, ``ml`` unknown), or None.

    References
    ----------
    .. [1] Küderle, A., Ullrich, M., Roth, N., et al. (2024). Gaitmap - an open ecosystem for
       IMU-based human gait analysis and algorithm benchmarking. IEEE Open J. Eng. Med. Biol. 5,
       163-172.
    """

    def __init__(
        self,
        swing_min_gyr_radps: float = 3.0,
        min_rest_samples: int = 10,
        min_swing_samples: int = 20,
    ) -> None:
        self.swing_min_gyr_radps = swing_min_gyr_radps
        self.min_rest_samples = min_rest_samples
        self.min_swing_samples = min_swing_samples

    r_fs_: FloatArray | None

    def estimate(self, acc: FloatArray, gyr: FloatArray, energy: FloatArray) -> GravityPcaAlignment:
        """From samples (sensor frame, (n, 3)) and their stance energy (n,)."""
        self.r_fs_ = None
        rest = energy < 1.0
        if rest.sum() < self.min_rest_samples:
            rest = energy <= np.quantile(energy, 0.1) if len(energy) else rest
        swing = np.linalg.norm(gyr, axis=1) > self.swing_min_gyr_radps
        if rest.sum() < self.min_rest_samples or swing.sum() < self.min_swing_samples:
            return self
        mean, cov = _moments(
            np.ascontiguousarray(acc, dtype=np.float64),
            np.ascontiguousarray(gyr, dtype=np.float64),
            rest,
            swing,
        )
        si = _unit(mean)
        _, vecs = np.linalg.eigh(cov)
        axis = vecs[:, -1]
        ml = axis - (axis @ si) * si
        if np.linalg.norm(ml) < 1e-6:
            return self
        ml = _unit(ml)
        self.r_fs_ = np.stack([np.cross(ml, si), ml, si])
        return self


class ForwardSignAlignment(BaseAlignment):
    """The sign of the foot's forward axis: strides carry the foot toward its toes.

    Method
    ------
    Both candidate frames (``r`` and ``r`` turned 180 deg about ``si``) are tried on the same
    data: each is segmented into swings and strapdown-integrated between zero-velocity
    anchors (the engine's own stages, passed in as ``forward_of``). In the right frame the
    swings are the real swings and every stride moves the foot forward by a stride length;
    in the wrong one the "swings" are push-offs and heel slaps and the displacements scatter
    around zero or point backward. The frame whose strides move forward more consistently
    wins: the one with the larger median forward displacement per segment. It is *confident*
    when at least ``min_strides`` strides move forward (by ``min_forward_m`` or more), they are
    at least ``min_agreement`` of the strides that move at all, and the median beats the other
    frame's (or zero) by ``min_forward_m``. Deciding on whole
    strides between anchors placed between swings, never on half strides between a pause and
    a stance, is what keeps a slow walker's frame from flipping. The evidence follows
    gaitmap's ``ForwardDirectionSignAlignment`` (the sign of the integrated forward velocity;
    Küderle et al. 2024), here per stride.

    Parameters
    ----------
    min_strides, min_forward_m, min_agreement
        As above.

    Attributes
    ----------
    r_fs_
        (3, 3) the chosen frame.
    forward_m_
        Forward displacement (m) of each segment in the chosen frame.
    confidence_
        Share of the moving segments that move forward in the chosen frame (0..1).
    confident_
        Whether the decision meets the thresholds.
    margin_m_
        Median forward displacement in the chosen frame minus the other's (or zero).

    References
    ----------
    .. [1] Küderle, A., Ullrich, M., Roth, N., et al. (2024). Gaitmap - an open ecosystem for
       IMU-based human gait analysis and algorithm benchmarking. IEEE Open J. Eng. Med. Biol. 5,
       163-172.
    """

    def __init__(
        self, min_strides: int = 4, min_forward_m: float = 0.1, min_agreement: float = 0.8
    ) -> None:
        self.min_strides = min_strides
        self.min_forward_m = min_forward_m
        self.min_agreement = min_agreement

    r_fs_: FloatArray
    forward_m_: FloatArray
    confidence_: float
    confident_: bool
    margin_m_: float

    def _counts(self, forward_m: FloatArray) -> tuple[int, int]:
        return (
            int(np.sum(forward_m >= self.min_forward_m)),
            int(np.sum(forward_m <= -self.min_forward_m)),
        )

    def estimate(
        self, r_fs: FloatArray, forward_of: Callable[[FloatArray], FloatArray]
    ) -> ForwardSignAlignment:
        """Decide between ``r_fs`` and its 180 deg turn; ``forward_of(r)`` returns the
        segments' forward displacements (m) in frame ``r``."""
        tried = []
        for r in (r_fs, r_fs * _FLIP):
            fwd = np.asarray(forward_of(r), dtype=np.float64)
            tried.append((float(np.median(fwd)) if len(fwd) else -np.inf, r, fwd))
        tried.sort(key=lambda x: x[0], reverse=True)
        (best, self.r_fs_, self.forward_m_), (other, _, _) = tried
        self.margin_m_ = best - max(other, 0.0)
        n_fwd, n_back = self._counts(self.forward_m_)
        self.confidence_ = n_fwd / (n_fwd + n_back) if n_fwd + n_back else 0.0
        self.confident_ = (
            n_fwd >= self.min_strides
            and self.confidence_ >= self.min_agreement
            and self.margin_m_ >= self.min_forward_m
        )
        return self


@dataclass
class SensorAlignment:
    """The alignment a foot's analysis uses, re-checked on every stride that follows.

    Each new segment's forward displacement is evidence: the confidence is recomputed over
    all of them, and if ``flip_after`` of the last ``recheck_strides`` moving segments went
    backward the frame is turned 180 deg (and counted in ``flips_``).
    """

    r_fs_: FloatArray
    confidence_: float
    confident_: bool
    min_strides: int = 4
    min_forward_m: float = 0.1
    min_agreement: float = 0.8
    recheck_strides: int = 8
    flip_after: int = 6
    forward_: int = 0
    """Segments that moved forward (at least ``min_forward_m``) since the decision."""
    backward_: int = 0
    flips_: int = 0
    _recent: deque[bool] = field(default_factory=deque)

    def update(self, forward_m: float) -> bool:
        """Evidence of one new segment; True if the frame was just turned."""
        if -self.min_forward_m < forward_m < self.min_forward_m:
            return False
        recent = self._recent
        if forward_m > 0:
            self.forward_ += 1
            recent.append(True)
        else:
            self.backward_ += 1
            recent.append(False)
        if len(recent) > self.recheck_strides:
            recent.popleft()
        flipped = False
        if not recent[-1] and recent.count(False) >= self.flip_after:
            flipped = True
            self.r_fs_ = self.r_fs_ * _FLIP
            self.flips_ += 1
            recent.clear()
            self.forward_, self.backward_ = self.backward_, self.forward_
        moving = self.forward_ + self.backward_
        self.confidence_ = self.forward_ / moving
        if self.forward_ >= self.min_strides and self.confidence_ >= self.min_agreement:
            self.confident_ = True
        elif self.confidence_ < self.min_agreement and moving >= self.recheck_strides:
            self.confident_ = False
        return flipped
