"""Settings of the session component, from a plain config mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from gaitcoach.errors import ConfigError
from gaitcoach.session.advice import DEFAULT_ADVICE_PATH
from gaitcoach.session.recorder import DEFAULT_MIN_FREE_BYTES


def default_data_dir() -> Path:
    """``$GAITCOACH_DATA_DIR``, else ``$XDG_DATA_HOME/gaitcoach``, else ``~/.local/share``."""
    env = os.environ.get("GAITCOACH_DATA_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "gaitcoach"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    data_dir: Path
    runner: str = "default"
    leg_length_m: float | None = None
    target_cadence_spm: tuple[float, float] = (170.0, 185.0)
    flush_interval_s: float = 0.5
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    advice_path: Path = DEFAULT_ADVICE_PATH

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "session") -> SessionSettings:
        """Settings from ``d`` (keys as in docs/sessions.md); errors name ``prefix.key``."""
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise ConfigError(f"{prefix}.{key}", d[key], "one of " + ", ".join(sorted(known)))

        def num(key: str, default: float | None, lo: float, hi: float) -> float | None:
            v = d.get(key, default)
            if v is None and default is None:
                return None
            if isinstance(v, bool) or not isinstance(v, int | float) or not lo < v <= hi:
                raise ConfigError(f"{prefix}.{key}", v, f"a number in ({lo}, {hi}]")
            return float(v)

        data_dir = d.get("data_dir", str(default_data_dir()))
        if not isinstance(data_dir, str | os.PathLike) or not str(data_dir):
            raise ConfigError(f"{prefix}.data_dir", data_dir, "a directory path")
        runner = d.get("runner", "default")
        if not isinstance(runner, str) or not runner.strip():
            raise ConfigError(f"{prefix}.runner", runner, "a non-empty name")
        band = d.get("target_cadence_spm", (170.0, 185.0))
        ok = (
            isinstance(band, list | tuple)
            and len(band) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in band)
            and 100 <= band[0] < band[1] <= 240
        )
        if not ok:
            raise ConfigError(f"{prefix}.target_cadence_spm", band, "[low, high] in 100-240")
        min_free = d.get("min_free_bytes", DEFAULT_MIN_FREE_BYTES)
        if isinstance(min_free, bool) or not isinstance(min_free, int) or min_free < 0:
            raise ConfigError(f"{prefix}.min_free_bytes", min_free, "an integer >= 0")
        advice = d.get("advice_path", str(DEFAULT_ADVICE_PATH))
        if not isinstance(advice, str | os.PathLike):
            raise ConfigError(f"{prefix}.advice_path", advice, "a file path")
        flush = num("flush_interval_s", 0.5, 0.0, 1.0)
        assert flush is not None
        return cls(
            data_dir=Path(data_dir).expanduser(),
            runner=runner,
            leg_length_m=num("leg_length_m", None, 0.3, 1.5),
            target_cadence_spm=(float(band[0]), float(band[1])),
            flush_interval_s=flush,
            min_free_bytes=min_free,
            advice_path=Path(advice).expanduser(),
        )
