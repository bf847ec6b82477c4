"""Credentials in the configuration (issue 14): never echoed, a file others can read gets a
warning, and the password may come from the environment instead of a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitcoach.cli import main
from gaitcoach.mqtt.config import PASSWORD_ENV
from gaitcoach.service.config import load_config

SECRET = "hunter2-Secret"


def write(tmp_path: Path, mqtt: str, mode: int = 0o600) -> Path:
    path = tmp_path / "gaitcoach.toml"
    path.write_text(f'[runner]\nid = "alice"\n[mqtt]\nhost = "127.0.0.1"\n{mqtt}\n')
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "mqtt",
    [
        f'username = "alice"\npassword = {len(SECRET)}{len(SECRET)}',  # a number, not a string
        f'username = "alice"\npasword = "{SECRET}"',  # a typo: unknown key
        f'password = "{SECRET}"',  # without a username
        f'username = "alice"\npassword = ["{SECRET}"]',
    ],
)
def test_config_check_never_echoes_a_password(
    tmp_path: Path, mqtt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, mqtt)
    assert main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "config: mqtt." in err and "***" in err
    assert SECRET not in err and f"{len(SECRET)}{len(SECRET)}" not in err


def test_config_check_warns_about_a_password_file_others_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f'username = "alice"\npassword = "{SECRET}"', 0o644)
    assert main(["config", "check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "other users can read" in err and "mode 644" in err and "chmod 600" in err
    path.chmod(0o600)
    assert main(["config", "check", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in err and SECRET not in out + err
    # No password in the file: nothing to warn about whatever the mode.
    path = write(tmp_path, "port = 1883", 0o644)
    assert load_config(path).warnings == ()


def test_password_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'username = "alice"', 0o644)
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    cfg = load_config(path)
    assert (cfg.mqtt.username, cfg.mqtt.password) == ("alice", SECRET)
    assert cfg.warnings == ()
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(ValueError, match="username and password together"):
        load_config(path)
