"""Ground truth agrees with the profile parameters, and the named profiles behave as named."""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np
import pytest

from firmware_sim.params import GaitParams, Mode, Profile, Segment
from firmware_sim.profiles import EFFICIENT, PROFILES
from firmware_sim.simulation import Simulation
from firmware_sim.trajectory import TruthStride
from gaitcoach.types import Activity, Foot, StrideRecord, StrikePattern, classify_strike


def _steady(params: GaitParams, minutes: float = 1.0) -> Profile:
    return Profile(
        "steady", "", (Segment(Mode.STAND, 3.0), Segment(Mode.RUN, minutes * 60, params))
    )


def _mid(strides: list[TruthStride], lo: float, hi: float) -> list[TruthStride]:
    return [s for s in strides if lo <= s.ic_s <= hi]


@pytest.mark.parametrize(
    "params",
    [
        EFFICIENT,
        dataclasses.replace(EFFICIENT, speed_mps=4.5, cadence_spm=188, contact_time_s=0.19),
        dataclasses.replace(EFFICIENT, strike_angle_deg=-10.0, landing_distance_m=0.12),
    ],
)
def test_truth_matches_parameters_without_variability(params: GaitParams) -> None:
    sim = Simulation(_steady(params), seed=1, variability=False)
    sim.run_until(60.0)
    strides = _mid(sim.truth_strides(), 20.0, 55.0)
    assert len(strides) > 40
    stride_s = 120.0 / params.cadence_spm
    for s in strides:
        assert s.cadence_spm == pytest.approx(params.cadence_spm, abs=1e-6)
        assert s.stride_time_s == pytest.approx(stride_s, abs=1e-9)
        assert s.contact_time_s == pytest.approx(params.contact_time_s, abs=1e-9)
        assert s.flight_time_s == pytest.approx(stride_s / 2 - params.contact_time_s, abs=1e-9)
        # Stride length = speed x stride time (straight, steady running).
        assert s.stride_length_m == pytest.approx(params.speed_mps * stride_s, abs=1e-6)
        assert s.speed_mps == pytest.approx(params.speed_mps, abs=1e-6)
        assert s.foot_strike_angle_deg == pytest.approx(params.strike_angle_deg)
        assert s.landing_distance_m == pytest.approx(params.landing_distance_m)
        assert s.step_time_s == pytest.approx(stride_s / 2, abs=1e-9)
        assert s.activity is Activity.RUNNING


def test_variability_is_applied_and_centred() -> None:
    sim = Simulation(_steady(EFFICIENT, 3.0), seed=2)
    sim.run_until(180.0)
    strides = _mid(sim.truth_strides(), 20.0, 175.0)
    cad = np.array([s.cadence_spm for s in strides])
    strike = np.array([s.foot_strike_angle_deg for s in strides])
    assert abs(cad.mean() - EFFICIENT.cadence_spm) < 1.0
    assert 0.5 < cad.std() < 4.0
    assert abs(strike.mean() - EFFICIENT.strike_angle_deg) < 0.5
    assert 0.8 < strike.std() < 1.8
    lengths = np.array([s.stride_length_m for s in strides])
    times = np.array([s.stride_time_s for s in strides])
    speeds = np.array([s.speed_mps for s in strides])
    assert np.allclose(lengths, speeds * times)


def _profile_truth(name: str, until_s: float) -> list[TruthStride]:
    sim = Simulation(name, seed=11)
    sim.run_until(until_s)
    return sim.truth_strides(until_s=until_s)


def test_named_profiles_have_their_technique() -> None:
    ranges = {
        # cadence spm, strike deg, expected class
        "heel-overstrider": ((150, 160), (20, 25), StrikePattern.REARFOOT),
        "efficient-midfoot": ((175, 185), (-1.6, 8), StrikePattern.MIDFOOT),
        "forefoot": ((175, 190), (-20, -1.6), StrikePattern.FOREFOOT),
    }
    landing = {}
    for name, ((c_lo, c_hi), (a_lo, a_hi), cls) in ranges.items():
        strides = _mid(_profile_truth(name, 120.0), 15.0, 115.0)
        cad = statistics.median(s.cadence_spm for s in strides)
        ang = statistics.median(s.foot_strike_angle_deg for s in strides)
        assert c_lo <= cad <= c_hi, (name, cad)
        assert a_lo <= ang <= a_hi, (name, ang)
        share = np.mean([classify_strike(s.foot_strike_angle_deg) is cls for s in strides])
        assert share > 0.9, (name, share)
        landing[name] = statistics.median(s.landing_distance_m for s in strides)
    assert landing["heel-overstrider"] > landing["efficient-midfoot"] > landing["forefoot"]


