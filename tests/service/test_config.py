"""Service configuration: the shipped file validates; every error is one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gaitcoach.errors import ConfigError
from gaitcoach.service.config import config_from_dict, load_config
from gaitcoach.types import Foot

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid() -> None:
    cfg = load_config(ROOT / "gaitcoach" / "data" / "examples" / "gaitcoach.toml")
    assert cfg.runner.id
    assert {p.side for p in cfg.link.pods} == {Foot.LEFT, Foot.RIGHT}
    # relative paths are resolved beside the config file
    assert cfg.session_settings().data_dir.is_absolute()


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None)
    assert cfg.source == "<defaults>"
    assert cfg.link.rate_hz == 208


@pytest.mark.parametrize(
    ("raw", "key", "allowed"),
    [
        ({"runner": {"id": "a/b"}}, "runner.id", "1-64 of"),
        # Broker account names of the example ACL: their pattern lines give such an account
        # the runner's rights (every coach would command a runner called "coach").
        ({"runner": {"id": "coach"}}, "runner.id", "not a broker account name"),
        ({"runner": {"id": "homeassistant"}}, "runner.id", "not a broker account name"),
        ({"runner": {"id": "gaitcoach-bob"}}, "runner.id", "not a broker account name"),
        ({"runner": {"id": "alice-dashboard"}}, "runner.id", "not a broker account name"),
        ({"coach": {"warmup_s": -1}}, "coach.warmup_s", "[0, 1800]"),
        ({"mqtt": {"port": 70000}}, "mqtt.port", "[0, 65535]"),
        ({"link": {"rate_hz": 100}}, "link.rate_hz", "104, 208, 416"),
        ({"link": {"pods": [{"side": "middle"}]}}, "link.pods[0].side", "left, right"),
        ({"link": {"pods": []}}, "link.pods", "a list of tables"),
        ({"gait": {"min_stride_s": 9}}, "gait.min_stride_s", "[0.2, 5]"),
        ({"gait": {"nope": 1}}, "gait.nope", "one of"),
        ({"service": {"log_level": "loud"}}, "service.log_level", "one of debug"),
        ({"servic": {}}, "servic", "did you mean service?"),
        ({"coach": {"warmup": 5}}, "coach.warmup", "did you mean warmup_s?"),
        ({"link": {"pods": [{"sid": "left"}]}}, "link.pods[0].sid", "did you mean side?"),
        ({"link": {"connect_attempts": 0}}, "link.connect_attempts", "[1, 100]"),
        ({"link": {"settle_s": -1.0}}, "link.settle_s", "[0, 3600]"),
        ({"service": {"queue_size": 4096}}, "service.queue_size", "one of log_file"),
    ],
)
def test_errors_name_key_value_and_allowed(raw: dict[str, object], key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert info.value.key == key
    assert allowed in info.value.allowed
    assert "\n" not in str(info.value)


def test_config_check_command(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[runner]\nid = "zoe"\n[link]\npods = [{side = "left"}, {side = "right"}]\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[coach]\nwarmup_s = "long"\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("[runner\n")

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gaitcoach", "config", "check", "--config", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    ok = check(good)
    assert ok.returncode == 0 and "ok (runner zoe" in ok.stdout
    for path, needle in ((bad, "coach.warmup_s = 'long'"), (broken, "line 1, column 8")):
        p = check(path)
        assert p.returncode == 2
        assert p.stderr.count("\n") == 1 and needle in p.stderr
    missing = check(tmp_path / "nope.toml")
    assert missing.returncode == 2 and "an existing TOML file" in missing.stderr


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("directory", "not a directory"),
        ("latin1", "UTF-8"),
        ("language xx", "runner.language = 'xx'"),
        ("missing cue dir", "runner.language = 'en'"),
        ("cue dir is a file", "a readable UTF-8 file"),
        ("missing advice", "advice file"),
    ],
)
def test_run_and_check_reject_the_same_files_in_one_line(
    case: str, needle: str, tmp_path: Path
) -> None:
    """Whatever `run` would reject, `config check` rejects first: one line, exit 2, and `run`
    writes nothing (no data directory, no session)."""
    data = tmp_path / "data"
    head = f'[session]\ndata_dir = "{data}"\n'
    path = tmp_path / "c.toml"
    if case == "directory":
        path.mkdir()
    elif case == "latin1":
        path.write_bytes((head + '[runner]\nid = "zoé"\n').encode("latin-1"))
    elif case == "language xx":
        path.write_text(head + '[runner]\nlanguage = "xx"\n')
    elif case == "missing cue dir":
        path.write_text(head + f'[runner]\ncue_templates_dir = "{tmp_path / "nope"}"\n')
    elif case == "cue dir is a file":
        (tmp_path / "cues").mkdir()
        (tmp_path / "cues" / "en.toml").mkdir()
        path.write_text(head + f'[runner]\ncue_templates_dir = "{tmp_path / "cues"}"\n')
    else:
        path.write_text(head + f'advice_path = "{tmp_path / "nope.toml"}"\n')
    for argv in (["config", "check"], ["run", "--quiet"]):
        p = subprocess.run(
            [sys.executable, "-m", "gaitcoach", *argv, "--config", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert p.returncode == 2, (argv, p.stderr)
        assert p.stderr.count("\n") == 1 and needle in p.stderr, (argv, p.stderr)
        assert not data.exists()


def test_every_problem_is_reported_at_once() -> None:
    """One error per problem, in every section, each on its own line naming its key."""
    raw = {
        "runner": {"id": "a b", "height_m": 1.7, "leg_length_m": 1.3},
        "coach": {"warmup_s": -1, "window_steps": "20"},
        "mqtt": {"port": 70000, "hostname": "x"},
        "gait": {"min_stride_s": 9, "rearfoot_above": 8.0},
        "service": {"log_level": "loud"},
    }
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    keys = [p.key for p in info.value.problems]
    assert sorted(keys) == sorted(
        [
            "runner.id",
            "coach.warmup_s",
            "coach.window_steps",
            "mqtt.port",
            "mqtt.hostname",
            "gait.min_stride_s",
            "gait.rearfoot_above",
            "service.log_level",
        ]
    )
    lines = str(info.value).splitlines()
    assert len(lines) == len(keys) and all(line.startswith("config: ") for line in lines)
    assert "did you mean gait.rearfoot_above_deg?" in str(info.value)
    # Checks between fields run once the fields are valid: 1.3 m of a 1.7 m body.
    with pytest.raises(ConfigError) as info:
        config_from_dict({"runner": {"height_m": 1.7, "leg_length_m": 1.3}})
    assert info.value.key == "runner.leg_length_m" and "40-60 %" in info.value.allowed


def test_toml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[runner]\nid = "zoe"\nheight_m = 1.7.2\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path} line 3, column" in str(info.value)
    assert "\n" not in str(info.value)


def test_one_range_per_quantity() -> None:
    """The leg length has one range in [runner] and [session]; set_targets takes what the
    config takes."""
    from gaitcoach.coach.commands import argument_range
    from gaitcoach.coach.config import CoachSettings, RunnerProfile
    from gaitcoach.configmodel import field_range
    from gaitcoach.session.settings import SessionSettings

    assert field_range(RunnerProfile, "leg_length_m") == field_range(
        SessionSettings, "leg_length_m"
    )
    assert argument_range("set_targets", "cadence_target_spm") == field_range(
        RunnerProfile, "cadence_target_spm"
    )
    assert argument_range("set_targets", "cadence_raise_pct") == field_range(
        RunnerProfile, "cadence_raise_pct"
    )
    assert argument_range("set_targets", "strike_angle_limit_deg") == field_range(
        CoachSettings, "strike_angle_enter_deg"
    )
    assert argument_range("set_targets", "overstride_limit_m") == field_range(
        CoachSettings, "overstride_enter_m"
    )


def test_config_is_found_by_flag_then_environment_then_user_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gaitcoach.paths import find_config

    home = tmp_path / "home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("GAITCOACH_CONFIG", raising=False)
    assert find_config(None).path is None
    assert load_config(None).source == "<defaults>"
    user = home / "gaitcoach" / "gaitcoach.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[runner]\nid = "user"\n')
    assert load_config(None).runner.id == "user"
    env = tmp_path / "env.toml"
    env.write_text('[runner]\nid = "env"\n')
    monkeypatch.setenv("GAITCOACH_CONFIG", str(env))
    assert load_config(None).runner.id == "env"
    flag = tmp_path / "flag.toml"
    flag.write_text('[runner]\nid = "flag"\n')
    assert load_config(flag).runner.id == "flag"


def test_every_sub_command_uses_one_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run records where sessions, summary and history read: the config's data_dir, else
    the user data directory; 'no sessions' says where it looked."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": str(tmp_path / "share"),
    }
    env.pop("GAITCOACH_CONFIG", None)
    env.pop("GAITCOACH_DATA_DIR", None)

    def gc(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gaitcoach", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )

    default = tmp_path / "share" / "gaitcoach"
    assert str(default) in gc("config", "check").stdout
    assert gc("sessions").stdout.strip() == f"no sessions in {default}"
    assert gc("config", "init").returncode == 0
    assert gc("config", "init").returncode == 2  # never overwrites silently
    check = gc("config", "check")
    assert check.returncode == 0 and "(user config)" in check.stdout
    assert str(default) in check.stdout


def test_mqtt_certificate_paths_are_taken_from_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the example config says ("Relative paths are taken from this file's folder") and
    # as every other section does: the service, `listen` and the hub read [mqtt] alike.
    from gaitcoach.cli import build_parser
    from gaitcoach.hub.config import load_hub_config
    from gaitcoach.listen import settings_from_args

    conf = tmp_path / "conf"
    conf.mkdir()
    for name in ("ca.pem", "me.pem", "me.key"):
        (conf / name).write_text("-----BEGIN-----\n")
    path = conf / "gaitcoach.toml"
    path.write_text(
        '[mqtt]\nhost = "broker.local"\ntls = true\nca_file = "ca.pem"\n'
        'cert_file = "me.pem"\nkey_file = "me.key"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    want = (str(conf / "ca.pem"), str(conf / "me.pem"), str(conf / "me.key"))
    service = load_config(path).mqtt
    hub = load_hub_config(path).mqtt
    listen, _ = settings_from_args(build_parser().parse_args(["listen", "--config", str(path)]))
    for mqtt in (service, hub, listen):
        assert (mqtt.ca_file, mqtt.cert_file, mqtt.key_file) == want
    # A missing file is still named, at the place it was looked for.
    (conf / "ca.pem").unlink()
    with pytest.raises(ConfigError, match=r"mqtt\.ca_file = '.*conf/ca\.pem'"):
        load_config(path)
