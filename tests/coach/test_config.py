"""Config sections, cue templates and command validation: one clear error per bad value."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gaitcoach.coach import (
    CoachSettings,
    CommandError,
    CueTemplates,
    Mute,
    ReportDiscomfort,
    RunnerProfile,
    SetTargets,
    StartSession,
    StopSession,
    parse_command,
)
from gaitcoach.errors import ConfigError
from gaitcoach.paths import cues_dir, example_config
from gaitcoach.types import CueKind

SECTIONS = example_config()


def test_example_sections_load() -> None:
    data = tomllib.loads(SECTIONS.read_text())
    profile = RunnerProfile.from_dict(data["runner"], "runner")
    settings = CoachSettings.from_dict(data["coach"], "coach")
    assert profile.id and profile.leg_length_or_estimate_m is not None
    assert settings.warmup_s >= 0


def test_defaults_and_leg_length_estimate() -> None:
    assert RunnerProfile.from_dict({}) == RunnerProfile()
    assert RunnerProfile(height_m=1.80).leg_length_or_estimate_m == pytest.approx(0.954)
    assert RunnerProfile(height_m=1.80, leg_length_m=0.9).leg_length_or_estimate_m == 0.9
    assert CoachSettings.from_dict({"warmup_s": 30}).warmup_s == 30.0


@pytest.mark.parametrize(
    ("section", "data", "key"),
    [
        ("runner", {"height_m": 3.2}, "runner.height_m"),
        ("runner", {"height_m": "tall"}, "runner.height_m"),
        ("runner", {"id": "a/b"}, "runner.id"),
        ("runner", {"enabled_cues": ["cadence", "shout"]}, "runner.enabled_cues[1]"),
        ("runner", {"cadence_raise_pct": 20}, "runner.cadence_raise_pct"),
        ("runner", {"height_m": 1.8, "leg_length_m": 1.3}, "runner.leg_length_m"),
        ("runner", {"colour": "red"}, "runner.colour"),
        ("coach", {"warmup_s": -1}, "coach.warmup_s"),
        ("coach", {"max_cues_per_10min": 2.5}, "coach.max_cues_per_10min"),
        ("coach", {"strike_angle_exit_deg": 30.0}, "coach.strike_angle_exit_deg"),
        ("coach", {"window_steps": 5, "min_strides": 8}, "coach.min_strides"),
        ("coach", {"window_s": float("nan")}, "coach.window_s"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(section: str, data: dict, key: str) -> None:
    cls = RunnerProfile if section == "runner" else CoachSettings
    with pytest.raises(ConfigError) as err:
        cls.from_dict(data, section)
    assert err.value.key == key
    assert "allowed" in str(err.value) and err.value.allowed


def test_templates_fill_numbers_and_reject_unknown_placeholders(tmp_path: Path) -> None:
    en = CueTemplates.load("en")
    text = en.technique(CueKind.CADENCE, 0, {"cadence_spm": 150.0, "target_spm": 165.4})
    assert "165" in text
    assert en.technique(CueKind.CADENCE, 9, {"cadence_spm": 150.0, "target_spm": 165.0})
    bad = (cues_dir() / "en.toml").read_text(encoding="utf-8")
    (tmp_path / "xx.toml").write_text(bad.replace("{target_spm:.0f}", "{pace}", 1))
    with pytest.raises(ConfigError) as err:
        CueTemplates.load("xx", tmp_path)
    assert err.value.key == "xx.toml.cadence.levels[0]"
    with pytest.raises(ConfigError):
        CueTemplates.load("fr", tmp_path)
    (tmp_path / "yy.toml").write_text("[cadence]\nlevels = 3\n")
    with pytest.raises(ConfigError):
        CueTemplates.load("yy", tmp_path)


def test_commands_parse_to_typed_messages() -> None:
    assert parse_command("start", {"session_id": "run-1", "v": 1}) == StartSession("run-1")
    assert parse_command("stop", {}) == StopSession()
    assert parse_command("mute", {"duration_s": 60}) == Mute(60.0)
    assert parse_command("set_targets", {"cadence_target_spm": 172}) == SetTargets(172.0)
    assert parse_command("discomfort", {"body_part": "Knee", "score": 6}) == ReportDiscomfort(
        "knee", 6
    )


@pytest.mark.parametrize(
    ("name", "args", "code"),
    [
        ("jump", {}, "unknown_command"),
        ("mute", {}, "missing_argument"),
        ("mute", {"duration_s": -5}, "out_of_range"),
        ("mute", {"duration_s": "long"}, "bad_value"),
        ("mute", {"duration_s": True}, "bad_value"),
        ("mute", {"duration_s": 10, "loud": 1}, "unknown_argument"),
        ("set_targets", {}, "missing_argument"),
        ("set_targets", {"cadence_target_spm": 400}, "out_of_range"),
        ("set_targets", {"cadence_target_spm": float("inf")}, "out_of_range"),
        ("discomfort", {"body_part": "elbow", "score": 3}, "bad_value"),
        ("discomfort", {"body_part": "knee", "score": 11}, "out_of_range"),
        ("discomfort", {"body_part": "knee", "score": 2.5}, "bad_value"),
    ],
)
def test_bad_commands_raise_one_clear_error(name: str, args: dict, code: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_command(name, args)
    assert err.value.code == code
    assert name in err.value.message or code == "unknown_command"
