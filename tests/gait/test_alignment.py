"""Sensor-to-foot alignment (gaitcoach.gait.alignment): any mounting, a heading that cannot
silently flip, a confidence, and direction-dependent values withheld without it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from firmware_sim.params import Mounting
from gaitcoach.gait import FootAnalyzer, GaitConfig, analyze_all
from gaitcoach.gait.alignment import SensorAlignment
from gaitcoach.types import Foot
from tests.gait.simdata import recording


def _true_r_fs(m: Mounting) -> np.ndarray:
    """``v_foot = R v_sensor`` for a mounting (yaw, pitch, roll rotate the foot frame into the
    sensor frame, intrinsic z-y-x)."""
    angles = [m.yaw_deg, m.pitch_deg, m.roll_deg]
    return Rotation.from_euler("ZYX", angles, degrees=True).as_matrix()


def _mountings(n: int, seed: int) -> list[Mounting]:
    rng = np.random.default_rng(seed)
    return [
        Mounting(
            yaw_deg=float(rng.uniform(-180, 180)),
            pitch_deg=float(rng.uniform(-60, 60)),
            roll_deg=float(rng.uniform(-180, 180)),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("mounting", _mountings(6, seed=21))
def test_any_mounting_is_found_with_the_toes_forward(mounting: Mounting) -> None:
    rec = recording("walk-run", 0.5, 208.0, seed=3, mounting=mounting)
    res = analyze_all(rec.imu)
    truth = _true_r_fs(mounting)
    for foot in (Foot.LEFT, Foot.RIGHT):
        align = res.analyzer.feet_[foot].alignment_
        assert align is not None and align.confident_ and align.flips_ == 0
        # The foot's forward axis in sensor coordinates: as mounted, give or take the foot's
        # own toe-out and the instep's slope (the engine's axes are the gait's, not the shoe's).
        forward = align.r_fs_[0] @ truth[0]
        assert forward > np.cos(np.radians(25)), forward
        assert align.r_fs_[2] @ truth[2] > np.cos(np.radians(10))


def test_a_turned_frame_is_turned_back_on_the_strides_that_follow() -> None:
    a = SensorAlignment(np.eye(3), 1.0, True)
    for _ in range(5):
        assert not a.update(-1.0)  # five backward strides of eight: not yet
    assert a.flips_ == 0
    assert a.update(-1.0)  # the sixth
    assert a.flips_ == 1
    assert np.allclose(a.r_fs_, np.diag([-1.0, -1.0, 1.0]))
    # The evidence is now read in the turned frame.
    assert a.forward_ == 6 and a.backward_ == 0
    assert not a.update(0.05)  # too short to be evidence
    assert a.forward_ == 6


def test_an_alignment_without_confidence_withholds_direction_dependent_values() -> None:
    # A confident alignment needs more forward strides than the recording has: it is decided
    # without confidence after the window, and the strides carry their events and cadence
    # but no strike angle, overstride, length or speed.
    rec = recording("efficient-midfoot", 0.5, 208.0, seed=4)
    cfg = GaitConfig(align_strides=100, align_window_s=10.0)
    res = analyze_all(rec.imu, config=cfg)
    assert len(res.strides) > 30
    for foot in (Foot.LEFT, Foot.RIGHT):
        align = res.analyzer.feet_[foot].alignment_
        assert align is not None and not align.confident_
    for s in res.strides:
        assert s.cadence_spm > 0 and s.contact_time_s > 0
        assert s.foot_strike_angle_deg is None and s.strike_pattern is None
        assert s.overstride_m is None and s.stride_length_m is None and s.speed_mps is None
    confident = analyze_all(rec.imu)
    assert all(s.foot_strike_angle_deg is not None for s in confident.strides)


def test_streaming_decides_the_alignment_on_the_same_data_as_batch() -> None:
    # The alignment is tried on the first 2, 4, 6 ... seconds: any chunking decides on the
    # same samples (here one-sample chunks against one push).
    rec = recording("heel-overstrider", 0.3, 104.0, seed=8)
    c = rec.imu[Foot.LEFT]
    batch = FootAnalyzer(Foot.LEFT)
    batch.push(c)
    stream = FootAnalyzer(Foot.LEFT)
    for i in range(len(c)):
        stream.push(c.slice(i, i + 1))
    assert batch.alignment_ is not None and stream.alignment_ is not None
    assert np.array_equal(batch.alignment_.r_fs_, stream.alignment_.r_fs_)
