"""``gaitcoach.toml``: one file, one typed section per stage, every problem reported at once.

Sections: ``[runner]`` and ``[coach]`` (gaitcoach.coach), ``[mqtt]`` (gaitcoach.mqtt),
``[link]`` with ``[[link.pods]]`` (gaitcoach.link), ``[gait]`` (gaitcoach.gait),
``[session]`` (gaitcoach.session) and ``[service]`` (this module). Each is a frozen dataclass
validated by :mod:`gaitcoach.configmodel`; unknown sections and keys are errors (with the
likely key), every value out of range names the key, the value and what is allowed, and a
TOML syntax error its line and column. The file is found by :func:`gaitcoach.paths.find_config`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import ConfigDict, Field, Strict, create_model

from gaitcoach.coach import CoachSettings, RunnerProfile
from gaitcoach.coach.templates import CueTemplates
from gaitcoach.configmodel import (
    SECTION_CONFIG,
    Bool,
    ranged,
    read_toml,
    resolve_paths,
    unknown_sections,
    validate_section,
)
from gaitcoach.dashboard.config import DashboardSettings
from gaitcoach.errors import ConfigError, Problem
from gaitcoach.gait import GaitConfig
from gaitcoach.gait.config import _RANGES as GAIT_RANGES
from gaitcoach.jsonenc import jsonable
from gaitcoach.link import LinkConfig
from gaitcoach.mqtt import MqttSettings
from gaitcoach.mqtt.config import PATH_KEYS as MQTT_PATH_KEYS
from gaitcoach.mqtt.config import secret_file_warning, with_password_env
from gaitcoach.paths import find_config
from gaitcoach.session.advice import AdviceBook
from gaitcoach.session.settings import SessionSettings

SECTIONS = ("runner", "coach", "mqtt", "link", "gait", "session", "service", "dashboard")


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """How the service itself runs."""

    __pydantic_config__ = SECTION_CONFIG

    metrics_interval_s: Annotated[float, Strict(), ranged(0.1, 60.0)] = 1.0
    """Rolling metrics are published and the coach ticks this often."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_file: Path | None = None
    """Structured log lines with tracebacks; ``<user state dir>/gaitcoach.log`` when left out."""
    record: Bool = True
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


@cache
def gait_section() -> type[Any]:
    """The ``[gait]`` table's model, from :class:`GaitConfig`'s fields, defaults and
    ``_RANGES`` (the gait engine keeps its own names, defaults and ranges)."""
    hints = get_type_hints(GaitConfig)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(GaitConfig):
        tp = hints[f.name]
        if f.name in GAIT_RANGES:
            lo, hi = GAIT_RANGES[f.name]
            tp = Annotated[tp, Strict(), Field(ge=lo, le=hi)]
        elif tp is bool:
            tp = Bool
        fields[f.name] = (tp, f.default)
    config = ConfigDict(extra="forbid")
    return create_model("GaitSection", __config__=config, **fields)


def gait_from_dict(raw: Any, prefix: str = "gait") -> tuple[GaitConfig | None, list[Problem]]:
    section, found = validate_section(gait_section(), raw, prefix)
    if section is None:
        return None, found
    try:
        return GaitConfig(**section.model_dump()), []
    except ValueError as exc:  # checks between fields (min below max ...)
        text = str(exc).replace("GaitConfig.", f"{prefix}.")
        return None, [Problem(prefix, dict(raw), str(exc), text)]


