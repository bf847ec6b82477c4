"""``config/gaitcoach.toml``: one file, one section per stage, every error one clear line.

Sections: ``[runner]`` and ``[coach]`` (gaitcoach.coach), ``[mqtt]`` (gaitcoach.mqtt),
``[link]`` with ``[[link.pods]]`` (gaitcoach.link), ``[gait]`` (gaitcoach.gait),
``[session]`` (gaitcoach.session) and ``[service]`` (this module). Unknown sections and keys
are errors; so is every value out of range (:class:`~gaitcoach.errors.ConfigError`, naming the
key, the value and what is allowed).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaitcoach.coach import CoachSettings, RunnerProfile
from gaitcoach.coach.configfields import bounded, choice, section_from_dict
from gaitcoach.coach.templates import CueTemplates
from gaitcoach.dashboard.config import DashboardSettings
from gaitcoach.errors import ConfigError
from gaitcoach.gait import GaitConfig
from gaitcoach.link import LinkConfig, PodSelector
from gaitcoach.mqtt import MqttSettings
from gaitcoach.mqtt.config import secret_file_warning, with_password_env
from gaitcoach.session.advice import DEFAULT_ADVICE_PATH, AdviceBook
from gaitcoach.session.settings import SessionSettings
from gaitcoach.types import Foot

DEFAULT_CONFIG = Path("config/gaitcoach.toml")
SECTIONS = ("runner", "coach", "mqtt", "link", "gait", "session", "service", "dashboard")


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How the service itself runs."""

    metrics_interval_s: float = field(default=1.0, metadata=bounded(0.1, 60.0))
    """Rolling metrics are published and the coach ticks this often."""
    queue_size: int = field(default=2048, metadata=bounded(16, 1_000_000))
    """Items (chunks, gaps, events) buffered between the link and the analysis."""
    log_level: str = field(default="info", metadata=choice("debug", "info", "warning", "error"))
    record: bool = True
    """Record the session (raw samples, strides, cues, events)."""


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs, validated."""

    runner: RunnerProfile = field(default_factory=RunnerProfile)
    coach: CoachSettings = field(default_factory=CoachSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    link: LinkConfig = field(default_factory=LinkConfig)
    gait: GaitConfig = field(default_factory=GaitConfig)
    session: SessionSettings | None = None
    service: ServiceSettings = field(default_factory=ServiceSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    source: str = "<defaults>"
    warnings: tuple[str, ...] = ()
    """Not errors, but worth saying (a password in a file others can read)."""

    def session_settings(self) -> SessionSettings:
        base = self.session or SessionSettings.from_dict({})
        return dataclasses.replace(
            base, runner=self.runner.id, leg_length_m=self.runner.leg_length_or_estimate_m
        )


def _foot(value: Any, key: str) -> Foot:
    try:
        return Foot(value)
    except ValueError:
        raise ConfigError(key, value, "left, right or unknown") from None


def _pods(raw: Any) -> tuple[PodSelector, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("link.pods", raw, 'a list of tables like {side = "left"}')
    out = []
    for i, p in enumerate(raw):
        key = f"link.pods[{i}]"
        if not isinstance(p, Mapping):
            raise ConfigError(key, p, "a table with address, name, side and/or foot")
        for k in p:
            if k not in ("address", "name", "side", "foot"):
                raise ConfigError(f"{key}.{k}", p[k], "one of address, name, side, foot")
        for k in ("address", "name"):
            if k in p and (not isinstance(p[k], str) or not p[k]):
                raise ConfigError(f"{key}.{k}", p[k], "a non-empty string")
        out.append(
            PodSelector(
                address=p.get("address"),
                name=p.get("name"),
                side=_foot(p["side"], f"{key}.side") if "side" in p else None,
                foot=_foot(p["foot"], f"{key}.foot") if "foot" in p else None,
            )
        )
    return tuple(out)


def _link(d: Mapping[str, Any]) -> LinkConfig:
    rest = {k: v for k, v in d.items() if k != "pods"}
    link = section_from_dict(LinkConfig, rest, "link")
    if "pods" in d:
        link = dataclasses.replace(link, pods=_pods(d["pods"]))
    return link


def _gait(d: Mapping[str, Any]) -> GaitConfig:
    names = {f.name for f in dataclasses.fields(GaitConfig)}
    for key, value in d.items():
        if key not in names:
            raise ConfigError(f"gait.{key}", value, "one of " + ", ".join(sorted(names)))
        try:
            GaitConfig(**{key: value})
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"gait.{key}", value, str(exc).split(" is out of range ")[-1]
            ) from None
    try:
        return GaitConfig(**d)
    except (ValueError, TypeError) as exc:
        raise ConfigError("gait", dict(d), str(exc)) from None


def config_from_dict(
    d: Mapping[str, Any], base_dir: Path | None = None, source: str = ""
) -> ServiceConfig:
    """Validate a parsed config; relative paths are taken from ``base_dir``."""
    for name, value in d.items():
        if name not in SECTIONS:
            raise ConfigError(name, "...", "sections " + ", ".join(SECTIONS))
        if not isinstance(value, Mapping):
            raise ConfigError(name, value, "a table ([" + name + "])")
    base = base_dir or Path.cwd()

    def sec(name: str) -> Mapping[str, Any]:
        return d.get(name, {})

    session_raw = dict(sec("session"))
    for key in ("data_dir", "advice_path"):
        if isinstance(session_raw.get(key), str) and not Path(session_raw[key]).is_absolute():
            session_raw[key] = str((base / session_raw[key]).resolve())
    runner_raw = dict(sec("runner"))
    if isinstance(runner_raw.get("cue_templates_dir"), str):
        p = Path(runner_raw["cue_templates_dir"])
        runner_raw["cue_templates_dir"] = str(p if p.is_absolute() else base / p)
    runner = RunnerProfile.from_dict(runner_raw, "runner")
    session = SessionSettings.from_dict(session_raw, "session") if "session" in d else None
    # What `run` reads at start or at the end of a session is read here too, so that
    # `config check` catches every file `run` would reject (cue wording, advice).
    CueTemplates.load(runner.language, runner.cue_templates_dir)
    AdviceBook.load(session.advice_path if session is not None else DEFAULT_ADVICE_PATH)
    mqtt = MqttSettings.from_dict(with_password_env(sec("mqtt")), "mqtt")
    return ServiceConfig(
        runner=runner,
        coach=CoachSettings.from_dict(sec("coach"), "coach"),
        mqtt=mqtt,
        link=_link(sec("link")),
        gait=_gait(sec("gait")),
        session=session,
        service=section_from_dict(ServiceSettings, sec("service"), "service"),
        dashboard=DashboardSettings.from_dict(
            sec("dashboard"), "dashboard", base, mqtt.host, mqtt.tls
        ),
        source=source or "<dict>",
    )


def load_config(path: str | Path | None = None) -> ServiceConfig:
    """Read and validate a config file (``config/gaitcoach.toml`` when it exists, else the
    built-in defaults)."""
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return config_from_dict({}, source="<defaults>")
        path = DEFAULT_CONFIG
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--config", str(p), "an existing TOML file") from None
    except IsADirectoryError:
        raise ConfigError("--config", str(p), "a TOML file, not a directory") from None
    except OSError as exc:
        raise ConfigError("--config", str(p), f"a readable TOML file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError("--config", str(p), "a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "TOML", f"valid TOML ({exc})") from None
    cfg = config_from_dict(raw, p.parent.resolve(), str(p))
    mqtt = raw.get("mqtt")
    warning = secret_file_warning(p, mqtt) if isinstance(mqtt, Mapping) else None
    return dataclasses.replace(cfg, warnings=(warning,)) if warning else cfg
