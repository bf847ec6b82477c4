"""Stride segmentation around swings: the swing first, then the stances on either side.

A segment runs from a zero-velocity anchor before a swing to one after it, so it holds the
toe-off, the swing and the landing of one step; two consecutive segments make a stride. The
swings come from :mod:`gaitcoach.gait.swings`; an anchor is the stillest sample of the stance
between two swings, so it can never fall inside a swing, whatever pauses the foot makes.

:func:`scan_segments` is a resumable scanner: it walks forward from the end of the last
segment it returned (its state is three numbers) and returns only segments that later data
cannot change. The streaming driver calls it after every chunk, the batch path once; both
get the same segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from gaitcoach.gait.base import BaseSegmenter
from gaitcoach.gait.kernels import KIND_PITCH, KIND_STEP, SPAN_DTYPE
from gaitcoach.gait.swings import (
    COMPLETE,
    NONE,
    STARTED,
    UNRESOLVED,
    _next_pitch_swing,
    _next_step,
)
from gaitcoach.types import FloatArray


@dataclass(frozen=True, slots=True)
class ScanState:
    """Where a run's scan resumes: after the swing of the last returned segment."""

    lo: int = 0
    """Run index: the end of the last returned swing (or the run's start)."""
    prev_land: int = 0
    """Run index of that swing's landing (the next start anchor is searched after it)."""
    prev_mid_s: float = -math.inf
    """Time of that swing's middle (the next swing's middle comes a stride later)."""


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _argmin(x: FloatArray, a: int, b: int) -> int:
    best = a
    for i in range(a + 1, b):
        if x[i] < x[best]:
            best = i
    return best


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _landing(ad: FloatArray, e: int, stop: int) -> int:
    """First sample in ``[e, stop)`` whose ``||acc| - g|`` reaches half the largest there:
    before it the foot may hang still in the air after its swing rotation ended."""
    if stop <= e:
        return e
    peak = 0.0
    for i in range(e, stop):
        peak = max(peak, ad[i])
    i = e
    while i < stop - 1 and ad[i] < 0.5 * peak:
        i += 1
    return i


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _next_swing(
    t: FloatArray,
    w: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    energy: FloatArray,
    pos: int,
    n: int,
    final: bool,
    prev_mid_t: float,
    h: int,
    rate: float,
    bridge_s: float,
    min_rot: float,
    min_stride_s: float,
    max_stride_s: float,
    min_rest_s: float,
    min_step_m: float,
    min_turn: float,
    min_lift_m: float,
    step_rest: float,
) -> tuple[int, int, int, int, float, int]:
    """The next swing of either detector at or after ``pos``: (status, start, end, kind,
    middle time, resolved); no swing starts before ``resolved`` unless returned."""
    a_status, a_s, a_e, a_mid, a_res = _next_pitch_swing(
        t, w, pos, n, final, prev_mid_t, rate, bridge_s, min_rot, min_stride_s
    )
    region_end = a_s if a_status in (COMPLETE, STARTED) else a_res
    b_status, b_s, b_e, b_mid, b_res = _next_step(
        t,
        acc,
        gyr,
        energy,
        pos,
        region_end,
        n,
        final,
        prev_mid_t,
        h,
        min_rest_s,
        min_step_m,
        min_turn,
        min_lift_m,
        min_stride_s,
        max_stride_s,
        step_rest,
    )
    if b_status == COMPLETE:
        return COMPLETE, b_s, b_e, KIND_STEP, b_mid, b_s
    if b_status == UNRESOLVED:
        return UNRESOLVED, -1, -1, KIND_STEP, math.nan, b_res
    return a_status, a_s, a_e, KIND_PITCH, a_mid, min(a_res, b_res)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _scan(
    t: FloatArray,
    w: FloatArray,
    acc: FloatArray,
    gyr: FloatArray,
    energy: FloatArray,
    ad: FloatArray,
    n_data: int,
    final: bool,
    lo: int,
    prev_land: int,
    prev_mid_t: float,
    h: int,
    rate: float,
    bridge_s: float,
    min_rot: float,
    min_stride_s: float,
    max_stride_s: float,
    min_rest_s: float,
    min_step_m: float,
    min_turn: float,
    min_lift_m: float,
    step_rest: float,
    land_s: float,
    settle_s: float,
    stance_s: float,
) -> tuple[np.ndarray, int, int, float]:
    # The running-maximum energy needs h samples after each one.
    n = n_data if final else n_data - h
    spans = np.empty((16, 7), np.int64)
    count = 0
    new_lo, new_land, new_mid = lo, prev_land, prev_mid_t
    if n <= lo:
        return spans[:0], new_lo, new_land, new_mid
    pos, pl, pm = lo, prev_land, prev_mid_t
    have = False
    c_a0 = c_s = c_e = c_icf = c_kind = c_land = 0
    c_mid = 0.0
    while True:
        status, s, e, kind, mid_t, resolved = _next_swing(
            t,
            w,
            acc,
            gyr,
            energy,
            pos,
            n,
            final,
            pm,
            h,
            rate,
            bridge_s,
            min_rot,
            min_stride_s,
            max_stride_s,
            min_rest_s,
            min_step_m,
            min_turn,
            min_lift_m,
            step_rest,
        )
        if have:
            # End anchor: the stillest sample from the landing on, before the next swing and
            # within ``settle_s`` of the landing (a long rest: its start). Short, so the
            # stride is final soon after it lands.
            lim = np.searchsorted(t[:n_data], t[c_land] + settle_s)
            known = status in (COMPLETE, STARTED)
            if known and s <= lim:
                stop = s
            elif lim <= n and resolved >= lim:
                stop = lim
            elif final:
                stop = min(lim, n)
                if known:
                    stop = min(stop, s)
            else:
                break
            a1 = _argmin(energy, c_land, stop) if stop > c_land else c_land
            if count == spans.shape[0]:
                grown = np.empty((2 * count, 7), np.int64)
                grown[:count] = spans
                spans = grown
            spans[count, 0] = c_a0
            spans[count, 1] = a1
            spans[count, 2] = c_s
            spans[count, 3] = c_e
            spans[count, 4] = c_icf
            spans[count, 5] = c_kind
            spans[count, 6] = c_land
            count += 1
            new_lo, new_land, new_mid = c_e, c_land, c_mid
            have = False
        if status != COMPLETE:
            break
        # Start anchor: the stillest sample within ``stance_s`` before the swing, after the
        # previous landing.
        b0 = max(pl, np.searchsorted(t[:n_data], t[s] - stance_s))
        stop_land = np.searchsorted(t[:n_data], t[e] + land_s) if e < n_data else n_data
        if stop_land > n or e >= n or t[n - 1] < t[e] + land_s:
            # The landing window runs past the data: wait for more, or at the end of the
            # data give no segment (a swing cut off by the end has not been seen to land).
            break
        land = _landing(ad, e, stop_land)
        pl, pm, pos = land, mid_t, e
        if b0 >= s or land >= n:
            # The swing starts with the run (no rest before it to start from) or the data
            # end before it lands.
            continue
        have = True
        c_a0 = _argmin(energy, b0, s)
        c_s, c_e, c_kind, c_land, c_mid = s, e, kind, land, mid_t
        # The impact comes after the toes-up rotation ends; a step has none to go by.
        c_icf = e - 1 if kind == KIND_PITCH else -1
    if not have and status == NONE:
        # A long rest at the end with nothing pending: resume inside it, so a standing foot
        # is not rescanned from its last swing at every chunk. Safe: a later swing starts
        # after the data, its start anchor is searched at most ``stance_s`` before it, and
        # the rest seen from there is still longer than ``min_rest_s``.
        j = n - 1
        while j > new_lo and energy[j] < 1.0 and not -w[j] > rate:
            j -= 1
        if j + 1 < n and t[n - 1] - t[j + 1] >= stance_s + min_rest_s:
            resume = np.searchsorted(t[:n_data], t[n - 1] - stance_s)
            if resume > new_lo:
                new_lo = resume
                new_land = max(new_land, resume)
        else:
            # Motion without a stance (swinging, pedalling) and nothing pending: resume
            # ``stance_s`` before the end too, after the last toes-up sample (no swing run is
            # cut: the runs before it have ended) and outside a rest (every rest from there is
            # seen whole), so the scan gives what it would from its last segment and a foot
            # that never rests is not held and rescanned from that segment for hours.
            k = n - 1
            while k > new_lo and not -w[k] > rate:
                k -= 1
            resume = np.searchsorted(t[:n_data], t[n - 1] - stance_s)
            if resume > max(k, new_lo) and not energy[resume - 1] < step_rest:
                new_lo = resume
                new_land = max(new_land, resume)
    return spans[:count], new_lo, new_land, new_mid


