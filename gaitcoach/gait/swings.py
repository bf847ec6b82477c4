"""Swing detection: every stride holds exactly one swing, found before anything else.

Two detectors, whose swings the segmentation (:mod:`gaitcoach.gait.segmentation`) merges:

* :class:`PitchSwingDetector`: the toes-up rotation of the swing (walking and running);
* :class:`ZuptStepDetector`: a foot displacement between two rests (steps that barely pitch
  the foot: pivot and turning steps, short first and last steps).

The compiled helpers scan forward from a position and report whether what they found is
final given the data so far, so the streaming driver and the batch path give the same swings.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from gaitcoach.gait.base import BaseSwingDetector
from gaitcoach.gait.kernels import _step_motion
from gaitcoach.types import FloatArray

NONE = 0
"""Status of a search: no swing starts before the returned ``resolved`` index."""
COMPLETE = 1
"""Status of a search: a swing with known start and end."""
STARTED = 2
"""Status of a search: a swing that will be kept has started; its end is not known yet."""
UNRESOLVED = 3
"""Status of a search: something that may become a swing begins at ``resolved``."""


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _next_pitch_run(
    t: FloatArray,
    w: FloatArray,
    i0: int,
    n: int,
    final: bool,
    rate: float,
    bridge_s: float,
    min_rot: float,
) -> tuple[int, int, int, bool]:
    """The first toes-up run (``-w > rate``; pauses up to ``bridge_s`` bridged) starting at
    or after ``i0``: (start, one past its last toes-up sample, the sample where its rotation
    reached ``min_rot`` or -1, whether it has ended within the data). start = -1: none yet."""
    start = -1
    end = -1
    qual = -1
    rot = 0.0
    for i in range(i0, n):
        if not -w[i] > rate:
            continue
        # A pause longer than the bridge ends the run; consecutive samples continue it even
        # across a timestamp hole (lost packets are no pause in the rotation).
        if start >= 0 and i > end and t[i] - t[end - 1] > bridge_s:
            return start, end, qual, True
        if start < 0:
            start = i
        if i > 0:
            rot -= w[i] * (t[i] - t[i - 1])
        if qual < 0 and rot >= min_rot:
            qual = i
        end = i + 1
    if start < 0:
        return -1, -1, -1, True
    # Ended once a later sample is not toes-up and the bridge has passed.
    return start, end, qual, final or (end < n and t[n - 1] - t[end - 1] > bridge_s)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _next_pitch_swing(
    t: FloatArray,
    w: FloatArray,
    pos: int,
    n: int,
    final: bool,
    prev_mid_t: float,
    rate: float,
    bridge_s: float,
    min_rot: float,
    min_stride_s: float,
) -> tuple[int, int, int, float, int]:
    """The next toes-up swing at or after ``pos``: a run turning the foot by ``min_rot`` whose
    middle comes at least ``min_stride_s`` after the previous swing's middle (a closer one is
    the same stride's: rotation ringing after an impact, the heel drop after a forefoot
    landing). Returns (status, start, end, middle time, resolved)."""
    p = pos
    while True:
        start, end, qual, ended = _next_pitch_run(t, w, p, n, final, rate, bridge_s, min_rot)
        if start < 0:
            return NONE, -1, -1, math.nan, n
        if not ended:
            # Its middle will come no earlier than halfway to its last toes-up sample so far.
            if qual >= 0 and t[(start + end - 1) // 2] - prev_mid_t >= min_stride_s:
                return STARTED, start, -1, math.nan, start
            return UNRESOLVED, -1, -1, math.nan, start
        if qual < 0:
            p = end
            continue
        mid_t = t[(start + end - 1) // 2]
        if mid_t - prev_mid_t < min_stride_s:
            p = end
            continue
        return COMPLETE, start, end, mid_t, start


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _next_step(
    t: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    energy: FloatArray,
    pos: int,
    region_end: int,
    n: int,
    final: bool,
    prev_mid_t: float,
    h: int,
    min_rest_s: float,
    min_disp_m: float,
    min_turn: float,
    min_lift_m: float,
    min_stride_s: float,
    max_stride_s: float,
    rest_level: float,
) -> tuple[int, int, int, float, int]:
    """The next step between two rests inside ``[pos, region_end)``: a stretch of motion
    between two rest runs (``energy < rest_level`` for ``min_rest_s``) over which the foot
    moves at least ``min_disp_m`` horizontally, or turns by at least ``min_turn`` (rad) after
    rising at least ``min_lift_m`` (strapdown with ZUPT at both rests), lasting at most
    ``max_stride_s``, its middle at least ``min_stride_s`` after the previous swing's.
    Returns (status, start, end, middle time, resolved)."""
    i = pos
    moved_from = -1  # first sample of motion after a long enough rest
    while i < region_end:
        if not energy[i] < rest_level:
            i += 1
            continue
        ra = i
        while i < region_end and energy[i] < rest_level:
            i += 1
        rb = i
        long_enough = t[rb - 1] - t[ra] >= min_rest_s
        if not long_enough:
            if rb == n and not final:
                # A rest still growing at the end of the data may yet become long enough.
                return UNRESOLVED, -1, -1, math.nan, moved_from if moved_from >= 0 else ra
            continue
        if moved_from >= 0 and ra > moved_from:
            mid = (moved_from + ra - 1) // 2
            mid_t = t[mid]
            if (
                t[ra] - t[moved_from - 1] <= max_stride_s
                and mid_t - prev_mid_t >= min_stride_s
            ):
                disp, turn, lift = _step_motion(t, acc, gyr, moved_from - 1, ra + 1, h)
                if disp >= min_disp_m or (turn >= min_turn and lift >= min_lift_m):
                    return COMPLETE, moved_from, ra, mid_t, moved_from
        moved_from = rb
    if (
        moved_from >= 0
        and moved_from < region_end
        and region_end == n
        and not final
        # The next rest starts after the data (its last sample moves): a motion that has
        # lasted longer than a step can is no step, whatever comes (a foot moving on without
        # a rest is not held open for hours).
        and t[n - 1] - t[moved_from - 1] <= max_stride_s
    ):
        return UNRESOLVED, -1, -1, math.nan, moved_from
    return NONE, -1, -1, math.nan, region_end


class PitchSwingDetector(BaseSwingDetector):
    """Swings as runs of toes-up rotation of the foot.

    Method
    ------
    From toe-off to the next contact the foot turns from toes-down to toes-up (or flat):
    60-100 deg in running, 40-80 deg in walking, while other toes-up rotations (the heel
    drop after a forefoot landing, wobble in stance) turn it by less than 15 deg. A swing is a
    run of ``gyr_ml < -rate_radps`` (pauses up to ``bridge_s`` do not end it) turning the foot
    by at least ``min_rotation_deg``; a run whose middle comes less than ``min_stride_s``
    after the previous swing's middle belongs to that stride. Swing-first segmentation from
    the sagittal angular velocity follows the foot- and shank-worn literature (Aminian et al.
    2002; Falbriard et al. 2018 segment running from mid-swing to mid-swing).

    Parameters
    ----------
    rate_radps, bridge_s, min_rotation_deg, min_stride_s
        As above.

    Attributes
    ----------
    swings_
        (K, 2) first and one-past-last toes-up sample of each swing.

    References
    ----------
    .. [1] Aminian, K., Najafi, B., Büla, C., Leyvraz, P.-F., Robert, P. (2002). Spatio-temporal
       parameters of gait measured by an ambulatory system using miniature gyroscopes.
       J. Biomech. 35(5), 689-699.
    .. [2] Falbriard, M., Meyer, F., Mariani, B., Millet, G. P., Aminian, K. (2018). Accurate
       estimation of running temporal parameters using foot-worn inertial sensors. Front.
       Physiol. 9, 610.
    """

    def __init__(
        self,
        rate_radps: float = 1.0,
        bridge_s: float = 0.03,
        min_rotation_deg: float = 20.0,
        min_stride_s: float = 0.4,
    ) -> None:
        self.rate_radps = rate_radps
        self.bridge_s = bridge_s
        self.min_rotation_deg = min_rotation_deg
        self.min_stride_s = min_stride_s

    swings_: np.ndarray

    def detect(self, t: FloatArray, gyr_ml: FloatArray) -> PitchSwingDetector:
        """Swings of a whole run (time (n,), foot-frame pitch rate (n,), toes up negative)."""
        t = np.ascontiguousarray(t, dtype=np.float64)
        w = np.ascontiguousarray(gyr_ml, dtype=np.float64)
        out: list[tuple[int, int]] = []
        pos, prev_mid = 0, -math.inf
        while True:
            status, s, e, mid_t, _ = _next_pitch_swing(
                t,
                w,
                pos,
                len(t),
                True,
                prev_mid,
                self.rate_radps,
                self.bridge_s,
                math.radians(self.min_rotation_deg),
                self.min_stride_s,
            )
            if status != COMPLETE:
                break
            out.append((s, e))
            pos, prev_mid = e, mid_t
        self.swings_ = np.array(out, dtype=np.int64).reshape(-1, 2)
        return self


class ZuptStepDetector(BaseSwingDetector):
    """Steps as changes of the foot's placement between two rests (zero-velocity phases).

    Method
    ------
    Between two rest runs (:class:`~gaitcoach.gait.rest.StanceEnergyRest`) the foot's
    trajectory is integrated with zero-velocity updates at both ends. The foot is put down
    elsewhere (a displacement of at least ``min_displacement_m``) or, lifted at least
    ``min_lift_m``, put down turned by at least ``min_turn_deg``: a step, whatever the foot's
    pitch: pivot and turning steps, short first and last steps. This is the step of ZUPT-aided
    foot-mounted navigation, where each step between zero-velocity phases changes the foot's
    position and heading (Foxlin 2005; Skog et al. 2010). A stance foot that only swivels on
    the ground in a turn changes its heading but moves the sensor less and does not lift it.
    Only stretches holding no toes-up swing are examined (the segmentation gives it the gaps
    between :class:`PitchSwingDetector`'s swings).

    Parameters
    ----------
    min_displacement_m
        Shortest step (m).
    min_turn_deg, min_lift_m
        A shorter step is one if the foot rose at least ``min_lift_m`` (m) and turned at least
        ``min_turn_deg`` (the angle between its orientations at the two rests, deg).
    rest_energy
        A rest bounding a step has a stance energy below this.
    max_duration_s
        Longest step (s).
    min_stride_s
        A step's middle comes at least this long after the previous swing's middle.

    Attributes
    ----------
    swings_
        (K, 2) first and one-past-last sample of motion of each step.

    References
    ----------
    .. [1] Foxlin, E. (2005). Pedestrian tracking with shoe-mounted inertial sensors. IEEE
       Computer Graphics and Applications 25(6), 38-46.
    .. [2] Skog, I., Händel, P., Nilsson, J.-O., Rantakokko, J. (2010). Zero-velocity
       detection: an algorithm evaluation. IEEE Trans. Biomed. Eng. 57(11), 2657-2666.
    """

    def __init__(
        self,
        min_displacement_m: float = 0.15,
        max_duration_s: float = 2.5,
        min_stride_s: float = 0.4,
        rest_energy: float = 1.0,
        min_turn_deg: float = 30.0,
        min_lift_m: float = 0.007,
    ) -> None:
        self.min_displacement_m = min_displacement_m
        self.min_turn_deg = min_turn_deg
        self.min_lift_m = min_lift_m
        self.rest_energy = rest_energy
        self.max_duration_s = max_duration_s
        self.min_stride_s = min_stride_s

    swings_: np.ndarray

    def detect(
        self,
        t: FloatArray,
        acc: FloatArray,
        gyr: FloatArray,
        energy: FloatArray,
        min_rest_s: float,
        h: int,
    ) -> ZuptStepDetector:
        """Steps of a whole run: samples (sensor frame), running-maximum stance energy
        (:class:`~gaitcoach.gait.rest.StanceEnergyRest`), shortest rest, rest-force half
        window in samples."""
        t = np.ascontiguousarray(t, dtype=np.float64)
        acc = np.ascontiguousarray(acc, dtype=np.float64)
        gyr = np.ascontiguousarray(gyr, dtype=np.float64)
        energy = np.ascontiguousarray(energy, dtype=np.float64)
        out: list[tuple[int, int]] = []
        pos, prev_mid, n = 0, -math.inf, len(t)
        while True:
            status, s, e, mid_t, _ = _next_step(
                t,
                acc,
                gyr,
                energy,
                pos,
                n,
                n,
                True,
                prev_mid,
                h,
                min_rest_s,
                self.min_displacement_m,
                math.radians(self.min_turn_deg),
                self.min_lift_m,
                self.min_stride_s,
                self.max_duration_s,
                self.rest_energy,
            )
            if status != COMPLETE:
                break
            out.append((s, e))
            pos, prev_mid = e, mid_t
        self.swings_ = np.array(out, dtype=np.int64).reshape(-1, 2)
        return self
