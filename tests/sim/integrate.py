"""Dead reckoning from a simulated pod's signals (noise off), to compare with the truth."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from firmware_sim.simulation import Simulation
from gaitcoach.frames import GRAVITY_W
from gaitcoach.types import Foot


def orientation_error_deg(sim: Simulation, foot: Foot, t0: float, t1: float) -> float:
    """Integrate the quantised gyro at 416 Hz (trapezoid in the body frame) from the true
    orientation at ``t0``; the angle to the true orientation at the end."""
    t = np.arange(t0, t1, 1 / 416)
    _, gyr = sim.ideal_counts(foot, t)
    r_ws = sim.state(foot, t).r_wf @ sim.r_fs_of(foot)
    rot = Rotation.from_matrix(r_ws[0])
    for k in range(len(t) - 1):
        rot = rot * Rotation.from_rotvec(0.5 * (gyr[k] + gyr[k + 1]) * (t[k + 1] - t[k]))
    return float(np.degrees((Rotation.from_matrix(r_ws[-1]).inv() * rot).magnitude()))


def position_error_m(sim: Simulation, foot: Foot, t0: float, t1: float) -> float:
    """Rotate the quantised specific force (1 kHz) to the world with the true orientation, add
    gravity and integrate twice (trapezoid) from the true state at ``t0``; the distance to the
    true position at the end."""
    t = np.arange(t0, t1, 1e-3)
    acc, _ = sim.ideal_counts(foot, t)
    st = sim.state(foot, t)
    a_w = np.einsum("nij,nj->ni", st.r_wf @ sim.r_fs_of(foot), acc) + GRAVITY_W
    dt = np.diff(t)[:, None]
    v = st.vel_mps[0] + np.vstack([np.zeros(3), np.cumsum(0.5 * (a_w[1:] + a_w[:-1]) * dt, 0)])
    p = st.pos_m[0] + np.vstack([np.zeros(3), np.cumsum(0.5 * (v[1:] + v[:-1]) * dt, 0)])
    return float(np.linalg.norm(p[-1] - st.pos_m[-1]))