@dataclass(frozen=True, slots=True)
class RunSignals:
    """The per-sample signals of one run that the segmentation reads (equal lengths)."""

    t: FloatArray
    """Time (s)."""
    gyr_ml: FloatArray
    """The foot's pitch rate, toes up negative (rad/s)."""
    acc: FloatArray
    """Specific force, sensor frame (n, 3)."""
    gyr: FloatArray
    """Angular rate, sensor frame (n, 3)."""
    energy: FloatArray
    """Running-maximum stance energy (:class:`~gaitcoach.gait.rest.StanceEnergyRest`)."""
    acc_dev: FloatArray
    """``||acc| - g|`` (m/s^2)."""

    def head(self, n: int) -> RunSignals:
        """The first ``n`` samples (views)."""
        return RunSignals(
            self.t[:n],
            self.gyr_ml[:n],
            self.acc[:n],
            self.gyr[:n],
            self.energy[:n],
            self.acc_dev[:n],
        )


def scan_segments(
    signals: RunSignals, state: ScanState, final: bool, params: SegmentationParams
) -> tuple[np.ndarray, ScanState]:
    """Segments of one run found after ``state`` that no later data can change.

    ``signals`` hold the run's samples from some index at or before ``state.lo - h - 1``
    (indices in ``state`` and in the result are into them). ``final``: the run ends here (a
    gap or the end of data). Returns rows of :data:`SPAN_DTYPE` and the state to resume from.
    """
    p = params
    sig = signals
    spans, lo, land, mid = _scan(
        sig.t,
        sig.gyr_ml,
        sig.acc,
        sig.gyr,
        sig.energy,
        sig.acc_dev,
        len(sig.t),
        final,
        state.lo,
        state.prev_land,
        state.prev_mid_s,
        p.h,
        p.swing_rate_radps,
        p.swing_bridge_s,
        math.radians(p.swing_min_rotation_deg),
        p.min_stride_s,
        p.max_stride_s,
        p.rest_min_s,
        p.step_min_displacement_m,
        math.radians(p.step_min_turn_deg),
        p.step_min_lift_m,
        p.step_rest_energy,
        p.landing_window_s,
        p.settle_window_s,
        p.stance_search_s,
    )
    return spans.view(SPAN_DTYPE).reshape(len(spans)), ScanState(int(lo), int(land), float(mid))