def config_from_dict(
    d: Mapping[str, Any], base_dir: Path | None = None, source: str = ""
) -> ServiceConfig:
    """Validate a parsed config; relative paths are taken from ``base_dir``. Every problem
    of every section is reported in one :class:`ConfigError`."""
    problems = unknown_sections(d, SECTIONS)
    base = base_dir or Path.cwd()

    def sec(name: str) -> Any:
        return d.get(name, {})

    def section(cls: type[Any], name: str, raw: Any) -> Any:
        obj, found = validate_section(cls, raw, name)
        problems.extend(found)
        return obj

    runner_raw = resolve_paths(sec("runner"), ("cue_templates_dir",), base)
    session_raw = resolve_paths(sec("session"), ("data_dir", "advice_path"), base)
    service_raw = resolve_paths(sec("service"), ("log_file",), base)
    dashboard_raw = resolve_paths(sec("dashboard"), ("cert_file", "key_file"), base)
    mqtt_raw = resolve_paths(sec("mqtt"), MQTT_PATH_KEYS, base)
    if isinstance(mqtt_raw, Mapping):
        mqtt_raw = with_password_env(mqtt_raw)
    runner = section(RunnerProfile, "runner", runner_raw)
    coach = section(CoachSettings, "coach", sec("coach"))
    mqtt = section(MqttSettings, "mqtt", mqtt_raw)
    link = section(LinkConfig, "link", sec("link"))
    gait, found = gait_from_dict(sec("gait"))
    problems.extend(found)
    session = section(SessionSettings, "session", session_raw) if "session" in d else None
    service = section(ServiceSettings, "service", service_raw)
    dashboard = section(DashboardSettings, "dashboard", dashboard_raw)
    if dashboard is not None and mqtt is not None:
        dashboard, found = dashboard.resolved(mqtt.host, mqtt.tls)
        problems.extend(found)
    # What `run` reads at start or at the end of a session is read here too, so that
    # `config check` catches every file `run` would reject (cue wording, advice).
    if runner is not None:
        try:
            CueTemplates.load(runner.language, runner.cue_templates_dir)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if session is not None or "session" not in d:
        try:
            AdviceBook.load(session.advice_path if session is not None else None)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError.of(problems)
    return ServiceConfig(
        runner=runner,
        coach=coach,
        mqtt=mqtt,
        link=link,
        gait=gait or GaitConfig(),
        session=session,
        service=service,
        dashboard=dashboard or DashboardSettings(),
        source=source or "<dict>",
    )


ANALYSIS_SECTIONS = ("runner", "coach", "gait")
"""The sections that decide what the analysis makes of the samples (:class:`Pipeline`)."""


def config_record(config: ServiceConfig) -> dict[str, Any]:
    """The effective configuration as plain JSON, stored with each session (never secrets),
    so that a replay rebuilds exactly what ran (:func:`config_from_record`)."""
    out = {
        name: jsonable(getattr(config, name)) for name in (*SECTIONS, "source") if name != "session"
    }
    out["session"] = jsonable(config.session_settings())
    for key in ("password", "username"):
        out["mqtt"].pop(key, None)  # never store secrets with the session
    return out


RECORD_SECTIONS = (*ANALYSIS_SECTIONS, "link")
"""What :func:`config_from_record` reads back: the analysis, and ``[link]`` for the pods'
rate (the samples a session should have had)."""


def config_from_record(
    record: Mapping[str, Any], leg_length_m: float | None = None
) -> ServiceConfig:
    """The analysis part of a stored configuration (``[runner]``, ``[coach]``, ``[gait]``) and
    its ``[link]``; sections a session did not record (imported recordings, older sessions)
    take their defaults, with the session's leg length. :class:`ConfigError` when it cannot
    be rebuilt."""
    raw = {k: record[k] for k in RECORD_SECTIONS if isinstance(record.get(k), Mapping)}
    if "runner" not in raw and leg_length_m is not None:
        raw["runner"] = {"leg_length_m": leg_length_m}
    return config_from_dict(raw, source="<recorded>")


def recorded_config(record: Mapping[str, Any], leg_length_m: float | None = None) -> ServiceConfig:
    """:func:`config_from_record`, else the defaults (an old or foreign record): what a
    session's summary and its cadence target are read with, whatever its record."""
    try:
        return config_from_record(record, leg_length_m)
    except ConfigError:
        return ServiceConfig()


def load_config(path: str | Path | None = None) -> ServiceConfig:
    """Read and validate the config: ``path`` (``--config``), else ``$GAITCOACH_CONFIG``,
    else the user's ``gaitcoach.toml``, else the built-in defaults."""
    where = find_config(path)
    if where.path is None:
        return config_from_dict({}, source="<defaults>")
    p = where.path
    raw = read_toml(p, where.how)
    cfg = config_from_dict(raw, p.parent.resolve(), str(p))
    mqtt = raw.get("mqtt")
    warning = secret_file_warning(p, mqtt) if isinstance(mqtt, Mapping) else None
    return dataclasses.replace(cfg, warnings=(warning,)) if warning else cfg
