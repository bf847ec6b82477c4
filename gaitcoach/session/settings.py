"""The ``[session]`` config section: where sessions are stored and how they are closed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, Strict, field_validator

from gaitcoach.coach.config import RunnerId
from gaitcoach.configmodel import SECTION_CONFIG, LegLengthM, ranged, section_from_dict
from gaitcoach.errors import ConfigError
from gaitcoach.paths import user_data_dir
from gaitcoach.session.recorder import DEFAULT_MIN_FREE_BYTES


@dataclass(frozen=True, slots=True)
class SessionSettings:
    __pydantic_config__ = SECTION_CONFIG

    data_dir: Annotated[Path, Field(default_factory=user_data_dir)]
    """sessions.sqlite and raw sample chunks; the user data directory by default."""
    runner: RunnerId = "default"
    """Set from ``[runner] id`` by the service."""
    leg_length_m: LegLengthM | None = None
    """Set from ``[runner]`` by the service (the same range as there)."""
    flush_interval_s: Annotated[float, Strict(), Field(gt=0.0, le=1.0)] = 0.5
    """The most a crash (kill -9) can lose."""
    min_free_bytes: Annotated[int, Strict(), ranged(0, None)] = DEFAULT_MIN_FREE_BYTES
    advice_path: Path | None = None
    """Advice wording and thresholds; the shipped file when left out."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "session") -> SessionSettings:
        """Settings from ``d`` (keys as in docs/sessions.md); errors name ``prefix.key``."""
        return section_from_dict(cls, d, prefix)

    @field_validator("data_dir", mode="before")
    @classmethod
    def _a_directory(cls, value: Any) -> Any:
        # Path("") is "." (wherever the service was started): an empty value is a mistake.
        if isinstance(value, str) and not value:
            raise ConfigError("data_dir", value, "a directory")
        return value
