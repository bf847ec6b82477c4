"""The ``[dashboard]`` config section (off by default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaitcoach.coach.configfields import pattern, section_from_dict
from gaitcoach.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """Where the broker serves the page and where people open it.

    The page is served by Mosquitto (``http_dir`` on its websockets listener, see
    config/mosquitto/): ``gaitcoach run`` with ``enabled = true`` puts the page into
    ``http_dir`` at start (so the page always matches the service) and prints ``url``.
    """

    enabled: bool = False
    http_dir: str = ""
    """The folder the broker's websockets listener serves (its ``http_dir``)."""
    url: str = field(default="", metadata=pattern(r"(https?://[^\s?#]+)?", "http(s)://host:port/"))
    """The listener's address as people open it, e.g. ``https://broker.local:8884/``."""

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], prefix: str = "dashboard", base_dir: Path | None = None
    ) -> DashboardSettings:
        raw = dict(d)
        if isinstance(raw.get("http_dir"), str) and raw["http_dir"] and base_dir is not None:
            p = Path(raw["http_dir"])
            raw["http_dir"] = str(p if p.is_absolute() else (base_dir / p).resolve())
        s = section_from_dict(cls, raw, prefix)
        if s.enabled and not s.http_dir:
            raise ConfigError(f"{prefix}.http_dir", s.http_dir, "a folder when enabled = true")
        return s