@dataclass(frozen=True, slots=True)
class SegmentationParams:
    """The segmentation's settings at one sample rate (from :class:`GaitConfig`)."""

    h: int
    swing_rate_radps: float
    swing_bridge_s: float
    swing_min_rotation_deg: float
    min_stride_s: float
    max_stride_s: float
    rest_min_s: float
    step_min_displacement_m: float
    step_min_turn_deg: float
    step_min_lift_m: float
    step_rest_energy: float
    landing_window_s: float
    settle_window_s: float
    stance_search_s: float


class SwingSegmenter(BaseSegmenter):
    """Segments from the stance before each swing to the stance after it.

    Method
    ------
    Swings come first (:class:`~gaitcoach.gait.swings.PitchSwingDetector`, and
    :class:`~gaitcoach.gait.swings.ZuptStepDetector` between them). After a swing the
    *landing* is the first sample whose ``||acc| - g|`` reaches half its largest value within
    ``landing_window_s`` (before it the foot may hang still). The *end anchor* is the stillest
    sample (lowest running-maximum stance energy) from the landing to the next swing, at most
    ``settle_window_s`` after the landing (the foot is flat by then; a short window makes the
    stride final soon after it lands); the *start anchor* of the next swing is the stillest
    sample within ``stance_search_s`` before it, after the previous landing. In a short
    stance both are the same sample; after a long rest they are its start and its end.
    An anchor is the zero-velocity update of the strapdown integration (Skog et al. 2010) and
    need not be true rest: a foot that never rests (some runners keep it turning through
    stance) has its stillest sample there. This swing-first order is the one of the foot-worn
    running literature (Falbriard et al. 2018: mid-swing to mid-swing cycles).

    Parameters
    ----------
    params
        :class:`SegmentationParams`.

    Attributes
    ----------
    spans_
        Rows of :data:`~gaitcoach.gait.kernels.SPAN_DTYPE`.

    References
    ----------
    .. [1] Falbriard, M., Meyer, F., Mariani, B., Millet, G. P., Aminian, K. (2018). Accurate
       estimation of running temporal parameters using foot-worn inertial sensors. Front.
       Physiol. 9, 610.
    .. [2] Skog, I., Händel, P., Nilsson, J.-O., Rantakokko, J. (2010). Zero-velocity
       detection: an algorithm evaluation. IEEE Trans. Biomed. Eng. 57(11), 2657-2666.
    """

    def __init__(self, params: SegmentationParams) -> None:
        self.params = params

    spans_: np.ndarray

    def segment(self, signals: RunSignals) -> SwingSegmenter:
        """Segments of one whole run."""
        self.spans_, _ = scan_segments(signals, ScanState(), True, self.params)
        return self


__all__ = [
    "NONE",
    "RunSignals",
    "ScanState",
    "SegmentationParams",
    "SwingSegmenter",
    "scan_segments",
]
