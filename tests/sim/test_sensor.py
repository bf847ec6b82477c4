"""The IMU error model is really applied: noise, bias, drift, scale, saturation, quantisation,
clock drift; and the same seed gives the same data whatever the read sizes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from firmware_sim.params import ImuSpec, Mounting
from firmware_sim.simulation import Simulation
from gaitcoach.frames import G_MPS2
from gaitcoach.types import Foot


def _read(sim: Simulation, foot: Foot, seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pod = sim.pod(foot)
    s = pod.read(int(seconds * pod.rate_hz))
    return s.t_true_s, s.acc_counts * pod.acc_lsb_mps2, s.gyr_counts * pod.gyr_lsb_radps


def test_white_noise_matches_its_density() -> None:
    spec = ImuSpec(acc_bias_walk_mg_per_rts=0.0, gyr_bias_walk_dps_per_rts=0.0)
    sim = Simulation("standing", seed=1, rate_hz=416, imu=spec)
    _, acc, gyr = _read(sim, Foot.LEFT, 30.0)
    acc_sigma = spec.acc_noise_density_ug * 1e-6 * G_MPS2 * np.sqrt(416 / 2)
    gyr_sigma = np.radians(spec.gyr_noise_density_mdps * 1e-3) * np.sqrt(416 / 2)
    # Quantisation adds lsb^2/12 of variance.
    pod = sim.pod(Foot.LEFT)
    acc_want = np.sqrt(acc_sigma**2 + pod.acc_lsb_mps2**2 / 12)
    gyr_want = np.sqrt(gyr_sigma**2 + pod.gyr_lsb_radps**2 / 12)
    assert acc.std(axis=0) == pytest.approx([acc_want] * 3, rel=0.08)
    assert gyr.std(axis=0) == pytest.approx([gyr_want] * 3, rel=0.08)


def test_noise_off_is_exact_up_to_quantisation() -> None:
    sim = Simulation("efficient-midfoot", seed=1, rate_hz=208, noise=False)
    t, acc, gyr = _read(sim, Foot.RIGHT, 20.0)
    ideal_acc, ideal_gyr = sim.ideal_imu(Foot.RIGHT, t)
    pod = sim.pod(Foot.RIGHT)
    assert np.abs(acc - ideal_acc).max() <= pod.acc_lsb_mps2 / 2 + 1e-12
    assert np.abs(gyr - ideal_gyr).max() <= pod.gyr_lsb_radps / 2 + 1e-12


def test_bias_and_scale_differ_between_pods_and_seeds() -> None:
    spec = ImuSpec(acc_noise_density_ug=0.0, gyr_noise_density_mdps=0.0)
    gyro_means = []
    for seed in range(12):
        sim = Simulation("standing", seed=seed, imu=spec)
        _, _, gyr = _read(sim, Foot.LEFT, 2.0)
        gyro_means.append(gyr.mean(axis=0))
    sd_dps = np.degrees(np.std(gyro_means, axis=0))
    # Expected 0.8 deg/s per axis; 12 pods x 3 axes give a loose but failing-capable bound.
    assert 0.4 < float(np.mean(sd_dps)) < 1.3


def test_bias_random_walk_wanders() -> None:
    walk = ImuSpec(
        acc_noise_density_ug=0.0,
        gyr_noise_density_mdps=0.0,
        acc_bias_sd_mg=0.0,
        gyr_bias_sd_dps=0.0,
        gyr_bias_walk_dps_per_rts=0.05,
    )
    sim = Simulation("standing", seed=3, rate_hz=104, imu=walk)
    _, _, gyr = _read(sim, Foot.LEFT, 50.0)
    start, end = gyr[:104].mean(axis=0), gyr[-104:].mean(axis=0)
    # sqrt(50 s) x 0.05 deg/s/sqrt(s) = 0.35 deg/s expected per axis
    moved = np.degrees(np.linalg.norm(end - start))
    assert 0.1 < moved < 2.0
    still = Simulation(
        "standing",
        seed=3,
        rate_hz=104,
        imu=dataclasses.replace(walk, gyr_bias_walk_dps_per_rts=0.0),
    )
    _, _, g2 = _read(still, Foot.LEFT, 50.0)
    assert np.abs(g2 - g2[0]).max() == 0.0


def test_saturation_clips_at_range() -> None:
    spec = ImuSpec(acc_range_g=4.0, gyr_range_dps=250.0)
    sim = Simulation("heel-overstrider", seed=1, imu=spec)
    pod = sim.pod(Foot.LEFT)
    s = pod.read(208 * 20)
    assert (np.abs(s.acc_counts.astype(int)) >= 32767).any()
    assert (np.abs(s.gyr_counts.astype(int)) >= 32767).any()
    assert np.abs(s.acc_counts * pod.acc_lsb_mps2).max() <= 4.0 * G_MPS2 + 1e-9
    assert np.abs(s.gyr_counts * pod.gyr_lsb_radps).max() <= np.radians(250.0) + 1e-9


def test_quantisation_is_int16_counts() -> None:
    sim = Simulation("efficient-midfoot", seed=1)
    s = sim.pod(Foot.LEFT).read(500)
    assert s.acc_counts.dtype == np.int16 and s.gyr_counts.dtype == np.int16
    # the default +-16 g range: 16 g / 32768 per count
    assert sim.pod(Foot.LEFT).acc_lsb_mps2 == pytest.approx(16 * G_MPS2 / 32768)


def test_clock_drift_in_sensor_time() -> None:
    spec = ImuSpec(clock_drift_ppm=80.0, clock_offset_s=1000.0)
    sim = Simulation("standing", seed=1, imu=spec)
    s = sim.pod(Foot.LEFT).read(208 * 60)
    slope = np.polyfit(s.t_true_s, s.t_sensor_s, 1)[0]
    assert slope == pytest.approx(1 + 80e-6, abs=1e-9)
    assert s.t_sensor_s[0] == 1000.0
    assert np.allclose(np.diff(s.t_sensor_s), 1 / 208)


def test_same_seed_same_data_regardless_of_read_sizes() -> None:
    a = Simulation("asymmetric", seed=9)
    b = Simulation("asymmetric", seed=9)
    whole = a.pod(Foot.LEFT).read(3000)
    parts = [b.pod(Foot.LEFT).read(n) for n in (1, 7, 500, 1492, 1000)]
    for field in ("t_true_s", "t_sensor_s", "acc_counts", "gyr_counts"):
        joined = np.concatenate([getattr(p, field) for p in parts])
        assert np.array_equal(getattr(whole, field), joined), field
    other = Simulation("asymmetric", seed=10).pod(Foot.LEFT).read(3000)
    assert not np.array_equal(whole.acc_counts, other.acc_counts)


def test_mounting_rotates_the_sensor_frame_only() -> None:
    """Two mountings at the same place differ by the fixed rotation between their frames."""
    m1 = Mounting()
    m2 = Mounting(yaw_deg=-30.0, pitch_deg=10.0, roll_deg=170.0)
    s1 = Simulation("forefoot", seed=2, noise=False, mounting=m1)
    s2 = Simulation("forefoot", seed=2, noise=False, mounting=m2)
    t = np.arange(10.0, 14.0, 1 / 208)
    a1, g1 = s1.ideal_imu(Foot.LEFT, t)
    a2, g2 = s2.ideal_imu(Foot.LEFT, t)
    r21 = s2.r_fs.T @ s1.r_fs  # sensor-1 vectors into sensor-2 axes
    assert np.allclose(a1 @ r21.T, a2, atol=1e-9)
    assert np.allclose(g1 @ r21.T, g2, atol=1e-9)
