"""Stride parameters: measured segments become swing records and stride records.

A segment (one swing, :mod:`gaitcoach.gait.segmentation`) gives a :class:`SwingRecord`: its
toe-off, mid-swing and initial contact. Two consecutive swings of one run make a
:class:`StrideRecord`: initial contact of the first, toe-off and initial contact of the
second; spatial values from the second, strike and impact at the first contact. Definitions:
docs/metrics.md.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from gaitcoach.gait.config import GaitConfig
from gaitcoach.gait.kernels import KIND_PITCH, SEGMENT_FIELDS
from gaitcoach.gait.overstride import overstride_m
from gaitcoach.types import (
    Activity,
    Foot,
    StrideRecord,
    SwingKind,
    SwingRecord,
    classify_strike,
)


def _opt(x: float) -> float | None:
    return None if x != x else x


(
    _START,
    _END,
    _TO,
    _MS,
    _IMPACT,
    _WALKING,
    _STRIKE,
    _PEAK,
    _RATE,
    _LENGTH,
    _CLEARANCE,
    _FORWARD,
    _FLAT_START,
    _FLAT_END,
) = range(len(SEGMENT_FIELDS))


class _Swing(NamedTuple):
    """What the next swing's stride needs of the previous one."""

    run: int
    impact_s: float | None
    """Impact onset (None: no IC found)."""
    ic_s: float | None
    """The contact as finally reported."""
    strike_deg: float | None
    peak_impact_g: float | None
    loading_rate_gps: float | None


class StrideAssembler:
    """Swing and stride records from measured segments, one foot, in order.

    Method
    ------
    * IC of a swing: the impact onset, dropped if the stance after it is no foot-flat (rest
      force tilted more than ``flat_max_tilt_deg`` from the foot's ``si``); TO: the pivot
      toe-off, dropped likewise if the stance before it is no foot-flat.
    * Stride: consecutive swings of one run, ``IC_prev < TO < IC`` and ``min_stride_s`` <=
      stride time <= ``max_stride_s``; between resting anchors a foot displacement under
      ``min_stride_length_m`` is shuffling, not a stride.
    * Activity by duty factor (contact / stride time below ``running_max_duty``: a flight
      phase, running), from the running contacts. A running stride ends at the onset of the
      first transient after the swing (:class:`~gaitcoach.gait.events.ImpactOnsetIC`), a
      walking one at the end of the terminal-swing dorsiflexion before the landing transient
      (:class:`~gaitcoach.gait.events.DorsiflexionEndIC`), or that transient's onset. A swing
      that ends no stride (a first step) takes the walking method.
    * Direction-dependent values (strike angle and class, overstride, length, speed,
      clearance) only while the sensor alignment is confident
      (:class:`~gaitcoach.gait.alignment.ForwardSignAlignment`).

    Parameters
    ----------
    foot, config, leg_length_m
        The foot, the engine's settings, the leg length for the overstride cap.
    """

    def __init__(self, foot: Foot, config: GaitConfig, leg_length_m: float | None) -> None:
        self.foot = foot
        self.config = config
        self.leg_length_m = leg_length_m
        self._prev: _Swing | None = None
        self._swings = 0
        self._strides = 0

    def reset(self) -> None:
        """A gap: the next swing starts a new chain."""
        self._prev = None

    def add(
        self, run: int, seg: tuple[float, ...], kind: int, rested: bool, confident: bool
    ) -> tuple[SwingRecord, StrideRecord | None]:
        """The records of one measured segment (a row of
        :data:`~gaitcoach.gait.kernels.SEGMENT_DTYPE` as a tuple: thousands a minute, and
        tuple indexing costs a fraction of a structured row's field lookup)."""
        flat_end, flat_start = seg[_FLAT_END] > 0, seg[_FLAT_START] > 0
        impact = _opt(seg[_IMPACT]) if flat_end else None
        walking_ic = _opt(seg[_WALKING]) if flat_end else None
        to = _opt(seg[_TO]) if flat_start else None
        strike = _opt(seg[_STRIKE]) if impact is not None else None
        length = seg[_LENGTH]
        prev = self._prev if self._prev is not None and self._prev.run == run else None
        stride: StrideRecord | None = None
        ic = walking_ic
        activity: Activity | None = None
        if prev is not None and prev.ic_s is not None and prev.impact_s is not None:
            stride = self._stride(prev, to, impact, walking_ic, length, rested, seg, confident)
            if stride is not None:
                ic, activity = stride.end_ic_s, stride.activity
        self._prev = _Swing(
            run,
            impact,
            ic,
            strike if confident else None,
            _opt(seg[_PEAK]) if impact is not None else None,
            _opt(seg[_RATE]) if impact is not None else None,
        )
        # Positional arguments in field order (keywords cost a third of the construction).
        swing = SwingRecord(
            self.foot,
            self._swings,
            SwingKind.PITCH if kind == KIND_PITCH else SwingKind.STEP,
            seg[_START],
            seg[_END],
            seg[_MS],
            to,
            ic,
            activity,
            length if confident else None,
            seg[_CLEARANCE] if confident else None,
            strike if confident else None,
        )
        self._swings += 1
        return swing, stride

    def _stride(
        self,
        prev: _Swing,
        to: float | None,
        impact: float | None,
        walking_ic: float | None,
        length: float,
        rested: bool,
        seg: tuple[float, ...],
        confident: bool,
    ) -> StrideRecord | None:
        cfg = self.config
        assert prev.ic_s is not None and prev.impact_s is not None
        if to is None or impact is None:
            return None
        stride_s = impact - prev.impact_s
        if not (prev.impact_s < to < impact and cfg.min_stride_s <= stride_s <= cfg.max_stride_s):
            return None
        if rested and length < cfg.min_stride_length_m:
            return None  # shuffling on the spot
        walking = (to - prev.impact_s) / stride_s >= cfg.running_max_duty
        end = walking_ic if walking and walking_ic is not None else impact
        ic = prev.ic_s
        stride_s = end - ic
        if not (ic < to < end and cfg.min_stride_s <= stride_s <= cfg.max_stride_s):
            return None
        contact = to - ic
        speed = length / stride_s
        angle = prev.strike_deg if confident else None
        pattern = (
            classify_strike(angle, cfg.rearfoot_above_deg, cfg.forefoot_below_deg)
            if angle is not None
            else None
        )
        index = self._strides
        self._strides += 1
        over = (
            overstride_m(
                speed,
                contact,
                angle,
                self.leg_length_m,
                cfg.overstride_base_fraction,
                cfg.overstride_angle_gain,
            )
            if angle is not None and math.isfinite(speed)
            else None
        )
        # Positional arguments in field order (as SwingRecord above).
        return StrideRecord(
            self.foot,
            index,
            ic,
            to,
            end,
            contact,
            end - to,
            stride_s,
            120.0 / stride_s,
            Activity.WALKING if walking else Activity.RUNNING,
            None,  # flight_time_s: both feet (gaitcoach.gait.bilateral)
            None,  # step_time_s: both feet
            length if confident else None,
            speed if confident else None,
            seg[_CLEARANCE] if confident else None,
            angle,
            pattern,
            prev.peak_impact_g,
            prev.loading_rate_gps,
            over,
        )
