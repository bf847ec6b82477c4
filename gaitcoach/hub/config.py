"""The hub's config file (example: ``gaitcoach/data/examples/hub.toml``): ``[mqtt]`` (the
broker, as for the service: :class:`~gaitcoach.mqtt.config.MqttSettings`) and ``[hub]``
(database and ingest tuning).

Secrets stay out of the file: the MQTT password comes from ``GAITCOACH_MQTT_PASSWORD``, the
database password from libpq's own ``PGPASSWORD`` (or ``~/.pgpass``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Strict

from gaitcoach.configmodel import (
    SECTION_CONFIG,
    Str,
    must,
    ranged,
    read_toml,
    resolve_paths,
    section_from_dict,
    text_pattern,
    unknown_sections,
    validate_section,
)
from gaitcoach.errors import ConfigError, Problem
from gaitcoach.mqtt.config import PATH_KEYS as MQTT_PATH_KEYS
from gaitcoach.mqtt.config import MqttSettings, with_password_env

GROUP_RE = r"[A-Za-z0-9_-]{1,48}"


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Where the database is and how the ingest workers batch."""

    __pydantic_config__ = SECTION_CONFIG

    dsn: Str = ""
    """libpq connection string, e.g. ``host=db.local dbname=gaitcoach user=gaitcoach_ingest``
    (no password here: ``PGPASSWORD`` or ``~/.pgpass``)."""
    group: Annotated[str, Strict(), text_pattern(GROUP_RE, "1-48 id chars")] = "gaitcoach-ingest"
    """Shared-subscription group (``$share/<group>/...``); the workers' client ids are
    ``<group>-<slot>``."""
    batch_rows: Annotated[int, Strict(), ranged(1, 10000)] = 500
    """Messages per transaction at most."""
    batch_max_s: Annotated[float, Strict(), ranged(0.001, 5.0)] = 0.05
    """A batch is committed at the latest this long after its first message."""
    receive_max: Annotated[int, Strict(), ranged(1, 65535)] = 2000
    """MQTT v5 receive maximum: unacknowledged QoS 1 messages the broker may send a worker.
    Messages are acknowledged after their transaction commits, so this bounds what a crash
    leaves for redelivery and what a slow database lets pile up in a worker."""
    session_expiry_s: Annotated[int, Strict(), ranged(60, 2**31)] = 86400
    """How long the broker keeps a crashed worker's session (its unacknowledged and queued
    messages) for the worker's restart (the supervisor restarts it within seconds)."""
    stats_interval_s: Annotated[float, Strict(), ranged(0.1, 3600.0)] = 10.0

    @classmethod
    def from_dict(cls, d: Any, prefix: str = "hub") -> HubSettings:
        return section_from_dict(cls, d, prefix)

    def problems(self, prefix: str) -> list[Problem]:
        return must(
            "password=" not in self.dsn.replace(" ", ""),
            prefix,
            "dsn",
            "***",
            "a connection string without password",
        )


@dataclass(frozen=True, slots=True)
class HubConfig:
    mqtt: MqttSettings
    hub: HubSettings


def load_hub_config(path: str | Path | None) -> HubConfig:
    """Read ``[mqtt]`` and ``[hub]`` (both optional; every problem at once, one line each)."""
    raw = {} if path is None else read_toml(Path(path))
    problems = unknown_sections(raw, ("mqtt", "hub"))
    base = Path.cwd() if path is None else Path(path).parent
    mqtt_raw = resolve_paths(raw.get("mqtt", {}), MQTT_PATH_KEYS, base)
    mqtt, found = validate_section(
        MqttSettings,
        with_password_env(mqtt_raw) if isinstance(mqtt_raw, dict) else mqtt_raw,
        "mqtt",
    )
    problems += found
    hub, found = validate_section(HubSettings, raw.get("hub", {}), "hub")
    problems += found
    if problems or mqtt is None or hub is None:
        raise ConfigError.of(problems)
    return HubConfig(mqtt, hub)


def override(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` with the changes that are not None (command-line flags)."""
    return dataclasses.replace(obj, **{k: v for k, v in changes.items() if v is not None})
