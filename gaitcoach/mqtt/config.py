"""The ``[mqtt]`` config section: where the broker is and how to talk to it."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaitcoach.coach.configfields import bounded, choice, pattern, section_from_dict
from gaitcoach.errors import ConfigError


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Broker connection, TLS, credentials, reconnect and queue limits.

    ``host`` left empty means "no broker": the service coaches in its live view only. A
    configured broker is the only one: when it is down the service retries with backoff and
    reports the degraded state; it never falls back to another (the embedded amqtt broker is
    started by the demo and the tests, not by the service).
    """

    host: str = ""
    port: int = field(default=1883, metadata=bounded(0, 65535))
    protocol: str = field(default="auto", metadata=choice("auto", "5", "3.1.1"))
    """"auto": MQTT v5, falling back to 3.1.1 when the broker refuses v5 or never answers."""
    topic_prefix: str = field(
        default="gaitcoach", metadata=pattern(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", "like gaitcoach")
    )
    client_id: str = field(default="", metadata=pattern(r"[A-Za-z0-9_.-]{0,64}", "0-64 id chars"))
    """Empty: ``gaitcoach-<runner>``."""
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    """CA certificates to verify the broker (system CAs when left out)."""
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: int = field(default=30, metadata=bounded(5, 3600))
    connect_timeout_s: float = field(default=3.0, metadata=bounded(0.1, 60.0))
    """A broker that accepts TCP but sends no CONNACK within this time is retried (auto
    protocol: with 3.1.1)."""
    reconnect_min_s: float = field(default=0.1, metadata=bounded(0.01, 60.0))
    reconnect_max_s: float = field(default=2.0, metadata=bounded(0.01, 600.0))
    queue_max: int = field(default=200, metadata=bounded(1, 100000))
    """Messages kept while the broker is away (stale cues are dropped first when full)."""
    metrics_max_age_s: float = field(default=2.0, metadata=bounded(0.1, 60.0))
    """Queued metrics and strides older than this are dropped instead of sent late."""
    publish_strides: bool = False
    stride_qos: int = field(default=0, metadata=bounded(0, 1))
    """1 when a team hub stores the strides (docs/hub.md): at least once to the broker."""
    stride_max_age_s: float = field(default=600.0, metadata=bounded(1.0, 86400.0))
    """With ``stride_qos = 1``: a stride not delivered within this time is dropped (and the
    message expires at the broker); ``gaitcoach sync`` uploads the finished session instead."""
    embedded: str = field(default="never", metadata=choice("never"))
    """Kept so that older configs load: "auto" and "always" (a silent fall back to an
    anonymous plaintext broker) are refused; ``./run demo`` starts the embedded broker."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "mqtt") -> MqttSettings:
        s = section_from_dict(cls, d, prefix)
        if s.reconnect_max_s < s.reconnect_min_s:
            raise ConfigError(f"{prefix}.reconnect_max_s", s.reconnect_max_s, ">= reconnect_min_s")
        if (s.username is None) != (s.password is None):
            raise ConfigError(f"{prefix}.password", "***", "username and password together")
        if (s.cert_file is None) != (s.key_file is None):
            raise ConfigError(f"{prefix}.key_file", s.key_file, "cert_file and key_file together")
        if (s.ca_file or s.cert_file) and not s.tls:
            raise ConfigError(f"{prefix}.tls", s.tls, "true when ca_file or cert_file is set")
        for key in ("ca_file", "cert_file", "key_file"):
            value = getattr(s, key)
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"{prefix}.{key}", value, "an existing file")
        return s

    @property
    def configured(self) -> bool:
        return bool(self.host)


PASSWORD_ENV = "GAITCOACH_MQTT_PASSWORD"
"""The MQTT password from the environment instead of a file or the command line (argv is
visible to every user in ``ps``)."""


def with_password_env(
    section: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``[mqtt]`` table with the password from :data:`PASSWORD_ENV` when that is set and a
    username is configured (the environment wins over the file)."""
    env = os.environ if env is None else env
    out = dict(section)
    password = env.get(PASSWORD_ENV)
    if password and out.get("username") is not None:
        out["password"] = password
    return out


def secret_file_warning(path: Path, section: Mapping[str, Any]) -> str | None:
    """A warning when ``path`` holds an MQTT password and others may read or change it."""
    if section.get("password") is None:
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o066:
        return None
    return (
        f"{path} holds the MQTT password and other users can read or change it "
        f"(mode {mode:o}): chmod 600 {path}, or leave the password out and set {PASSWORD_ENV}"
    )
