"""Invalid parameters give one clear error naming the parameter and the allowed range."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from firmware_sim.params import GaitParams, Mode, Profile, Segment
from firmware_sim.profiles import EFFICIENT, get_profile
from firmware_sim.simulation import Simulation


def _run(params: GaitParams) -> Profile:
    return Profile("x", "", (Segment(Mode.RUN, 60.0, params),))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"speed_mps": -1.0}, "speed_mps = -1.0 is out of range; allowed 0.3..10 m/s"),
        ({"contact_time_s": 0.5}, "contact_time_s = 0.5 is out of range"),
        ({"cadence_spm": float("nan")}, "cadence_spm = nan is out of range"),
        (
            {"strike_angle_deg": 60.0},
            "strike_angle_deg = 60.0 is out of range; allowed -20..35 deg",
        ),
    ],
)
def test_bad_gait_parameters(change: dict[str, float], needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        Simulation(_run(dataclasses.replace(EFFICIENT, **change)))


def test_contact_longer_than_step_names_running() -> None:
    with pytest.raises(ValueError, match="running: shorter than a step"):
        Simulation(_run(dataclasses.replace(EFFICIENT, contact_time_s=0.40)))


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(
        ValueError, match="profile = 'sprinter' is unknown; allowed: heel-overstrider"
    ):
        get_profile("sprinter")


def test_unsupported_rate() -> None:
    with pytest.raises(
        ValueError, match=r"rate_hz = 100\.0 is not supported; allowed: 104, 208, 416 Hz"
    ):
        Simulation("forefoot", rate_hz=100)


def test_bad_seed_and_adjustment() -> None:
    with pytest.raises(ValueError, match="seed"):
        Simulation("forefoot", seed=-1)
    sim = Simulation("forefoot")
    with pytest.raises(ValueError, match="adjust: cadance_spm"):
        sim.adjust(cadance_spm=5.0)


def test_cli_error_is_one_line_and_exit_2() -> None:
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "firmware_sim",
            "record",
            "--profile",
            "nope",
            "--minutes",
            "1",
            "--out",
            "/tmp/x",
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0
    assert "profile = 'nope' is unknown" in p.stderr


def test_adjust_changes_future_steps_only() -> None:
    sim = Simulation("heel-overstrider", seed=1, variability=False)
    sim.run_until(30.0)
    before = sim.truth_strides(until_s=30.0)
    sim.adjust(cadence_spm=12.0, landing_distance_m=-0.1)
    sim.run_until(60.0)
    after = [s for s in sim.truth_strides() if s.ic_s > 35.0]
    assert [s.cadence_spm for s in sim.truth_strides(until_s=30.0)] == [
        s.cadence_spm for s in before
    ]
    assert min(s.cadence_spm for s in after) == pytest.approx(155.0 + 12.0, abs=0.01)
    assert max(s.landing_distance_m for s in after) == pytest.approx(0.28, abs=1e-6)
