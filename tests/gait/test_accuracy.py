"""Accuracy against the simulator's exact truth, at the issue's targets (short recordings; the
full profile x rate x noise matrix is ``./run bench accuracy``)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from firmware_sim.params import Mounting
from gaitcoach.gait import GaitConfig, analyze
from gaitcoach.metrics import RollingMetrics
from gaitcoach.types import Foot
from tests.gait.simdata import recording
from validation.scoring import Score, median_abs, p95_abs, score

CASES = [
    ("heel-overstrider", 208.0, True, 1),
    ("efficient-midfoot", 104.0, True, 2),
    ("forefoot", 416.0, True, 3),
    ("fatiguing", 208.0, False, 4),
    ("walk-run", 208.0, True, 5),
    ("asymmetric", 104.0, False, 6),
    ("forefoot", 104.0, True, 7),
    ("walk-run", 416.0, False, 8),
    ("heel-overstrider", 416.0, False, 11),
]


@cache
def _score(profile: str, rate: float, noise: bool, seed: int) -> Score:
    rec = recording(profile, 1.0, rate, seed, noise)
    return score(rec.truth, analyze(rec.imu), rate)


@pytest.mark.parametrize(("profile", "rate", "noise", "seed"), CASES)
def test_events_and_temporal_targets(profile: str, rate: float, noise: bool, seed: int) -> None:
    sc = _score(profile, rate, noise, seed)
    assert sc.n_truth > 90
    assert median_abs(sc.ic_err_samples) <= 1.0
    assert p95_abs(sc.ic_err_samples) <= 3.0
    # Toe-off carries a model bias of about +2 ms (docs/validation.md): within a sample at
    # every rate without sensor errors and pooled over pods, but one pod in three (its draw
    # of bias and scale errors) reaches 1.1-1.5 samples at 416 Hz.
    assert median_abs(sc.to_err_samples) <= (1.5 if rate > 400 and noise else 1.0)
    assert p95_abs(sc.to_err_samples) <= 3.0
    assert float(np.mean(np.abs(sc.contact_err_s))) <= 0.008
    assert len(sc.cadence_window_err_spm) >= 1
    assert float(np.max(np.abs(sc.cadence_window_err_spm))) <= 0.5


@pytest.mark.parametrize(("profile", "rate", "noise", "seed"), CASES)
def test_strike_and_spatial_targets(profile: str, rate: float, noise: bool, seed: int) -> None:
    sc = _score(profile, rate, noise, seed)
    assert float(np.mean(np.abs(sc.strike_err_deg))) <= 2.0
    assert float(np.mean(sc.strike_class_ok)) >= 0.95
    assert float(np.mean(np.abs(sc.length_rel_err))) <= 0.02
    assert float(np.mean(np.abs(sc.speed_rel_err))) <= 0.02


def test_detection_rates_pooled() -> None:
    scores = [_score(*case) for case in CASES]
    truth = sum(s.n_truth for s in scores)
    found = sum(s.n_found for s in scores)
    false = sum(s.n_false for s in scores)
    assert truth > 1000
    assert found / truth >= 0.995
    assert false / (found + false) <= 0.005


def test_no_stride_while_standing() -> None:
    rec = recording("standing", 1.0, 208.0, seed=9)
    assert analyze(rec.imu) == []


def test_overstride_ranks_the_profiles_like_the_truth() -> None:
    est: dict[str, float] = {}
    true: dict[str, float] = {}
    for profile in ("heel-overstrider", "efficient-midfoot", "forefoot", "asymmetric"):
        sc = _score(profile, 208.0, True, 10)
        est[profile] = float(np.mean(sc.overstride_m))
        true[profile] = float(np.mean(sc.landing_m))
    assert sorted(est, key=est.__getitem__) == sorted(true, key=true.__getitem__)
    assert est["heel-overstrider"] > 1.4 * est["efficient-midfoot"]


def test_asymmetric_right_foot_lands_harder_and_longer() -> None:
    rec = recording("asymmetric", 1.0, 208.0, seed=11)
    strides = analyze(rec.imu)

    def med(foot: Foot, name: str) -> float:
        return float(np.median([getattr(s, name) for s in strides if s.foot is foot]))

    def true_med(foot: Foot, name: str) -> float:
        return float(np.median([getattr(t, name) for t in rec.truth if t.foot is foot]))

    for name in ("contact_time_s", "foot_strike_angle_deg"):
        est_diff = med(Foot.RIGHT, name) - med(Foot.LEFT, name)
        true_diff = true_med(Foot.RIGHT, name) - true_med(Foot.LEFT, name)
        assert est_diff == pytest.approx(true_diff, abs=0.25 * abs(true_diff))


def test_bilateral_step_and_flight_time_match_truth() -> None:
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=12)
    strides = analyze(rec.imu)
    truth = {(t.foot, round(t.ic_s, 1)): t for t in rec.truth}
    step_err: list[float] = []
    flight_err: list[float] = []
    for s in strides:
        t = truth.get((s.foot, round(s.ic_s, 1)))
        if t is None or s.step_time_s is None or t.step_time_s is None:
            continue
        step_err.append(s.step_time_s - t.step_time_s)
        assert s.flight_time_s is not None
        flight_err.append(s.flight_time_s - t.flight_time_s)
    assert len(step_err) > 100
    assert float(np.mean(np.abs(step_err))) <= 0.004
    assert float(np.mean(np.abs(flight_err))) <= 0.008


@pytest.mark.parametrize(
    "mounting",
    [
        Mounting(yaw_deg=-90.0, pitch_deg=10.0, roll_deg=-8.0),
        Mounting(yaw_deg=25.0, pitch_deg=35.0, roll_deg=175.0),  # upside down, turned
    ],
)
def test_any_mounting_gives_the_same_metrics(mounting: Mounting) -> None:
    base = recording("heel-overstrider", 1.0, 208.0, seed=13)
    moved = recording("heel-overstrider", 1.0, 208.0, seed=13, mounting=mounting)
    a = score(base.truth, analyze(base.imu), 208.0)
    b = score(moved.truth, analyze(moved.imu), 208.0)
    assert a.n_found >= a.n_truth - 1 and b.n_found >= b.n_truth - 1
    assert float(np.mean(np.abs(b.strike_err_deg))) <= 2.0
    assert float(np.mean(np.abs(b.length_rel_err))) <= 0.02
    assert median_abs(b.ic_err_samples) <= 1.0 and median_abs(b.to_err_samples) <= 1.0


def test_left_and_right_feet_are_measured_alike() -> None:
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=14)
    strides = analyze(rec.imu)
    for foot in (Foot.LEFT, Foot.RIGHT):
        mine = [s for s in strides if s.foot is foot]
        sc = score([t for t in rec.truth if t.foot is foot], mine, 208.0)
        assert sc.n_found >= sc.n_truth - 1
        assert float(np.mean(np.abs(sc.strike_err_deg))) <= 2.0
        assert float(np.mean(np.abs(sc.length_rel_err))) <= 0.02


def test_strike_thresholds_are_configurable() -> None:
    rec = recording("efficient-midfoot", 0.5, 208.0, seed=15)
    default = analyze(rec.imu)
    strict = analyze(rec.imu, config=GaitConfig(rearfoot_above_deg=-1.0, forefoot_below_deg=-2.0))
    assert {s.strike_pattern for s in default} == {"midfoot"}
    assert {s.strike_pattern for s in strict} == {"rearfoot"}


def test_rolling_cadence_over_30_s_windows_from_both_feet() -> None:
    rec = recording("fatiguing", 2.0, 208.0, seed=16)
    strides = analyze(rec.imu)
    rolling = RollingMetrics(window_steps=1000, window_s=30.0)
    truth_rolling = RollingMetrics(window_steps=1000, window_s=30.0)
    for s in sorted(strides, key=lambda s: s.end_ic_s):
        rolling.add(s)
    for t in sorted(rec.truth, key=lambda t: t.end_ic_s):
        truth_rolling.add(t.to_record())
    checked = 0
    for now in np.arange(40.0, 115.0, 15.0):
        est = rolling.snapshot(now)
        true = truth_rolling.snapshot(now)
        assert est.cadence_spm is not None and true.cadence_spm is not None
        # RollingMetrics reports the median stride, so one stride's timing error (about one
        # sample, 0.35 % here) shows; the 0.5 spm target holds for window means (test above).
        assert abs(est.cadence_spm - true.cadence_spm) <= 1.0
        assert est.activity == true.activity
        checked += 1
    assert checked == 5


def test_the_accuracy_bench_runs_with_a_parameter_changed_as_the_config_file_would() -> None:
    # `./run bench accuracy --set NAME=VALUE` measures a trade-off (docs/validation.md): the
    # value is checked like the [gait] table's, so a typo or an out-of-range value is refused.
    from bench.accuracy import _config

    assert _config([]) == GaitConfig()
    changed = _config(["step_rest_energy = 0.6", "toe_speed_levels_mps = [0.2, 0.4, 0.8]"])
    assert changed.step_rest_energy == 0.6
    assert changed.toe_speed_levels_mps == (0.2, 0.4, 0.8)
    with pytest.raises(ValueError, match=r"step_rest_enrgy.*unknown key"):
        _config(["step_rest_enrgy=0.6"])
    with pytest.raises(ValueError, match=r"step_rest_energy = 3 .*\[0.05, 1\]"):
        _config(["step_rest_energy=3"])
    with pytest.raises(ValueError, match="not NAME=VALUE"):
        _config(["step_rest_energy"])
