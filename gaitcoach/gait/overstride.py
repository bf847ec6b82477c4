"""Overstride estimate: how far ahead of the centre of mass the foot lands (see docs/metrics.md)."""

from __future__ import annotations

import math

BASE_FRACTION = 0.27
"""Share of the contact distance ahead of the centre of mass for a flat (0 deg) landing."""
ANGLE_GAIN = 0.45
"""Increase of that share per unit sine of the strike angle (heel strikes land further ahead)."""


def overstride_m(
    speed_mps: float,
    contact_time_s: float,
    strike_angle_deg: float | None,
    leg_length_m: float | None,
    base_fraction: float = BASE_FRACTION,
    angle_gain: float = ANGLE_GAIN,
) -> float:
    """Horizontal distance of the foot ahead of the centre of mass at initial contact.

    Method
    ------
    Spring-mass running (Blickhan 1989; McMahon & Cheng 1990): during contact the centre of
    mass travels the contact distance ``speed x contact_time`` over the foot. A symmetric
    stance puts the landing half of it ahead; runners who land with the foot dorsiflexed
    (heel strike) land further ahead and brake longer (Lieberman et al. 2015: foot and tibia
    angle at contact grow with overstriding). The share ahead is modelled as
    ``base_fraction + angle_gain x sin(strike angle)``, clipped at 0, and the result is capped
    at 0.9 leg lengths when the leg length is known (the foot cannot land further ahead).

    The two coefficients are calibrated on the simulator's running profiles (docs/metrics.md
    states this and what it implies): the estimate ranks runners, it is not a lab measurement.
    """
    angle = math.radians(strike_angle_deg) if strike_angle_deg is not None else 0.0
    share = max(0.0, base_fraction + angle_gain * math.sin(angle))
    distance = speed_mps * contact_time_s * share
    if leg_length_m is not None:
        distance = min(distance, 0.9 * leg_length_m)
    return distance
