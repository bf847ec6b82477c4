"""Where gaitcoach finds its config, keeps its data and reads its own files.

One answer for every sub-command (``run``, ``sessions``, ``summary``, ``history``, ``listen``
...), so that what ``run`` records is what ``sessions`` lists:

- config: ``--config``, else ``$GAITCOACH_CONFIG``, else ``<user config dir>/gaitcoach.toml``
  when it exists, else the built-in defaults (``gaitcoach config init`` writes the example);
- data: ``[session] data_dir`` of that config, else ``$GAITCOACH_DATA_DIR``, else the user
  data directory (``$XDG_DATA_HOME/gaitcoach``, ``~/.local/share/gaitcoach``);
- the package's own files (cue and advice wording, JSON Schemas, example configs) are package
  data read through :mod:`importlib.resources`, so a wheel works wherever it is installed.

XDG directories are used directly: the service runs on Linux (BlueZ), so a platform-dirs
dependency would buy nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

CONFIG_ENV = "GAITCOACH_CONFIG"
DATA_ENV = "GAITCOACH_DATA_DIR"
CONFIG_NAME = "gaitcoach.toml"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    # The XDG spec: a relative value is invalid and is ignored.
    if value and Path(value).is_absolute():
        return Path(value)
    return Path.home() / fallback


def user_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/gaitcoach``, else ``~/.config/gaitcoach``."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "gaitcoach"


def user_data_dir() -> Path:
    """``$GAITCOACH_DATA_DIR``, else ``$XDG_DATA_HOME/gaitcoach``, else
    ``~/.local/share/gaitcoach``: the sessions of every sub-command."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return _xdg("XDG_DATA_HOME", ".local/share") / "gaitcoach"


def demo_data_dir() -> Path:
    """The demo's own store (``<user data dir>-demo``), kept apart from real runs."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "gaitcoach-demo"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/gaitcoach``, else ``~/.cache/gaitcoach``."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "gaitcoach"


@dataclass(frozen=True, slots=True)
class ConfigLocation:
    """The config file to read (None: built-in defaults) and how it was chosen."""

    path: Path | None
    how: str
    """``--config``, ``$GAITCOACH_CONFIG``, ``user config`` or ``defaults``."""


def find_config(cli_path: str | os.PathLike[str] | None = None) -> ConfigLocation:
    """The config file by precedence: the command line, the environment, the user's file."""
    if cli_path is not None and str(cli_path):
        return ConfigLocation(Path(cli_path).expanduser(), "--config")
    env = os.environ.get(CONFIG_ENV)
    if env:
        return ConfigLocation(Path(env).expanduser(), f"${CONFIG_ENV}")
    user = user_config_dir() / CONFIG_NAME
    if user.exists():
        return ConfigLocation(user, "user config")
    return ConfigLocation(None, "defaults")


def package_file(*parts: str) -> Traversable:
    """A file shipped inside the package under ``gaitcoach/data/`` (wording, schemas,
    examples)."""
    node = files("gaitcoach") / "data"
    for part in parts:
        node = node / part
    return node


def cues_dir() -> Traversable:
    return package_file("cues")


def advice_file() -> Traversable:
    return package_file("advice", "advice.toml")


def example_config() -> Traversable:
    return package_file("examples", CONFIG_NAME)


def schema_file(name: str) -> Traversable:
    """``<name>.schema.json`` (``cue``, ``metrics``, ``command``, ``summary`` ...)."""
    return package_file("schemas", f"{name}.schema.json")


def user_state_dir() -> Path:
    """``$XDG_STATE_HOME/gaitcoach``, else ``~/.local/state/gaitcoach`` (the log file)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "gaitcoach"
