"""Pods at any angle on either shoe: random mountings are seeded, cover every orientation, and
the simulated signals stay consistent with the truth whatever the mounting."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim.kinematics import euler_zyx
from firmware_sim.mounting import (
    PLACES,
    euler_zyx_deg,
    random_mounting,
    random_mountings,
    random_rotation,
)
from firmware_sim.params import Mounting
from firmware_sim.simulation import Simulation
from firmware_sim.trajectory import SwingKind
from gaitcoach.types import Foot
from tests.sim.integrate import orientation_error_deg, position_error_m

FEET = (Foot.LEFT, Foot.RIGHT)


def test_random_mountings_are_seeded_and_per_foot() -> None:
    assert random_mountings(5) == random_mountings(5)
    assert random_mountings(5) != random_mountings(6)
    m = random_mountings(5)
    assert m[Foot.LEFT] != m[Foot.RIGHT]
    assert random_mounting(11, Foot.RIGHT) == random_mounting(11, Foot.RIGHT)


@pytest.mark.parametrize("place", list(PLACES))
def test_random_mountings_sit_on_the_named_place_of_either_shoe(place: str) -> None:
    rng = np.random.default_rng(0)
    (x0, x1), (y0, y1), (z0, z1) = PLACES[place]
    for foot, outside in ((Foot.LEFT, 1.0), (Foot.RIGHT, -1.0)):
        for _ in range(50):
            m = random_mounting(rng, foot, place)
            m.validate()
            x, y, z = m.position_m
            assert x0 <= x <= x1 and y0 <= outside * y <= y1 and z0 <= z <= z1


def test_random_orientations_cover_all_of_them_upside_down_included() -> None:
    rng = np.random.default_rng(1)
    mats = np.array([random_rotation(rng) for _ in range(4000)])
    # Uniform over rotations: the mean matrix vanishes and the sensor's z axis points down
    # (upside down) about half the time.
    assert np.abs(mats.mean(axis=0)).max() < 0.05
    assert 0.45 < np.mean(mats[:, 2, 2] < 0) < 0.55
    for r in mats[:200]:
        assert np.allclose(euler_zyx(*euler_zyx_deg(r)), r, atol=1e-9)


def test_unknown_place_is_an_error() -> None:
    with pytest.raises(ValueError, match="place = 'toe' is unknown; allowed: laces, side, heel"):
        random_mounting(0, Foot.LEFT, "toe")


def test_per_foot_mountings_rotate_each_pod_only() -> None:
    """The motion is the same; each pod's rate, turned into the foot frame, is the foot's."""
    mounts = random_mountings(3)
    same_place = {f: Mounting(m.yaw_deg, m.pitch_deg, m.roll_deg) for f, m in mounts.items()}
    plain = Simulation("u-turns", seed=2, noise=False)
    moved = Simulation("u-turns", seed=2, noise=False, mounting=same_place)
    t = np.arange(8.0, 14.0, 1 / 208)
    for foot in FEET:
        a0, g0 = plain.ideal_imu(foot, t)
        a1, g1 = moved.ideal_imu(foot, t)
        assert np.allclose(g0 @ plain.r_fs_of(foot).T, g1 @ moved.r_fs_of(foot).T, atol=1e-9)
        assert np.allclose(a0 @ plain.r_fs_of(foot).T, a1 @ moved.r_fs_of(foot).T, atol=1e-9)
    assert plain.truth_swings(until_s=14.0) == moved.truth_swings(until_s=14.0)
    with pytest.raises(ValueError, match="different mountings; use r_fs_of"):
        _ = moved.r_fs
    with pytest.raises(ValueError, match="mounting has no entry for right"):
        Simulation("u-turns", mounting={Foot.LEFT: Mounting()})


@pytest.mark.parametrize("seed", range(4))
def test_any_mounting_integrates_to_the_truth(seed: int) -> None:
    """Random orientation and place per foot: gyro and accelerometer still integrate to the
    pod's true orientation and position over a pivot step and its stance."""
    sim = Simulation(
        "walk-trials", seed=seed, rate_hz=416, noise=False, mounting=random_mountings(seed)
    )
    sim.run_until(40.0)
    for foot in FEET:
        s = next(s for s in sim.truth_swings(foot, until_s=40.0) if s.kind is SwingKind.PIVOT)
        assert orientation_error_deg(sim, foot, s.ho_s - 0.45, s.flat_s + 0.01) < 0.5
        assert position_error_m(sim, foot, s.ho_s - 0.45, s.flat_s + 0.01) < 0.01
