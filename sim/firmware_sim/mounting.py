"""Random pod mountings: any orientation (upside down included) at a plausible place on either
shoe, drawn from a seed, for testing that the gait engine does not depend on the mounting."""

from __future__ import annotations

import math

import numpy as np

from firmware_sim.kinematics import F64
from firmware_sim.params import Mounting
from gaitcoach.types import Foot

PLACES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    # x (heel -> toe), y (toward the outside of the shoe), z (up) ranges in m, foot frame.
    "laces": ((0.10, 0.20), (-0.015, 0.015), (0.06, 0.09)),
    "side": ((0.04, 0.18), (0.045, 0.055), (0.02, 0.05)),
    "heel": ((-0.04, -0.02), (-0.01, 0.01), (0.03, 0.07)),
}
"""Where a pod can sit: on the laces, on the outer side of the shoe, on the heel counter."""


def euler_zyx_deg(r: F64) -> tuple[float, float, float]:
    """Intrinsic z-y-x angles (deg; yaw and roll in -180..180, pitch in -90..90) of a rotation,
    the inverse of :func:`firmware_sim.kinematics.euler_zyx`."""
    pitch = math.asin(float(np.clip(-r[2, 0], -1.0, 1.0)))
    if abs(math.cos(pitch)) < 1e-9:  # gimbal lock: put the whole heading into yaw
        yaw, roll = math.atan2(-r[0, 1], r[1, 1]), 0.0
    else:
        yaw, roll = math.atan2(r[1, 0], r[0, 0]), math.atan2(r[2, 1], r[2, 2])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def random_rotation(rng: np.random.Generator) -> F64:
    """A rotation drawn uniformly over all orientations (a normalised Gaussian quaternion)."""
    w, x, y, z = rng.standard_normal(4)
    n = math.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def random_mounting(
    rng: np.random.Generator | int, foot: Foot = Foot.LEFT, place: str | None = None
) -> Mounting:
    """A pod at any orientation (uniform over all rotations, so upside down as often as any
    other) at a random spot of ``place`` (``laces``, ``side``, ``heel``; random if ``None``)
    on ``foot``'s shoe (``side`` is the outer side: left for the left shoe).

    Parameters
    ----------
    rng
        A generator, or a seed for one.
    foot
        The shoe the pod is on.
    place
        One of :data:`PLACES`, or ``None`` to draw one.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng([rng, 1013])
    names = list(PLACES)
    if place is None:
        place = names[int(gen.integers(len(names)))]
    elif place not in PLACES:
        raise ValueError(f"place = {place!r} is unknown; allowed: {', '.join(names)}")
    yaw, pitch, roll = euler_zyx_deg(random_rotation(gen))
    (x0, x1), (y0, y1), (z0, z1) = PLACES[place]
    outside = 1.0 if foot is Foot.LEFT else -1.0  # the foot frame's y points left on both feet
    pos = (
        float(gen.uniform(x0, x1)),
        outside * float(gen.uniform(y0, y1)),
        float(gen.uniform(z0, z1)),
    )
    m = Mounting(yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll, position_m=pos)
    m.validate()
    return m


def random_mountings(seed: int, place: str | None = None) -> dict[Foot, Mounting]:
    """Independent random mountings of the left and right pods (see :func:`random_mounting`),
    the same for the same seed."""
    gen = np.random.default_rng([seed, 1013, 2])
    return {foot: random_mounting(gen, foot, place) for foot in (Foot.LEFT, Foot.RIGHT)}
