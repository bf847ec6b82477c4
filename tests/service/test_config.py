"""Service configuration: the shipped file validates; every error is one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gaitcoach.errors import ConfigError
from gaitcoach.service.config import config_from_dict, load_config
from gaitcoach.types import Foot

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid() -> None:
    cfg = load_config(ROOT / "config" / "gaitcoach.toml")
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
        ({"coach": {"warmup_s": -1}}, "coach.warmup_s", "[0, 1800]"),
        ({"mqtt": {"port": 70000}}, "mqtt.port", "[0, 65535]"),
        ({"link": {"rate_hz": 100}}, "link.rate_hz", "104, 208, 416"),
        ({"link": {"pods": [{"side": "middle"}]}}, "link.pods[0].side", "left, right"),
        ({"link": {"pods": []}}, "link.pods", "a list of tables"),
        ({"gait": {"min_stride_s": 9}}, "gait.min_stride_s", "[0.2, 5]"),
        ({"gait": {"nope": 1}}, "gait.nope", "one of"),
        ({"service": {"log_level": "loud"}}, "service.log_level", "one of debug"),
        ({"servic": {}}, "servic", "sections runner"),
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
    for path, needle in ((bad, "coach.warmup_s = 'long'"), (broken, "valid TOML")):
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
