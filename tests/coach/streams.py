"""Constructed stride streams for coach tests: segments of steady running, walking or standing,
with seeded noise, both feet alternating, emitted in time order (as the gait engine does)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from gaitcoach.types import Activity, Foot, StrideRecord, classify_strike


@dataclass(frozen=True)
class Segment:
    duration_s: float
    cadence_spm: float = 170.0
    strike_angle_deg: float = 5.0
    overstride_m: float = 0.20
    speed_mps: float = 3.0
    activity: Activity = Activity.RUNNING


HEEL_OVERSTRIDER = Segment(0.0, cadence_spm=154.0, strike_angle_deg=24.0, overstride_m=0.38)
EFFICIENT = Segment(0.0, cadence_spm=176.0, strike_angle_deg=4.0, overstride_m=0.20)


def like(template: Segment, duration_s: float) -> Segment:
    return Segment(
        duration_s,
        template.cadence_spm,
        template.strike_angle_deg,
        template.overstride_m,
        template.speed_mps,
        template.activity,
    )


def strides(
    segments: Sequence[Segment], seed: int = 0, t0_s: float = 0.0
) -> Iterator[StrideRecord]:
    """Strides of both feet; a standing segment produces no strides (time just passes)."""
    rng = np.random.default_rng(seed)
    t = t0_s
    index = {Foot.LEFT: 0, Foot.RIGHT: 0}
    last_ic: dict[Foot, float] = {}
    foot = Foot.LEFT
    for seg in segments:
        end = t + seg.duration_s
        if seg.activity is Activity.STANDING:
            t = end
            last_ic.clear()
            continue
        while t < end:
            cadence = seg.cadence_spm * (1 + 0.01 * rng.standard_normal())
            step_s = 60.0 / cadence
            t += step_s
            prev = last_ic.get(foot)
            last_ic[foot] = t
            if prev is not None:
                stride_s = t - prev
                contact = (0.62 if seg.activity is Activity.WALKING else 0.36) * stride_s
                angle = seg.strike_angle_deg + 1.5 * rng.standard_normal()
                length = seg.speed_mps * stride_s
                yield StrideRecord(
                    foot=foot,
                    index=index[foot],
                    ic_s=prev,
                    to_s=prev + contact,
                    end_ic_s=t,
                    contact_time_s=contact,
                    swing_time_s=stride_s - contact,
                    stride_time_s=stride_s,
                    cadence_spm=cadence,
                    activity=seg.activity,
                    step_time_s=step_s,
                    stride_length_m=length,
                    speed_mps=seg.speed_mps,
                    foot_strike_angle_deg=angle,
                    strike_pattern=classify_strike(angle),
                    overstride_m=max(0.0, seg.overstride_m + 0.02 * rng.standard_normal()),
                )
                index[foot] += 1
            foot = Foot.RIGHT if foot is Foot.LEFT else Foot.LEFT
