"""The hub's config file: the same one-line, every-problem-at-once errors as the service's."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitcoach.errors import ConfigError
from gaitcoach.hub.config import load_hub_config


def test_defaults_and_a_valid_file(tmp_path: Path) -> None:
    assert load_hub_config(None).hub.group == "gaitcoach-ingest"
    path = tmp_path / "hub.toml"
    path.write_text('[mqtt]\nhost = "broker"\n[hub]\nbatch_rows = 100\n')
    cfg = load_hub_config(path)
    assert cfg.mqtt.host == "broker" and cfg.hub.batch_rows == 100


def test_every_problem_at_once(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('[hubb]\nx = 1\n[mqtt]\nport = 70000\n[hub]\ngroup = "a/b"\n')
    with pytest.raises(ConfigError) as err:
        load_hub_config(path)
    keys = [p.key for p in err.value.problems]
    assert keys == ["hubb", "mqtt.port", "hub.group"], keys
    assert "did you mean hub?" in str(err.value)
    # A password in the connection string is refused, and never echoed.
    path.write_text('[hub]\ndsn = "host=db password=secret"\n')
    with pytest.raises(ConfigError, match="without password") as err:
        load_hub_config(path)
    assert "secret" not in str(err.value)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing.toml", "an existing TOML file"),
        (lambda d: d, "not a directory"),
        (lambda d: _write(d / "bad.toml", b"[hub\n"), "line 1, column"),
        (lambda d: _write(d / "latin1.toml", b'dsn = "\xe9"\n'), "a UTF-8 TOML file"),
    ],
)
def test_unreadable_files_are_one_clear_error(tmp_path: Path, make: object, expected: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=expected):
        load_hub_config(path)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
