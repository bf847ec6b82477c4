"""The gait model is physically consistent: its IMU signals integrate back to its trajectory."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from firmware_sim.simulation import Simulation
from gaitcoach.frames import G_MPS2, GRAVITY_W
from gaitcoach.types import Foot

PROFILES = ["heel-overstrider", "efficient-midfoot", "forefoot", "walk-run"]


def _strides(sim: Simulation, foot: Foot, t_from: float, count: int) -> list[tuple[float, float]]:
    sim.run_until(t_from + 10.0)
    spans = [(s.ic_s, s.end_ic_s) for s in sim.truth_strides(foot) if s.ic_s >= t_from]
    assert len(spans) >= count
    return spans[:count]


@pytest.mark.parametrize("profile", PROFILES)
def test_gyro_integrates_to_true_orientation(profile: str) -> None:
    # Noise off, 416 Hz counts (quantised, as a pod would send them).
    sim = Simulation(profile, seed=3, rate_hz=416, noise=False)
    worst = 0.0
    for foot in (Foot.LEFT, Foot.RIGHT):
        for t0, t1 in _strides(sim, foot, 20.0, 3):
            t = np.arange(t0, t1, 1 / 416)
            _, gyr = sim.ideal_counts(foot, t)
            r_ws = sim.state(foot, t).r_wf @ sim.r_fs
            rot = Rotation.from_matrix(r_ws[0])
            for k in range(len(t) - 1):
                # Body-frame rate, trapezoidal mean over the step.
                w = 0.5 * (gyr[k] + gyr[k + 1])
                rot = rot * Rotation.from_rotvec(w * (t[k + 1] - t[k]))
            err = (Rotation.from_matrix(r_ws[-1]).inv() * rot).magnitude()
            worst = max(worst, float(np.degrees(err)))
    assert worst < 0.5, f"orientation error after a stride {worst:.3f} deg"


@pytest.mark.parametrize("profile", PROFILES)
def test_specific_force_double_integrates_to_true_position(profile: str) -> None:
    # Trapezoidal integration converges as dt^2 (2 cm at 416 Hz, 2 mm at 1 kHz, 0.15 mm at
    # 4 kHz): the model is exact, the error is the integrator's; check at 1 kHz.
    sim = Simulation(profile, seed=4, rate_hz=416, noise=False)
    worst = 0.0
    for foot in (Foot.LEFT, Foot.RIGHT):
        for t0, t1 in _strides(sim, foot, 20.0, 3):
            t = np.arange(t0, t1, 1 / 1000)
            acc, _ = sim.ideal_counts(foot, t)
            st = sim.state(foot, t)
            r_ws = st.r_wf @ sim.r_fs
            a_w = np.einsum("nij,nj->ni", r_ws, acc) + GRAVITY_W
            dt = np.diff(t)[:, None]
            v = st.vel_mps[0] + np.vstack(
                [np.zeros(3), np.cumsum(0.5 * (a_w[1:] + a_w[:-1]) * dt, 0)]
            )
            p = st.pos_m[0] + np.vstack([np.zeros(3), np.cumsum(0.5 * (v[1:] + v[:-1]) * dt, 0)])
            worst = max(worst, float(np.linalg.norm(p[-1] - st.pos_m[-1])))
    assert worst < 0.01, f"position error after a stride {worst * 100:.2f} cm"


@pytest.mark.parametrize("profile", PROFILES)
def test_foot_flat_is_still_and_reads_one_g(profile: str) -> None:
    sim = Simulation(profile, seed=5, rate_hz=208, noise=False)
    sim.run_until(40.0)
    checked = 0
    for foot in (Foot.LEFT, Foot.RIGHT):
        for c in sim.planner.tracks[foot].contacts[1:-1]:
            if c.t_ho is None or c.t_ic is None or c.t_ic < 5.0:
                continue
            t = np.linspace(c.t_flat + 1e-4, c.t_ho - 1e-4, 20)
            st = sim.state(foot, t)
            acc, gyr = sim.ideal_imu(foot, t)
            assert np.abs(st.vel_mps).max() < 1e-9
            assert np.abs(np.linalg.norm(acc, axis=1) - G_MPS2).max() < 1e-9
            assert np.abs(gyr).max() < 1e-9
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("profile", PROFILES)
def test_trajectory_is_smooth_and_above_ground(profile: str) -> None:
    """Position, velocity, acceleration and angular rate have no jumps at segment boundaries
    (the largest sample-to-sample change shrinks tenfold with a tenfold finer grid), velocity
    is the derivative of position, and neither heel nor toe goes below the floor."""
    sim = Simulation(profile, seed=6, rate_hz=208, noise=False)
    for foot in (Foot.LEFT, Foot.RIGHT):
        steps = {}
        for dt in (1e-4, 1e-5):
            st = sim.state(foot, np.arange(20.0, 23.0, dt))
            steps[dt] = [
                np.abs(np.diff(x, axis=0)).max()
                for x in (st.pos_m, st.vel_mps, st.acc_mps2, st.omega_radps)
            ]
        for coarse, fine in zip(steps[1e-4], steps[1e-5], strict=True):
            assert fine < 0.2 * coarse
        dt = 1e-4
        t = np.arange(3.0, 25.0, dt)
        st = sim.state(foot, t)
        vnum = (st.pos_m[2:] - st.pos_m[:-2]) / (2 * dt)
        assert np.abs(vnum - st.vel_mps[1:-1]).max() < 1e-3
        heel = st.pos_m - np.einsum("nij,j->ni", st.r_wf, sim.sensor_f)
        toe = heel + np.einsum("nij,j->ni", st.r_wf, np.array([0.26, 0.0, 0.0]))
        assert heel[:, 2].min() > -0.002
        assert toe[:, 2].min() > -0.002