def test_fatiguing_drifts_into_overstriding() -> None:
    strides = _profile_truth("fatiguing", 1810.0)
    first = _mid(strides, 30.0, 330.0)
    last = _mid(strides, 1500.0, 1800.0)

    def med(xs: list[TruthStride], name: str) -> float:
        return float(statistics.median(getattr(s, name) for s in xs))

    assert med(last, "cadence_spm") < med(first, "cadence_spm") - 8
    assert med(last, "foot_strike_angle_deg") > med(first, "foot_strike_angle_deg") + 7
    assert med(last, "landing_distance_m") > med(first, "landing_distance_m") + 0.08
    assert med(last, "contact_time_s") > med(first, "contact_time_s") + 0.02


def test_walk_run_has_walking_running_and_standing_without_strides() -> None:
    prof = PROFILES["walk-run"]
    strides = _profile_truth("walk-run", prof.duration_s)
    acts = {s.activity for s in strides}
    assert acts == {Activity.WALKING, Activity.RUNNING}
    walking = [s for s in strides if s.activity is Activity.WALKING and s.ic_s > 10]
    assert all(s.contact_time_s > s.stride_time_s / 2 for s in walking[3:-3])
    assert all(s.flight_time_s == 0.0 for s in walking[3:-3])
    # No stride overlaps a standing segment.
    bounds = np.cumsum([0.0] + [seg.duration_s for seg in prof.segments])
    for i, seg in enumerate(prof.segments):
        if seg.mode is Mode.STAND:
            lo, hi = bounds[i], bounds[i + 1]
            assert not [s for s in strides if s.ic_s < hi - 0.01 and s.end_ic_s > lo + 0.01]


def test_asymmetric_right_foot_differs() -> None:
    strides = _mid(_profile_truth("asymmetric", 120.0), 15.0, 115.0)
    left = [s for s in strides if s.foot is Foot.LEFT]
    right = [s for s in strides if s.foot is Foot.RIGHT]

    def med(xs: list[TruthStride], name: str) -> float:
        return float(statistics.median(getattr(s, name) for s in xs))

    assert med(right, "contact_time_s") - med(left, "contact_time_s") > 0.015
    assert med(right, "foot_strike_angle_deg") - med(left, "foot_strike_angle_deg") > 5
    assert med(right, "landing_distance_m") - med(left, "landing_distance_m") > 0.03
    # Steps onto the right foot take longer than steps onto the left.
    assert med(right, "step_time_s") > med(left, "step_time_s") * 1.03


def test_turn_changes_heading_and_keeps_stride_length() -> None:
    sim = Simulation("efficient-midfoot", seed=1, variability=False)
    sim.run_until(140.0)
    heel = sim.planner.tracks[Foot.LEFT].contacts
    yaws = [c.yaw for c in heel if c.t_ic is not None and 120 < c.t_ic < 140]
    assert np.degrees(max(yaws) - min(yaws)) > 150  # a 180 deg turn
    turn = _mid(sim.truth_strides(), 126.0, 131.0)
    assert all(abs(s.stride_length_m - s.speed_mps * s.stride_time_s) < 1e-9 for s in turn)


def test_standing_has_no_strides() -> None:
    sim = Simulation("standing", seed=0)
    sim.run_until(60.0)
    assert sim.truth_strides() == []


def test_truth_records_are_stride_records() -> None:
    sim = Simulation("heel-overstrider", seed=0)
    sim.run_until(30.0)
    recs = sim.truth_records()
    assert len(recs) > 30
    assert all(r.strike_pattern is StrikePattern.REARFOOT for r in recs[4:])
    ends = [r.end_ic_s for r in recs]
    assert ends == sorted(ends)


TRUTH_NOT_MODELLED = {"peak_impact_g", "loading_rate_gps"}
"""StrideRecord fields the simulator's truth does not know (left None by ``to_record``)."""
TRUTH_NAMES = {"overstride_m": "landing_distance_m"}
"""StrideRecord field -> TruthStride attribute where the names differ."""


def test_truth_records_carry_every_stride_field() -> None:
    """``TruthStride.to_record`` names StrideRecord's fields one by one: a field added to
    StrideRecord must be given from the truth or listed in TRUTH_NOT_MODELLED."""
    sim = Simulation("heel-overstrider", seed=0)
    sim.run_until(15.0)
    truth = sim.truth_strides()[3]
    rec = truth.to_record()
    for f in dataclasses.fields(StrideRecord):
        value = getattr(rec, f.name)
        if f.name in TRUTH_NOT_MODELLED:
            assert value is None, f.name
        elif f.name == "strike_pattern":
            assert value is classify_strike(truth.foot_strike_angle_deg)
        else:
            assert value == getattr(truth, TRUTH_NAMES.get(f.name, f.name)), f.name
