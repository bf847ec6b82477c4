"""The simulated runner's response to cues: compliance, adoption over strides, drift back."""

from __future__ import annotations

import statistics

import pytest

from firmware_sim.response import CueResponse, ResponseSettings
from firmware_sim.simulation import Simulation


def test_no_cue_no_change() -> None:
    r = CueResponse(155.0)
    assert all(v == 0.0 for v in r.offsets(100.0).values())


def test_cadence_cue_is_adopted_then_drifts_back() -> None:
    s = ResponseSettings(compliance=1.0, adopt_s=5.0, drift_back_s=100.0)
    r = CueResponse(155.0, s)
    r.hear(10.0, "cadence", target_cadence_spm=165.0)
    early = r.offsets(11.0)["cadence_spm"]
    adopted = r.offsets(30.0)["cadence_spm"]
    later = r.offsets(300.0)["cadence_spm"]
    assert 0 < early < adopted
    assert adopted == pytest.approx(10.0 * 0.82, rel=0.1)  # target x drift by t=30
    assert later < adopted / 3
    # A quicker cadence brings the foot closer and flattens the strike.
    off = r.offsets(30.0)
    assert off["landing_distance_m"] < 0 and off["strike_angle_deg"] < 0


def test_compliance_scales_the_response() -> None:
    results = []
    for c in (0.0, 0.5, 1.0):
        r = CueResponse(155.0, ResponseSettings(compliance=c))
        r.hear(0.0, "stride")
        results.append(r.offsets(30.0)["landing_distance_m"])
    assert results[0] == 0.0
    assert results[0] > results[1] > results[2]


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match=r"response\.compliance = 1\.5 is out of range"):
        CueResponse(155.0, ResponseSettings(compliance=1.5))


def test_simulated_runner_follows_offsets() -> None:
    sim = Simulation("heel-overstrider", seed=2)
    r = CueResponse(155.0, ResponseSettings(compliance=1.0, adopt_s=3.0))
    r.hear(30.0, "cadence", target_cadence_spm=168.0)
    t = 0.0
    while t < 90.0:  # the runner re-plans each second, as the closed loop will
        t += 1.0
        sim.adjust(**r.offsets(t))
        sim.run_until(t)
    before = [s.cadence_spm for s in sim.truth_strides(until_s=30.0) if s.ic_s > 10]
    after = [s.cadence_spm for s in sim.truth_strides(until_s=90.0) if s.ic_s > 60]
    assert statistics.median(after) - statistics.median(before) > 9.0
