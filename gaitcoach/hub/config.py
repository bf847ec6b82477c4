"""The hub's config file (``config/hub.toml``): ``[mqtt]`` (the broker, as for the service:
:class:`~gaitcoach.mqtt.config.MqttSettings`) and ``[hub]`` (database and ingest tuning).

Secrets stay out of the file: the MQTT password comes from ``GAITCOACH_MQTT_PASSWORD``, the
database password from libpq's own ``PGPASSWORD`` (or ``~/.pgpass``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaitcoach.coach.configfields import bounded, pattern, section_from_dict
from gaitcoach.errors import ConfigError
from gaitcoach.mqtt.config import MqttSettings, with_password_env

GROUP_RE = r"[A-Za-z0-9_-]{1,48}"


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Where the database is and how the ingest workers batch."""

    dsn: str = ""
    """libpq connection string, e.g. ``host=db.local dbname=gaitcoach user=gaitcoach_ingest``
    (no password here: ``PGPASSWORD`` or ``~/.pgpass``)."""
    group: str = field(default="gaitcoach-ingest", metadata=pattern(GROUP_RE, "1-48 id chars"))
    """Shared-subscription group (``$share/<group>/...``); the workers' client ids are
    ``<group>-<slot>``."""
    batch_rows: int = field(default=500, metadata=bounded(1, 10000))
    """Messages per transaction at most."""
    batch_max_s: float = field(default=0.05, metadata=bounded(0.001, 5.0))
    """A batch is committed at the latest this long after its first message."""
    receive_max: int = field(default=2000, metadata=bounded(1, 65535))
    """MQTT v5 receive maximum: unacknowledged QoS 1 messages the broker may send a worker.
    Messages are acknowledged after their transaction commits, so this bounds what a crash
    leaves for redelivery and what a slow database lets pile up in a worker."""
    session_expiry_s: int = field(default=86400, metadata=bounded(60, 2**31))
    """How long the broker keeps a crashed worker's session (its unacknowledged and queued
    messages) for the worker's restart (the supervisor restarts it within seconds)."""
    stats_interval_s: float = field(default=10.0, metadata=bounded(0.1, 3600.0))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "hub") -> HubSettings:
        s = section_from_dict(cls, d, prefix)
        if "password=" in s.dsn.replace(" ", ""):
            raise ConfigError(f"{prefix}.dsn", "***", "a connection string without password")
        return s


@dataclass(frozen=True, slots=True)
class HubConfig:
    mqtt: MqttSettings
    hub: HubSettings


def load_hub_config(path: str | Path | None) -> HubConfig:
    """Read ``[mqtt]`` and ``[hub]`` (both optional; every error one line)."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError("--config", str(p), "an existing TOML file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(p), "TOML", f"valid TOML ({exc})") from None
    for name in raw:
        if name not in ("mqtt", "hub"):
            raise ConfigError(name, "...", "sections mqtt, hub")
    mqtt = MqttSettings.from_dict(with_password_env(raw.get("mqtt", {})), "mqtt")
    return HubConfig(mqtt, HubSettings.from_dict(raw.get("hub", {})))


def override(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` with the changes that are not None (command-line flags)."""
    return dataclasses.replace(obj, **{k: v for k, v in changes.items() if v is not None})
