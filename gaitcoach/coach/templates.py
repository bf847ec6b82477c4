"""Cue wording as data: ``<language>.toml`` shipped in ``gaitcoach/data/cues/`` (see that file
for the placeholders), or a folder of the runner's own (``[runner] cue_templates_dir``)."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from gaitcoach.coach.config import TECHNIQUE_KINDS
from gaitcoach.errors import ConfigError
from gaitcoach.paths import cues_dir
from gaitcoach.types import CueKind

# The placeholders each template may use: what the coach puts into the cue's trigger.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "cadence": frozenset({"cadence_spm", "target_spm"}),
    "stride": frozenset({"overstride_cm", "step_rel_leg"}),
    "softer": frozenset({"strike_angle_deg", "limit_deg"}),
    "discomfort": frozenset({"body_part", "score"}),
}
TECHNIQUE = TECHNIQUE_KINDS
DISCOMFORT_BANDS = ("ease", "walk", "stop")


def _check(key: str, text: Any, allowed: frozenset[str]) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(key, text, "a non-empty string")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ConfigError(key, text, f"a valid format string ({exc})") from None
    unknown = names - allowed
    if unknown:
        raise ConfigError(key, text, "placeholders among " + ", ".join(sorted(allowed)))
    return text


def _texts(
    d: Mapping[str, Any], section: str, prefix: str, allowed: Mapping[str, frozenset[str]]
) -> dict[str, str]:
    """One template per key of ``allowed`` from table ``section``."""
    table = d.get(section)
    return {
        key: _check(
            f"{prefix}.{section}.{key}",
            table.get(key) if isinstance(table, Mapping) else None,
            names,
        )
        for key, names in allowed.items()
    }


@dataclass(frozen=True, slots=True)
class CueTemplates:
    """Wording per cue kind and escalation level, per corrected fault, per discomfort band."""

    language: str
    levels: Mapping[str, tuple[str, ...]]
    reinforce: Mapping[str, str]
    discomfort: Mapping[str, str]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], language: str, prefix: str = "cues") -> CueTemplates:
        levels: dict[str, tuple[str, ...]] = {}
        for kind in TECHNIQUE:
            table = d.get(kind)
            lines = table.get("levels") if isinstance(table, Mapping) else None
            if not isinstance(lines, list) or not lines:
                raise ConfigError(f"{prefix}.{kind}.levels", lines, "a non-empty list of strings")
            levels[kind] = tuple(
                _check(f"{prefix}.{kind}.levels[{i}]", t, PLACEHOLDERS[kind])
                for i, t in enumerate(lines)
            )
        reinforce = _texts(d, "reinforce", prefix, {k: PLACEHOLDERS[k] for k in TECHNIQUE})
        discomfort = _texts(
            d, "discomfort", prefix, dict.fromkeys(DISCOMFORT_BANDS, PLACEHOLDERS["discomfort"])
        )
        return cls(language, levels, reinforce, discomfort)

    @classmethod
    def load(cls, language: str = "en", directory: str | Path | None = None) -> CueTemplates:
        """Read ``<directory>/<language>.toml`` (ConfigError when missing or invalid)."""
        path: Traversable = Path(directory) if directory is not None else cues_dir()
        file = path / f"{language}.toml"
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("runner.language", language, f"a language with {file}") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise ConfigError(str(file), "<file>", f"a readable UTF-8 file ({reason})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(file), "<file>", f"valid TOML ({exc})") from None
        return cls.from_dict(data, language, prefix=file.name)

    def technique(self, kind: CueKind, level: int, values: Mapping[str, Any]) -> str:
        lines = self.levels[kind.value]
        return lines[min(level, len(lines) - 1)].format_map(values)

    def praise(self, corrected: CueKind, values: Mapping[str, Any]) -> str:
        return self.reinforce[corrected.value].format_map(values)

    def answer(self, band: str, values: Mapping[str, Any]) -> str:
        return self.discomfort[band].format_map(values)
