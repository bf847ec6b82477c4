"""The ``[mqtt]`` config section: where the broker is and how to talk to it."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Strict

from gaitcoach.configmodel import (
    SECTION_CONFIG,
    Bool,
    Str,
    existing_files,
    must,
    ranged,
    section_from_dict,
    text_pattern,
)
from gaitcoach.errors import Problem

PATH_KEYS = ("ca_file", "cert_file", "key_file")
"""The [mqtt] keys that are files: relative ones are taken from the config file's folder
(:func:`~gaitcoach.configmodel.resolve_paths`), as in every other section."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Broker connection, TLS, credentials, reconnect and queue limits.

    ``host`` left empty means "no broker": the service coaches in its live view only. A
    configured broker is the only one: when it is down the service retries with backoff and
    reports the degraded state; it never falls back to another (the embedded amqtt broker is
    started by the demo and the tests, not by the service).
    """

    __pydantic_config__ = SECTION_CONFIG

    host: Str = ""
    port: Annotated[int, Strict(), ranged(0, 65535)] = 1883
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    """"auto": MQTT v5, falling back to 3.1.1 when the broker refuses v5 or never answers."""
    topic_prefix: Annotated[
        str, Strict(), text_pattern(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", "like gaitcoach")
    ] = "gaitcoach"
    client_id: Annotated[str, Strict(), text_pattern(r"[A-Za-z0-9_.-]{0,64}", "0-64 id chars")] = ""
    """Empty: ``gaitcoach-<runner>``."""
    username: Str | None = None
    password: Str | None = None
    tls: Bool = False
    ca_file: Str | None = None
    """CA certificates to verify the broker (system CAs when left out)."""
    cert_file: Str | None = None
    key_file: Str | None = None
    keepalive_s: Annotated[int, Strict(), ranged(5, 3600)] = 30
    connect_timeout_s: Annotated[float, Strict(), ranged(0.1, 60.0)] = 3.0
    """A broker that accepts TCP but sends no CONNACK within this time is retried (auto
    protocol: with 3.1.1)."""
    reconnect_min_s: Annotated[float, Strict(), ranged(0.01, 60.0)] = 0.1
    reconnect_max_s: Annotated[float, Strict(), ranged(0.01, 600.0)] = 2.0
    queue_max: Annotated[int, Strict(), ranged(1, 100000)] = 200
    """Messages kept while the broker is away (stale cues are dropped first when full)."""
    metrics_max_age_s: Annotated[float, Strict(), ranged(0.1, 60.0)] = 2.0
    """Queued metrics and strides older than this are dropped instead of sent late."""
    publish_strides: Bool = False
    homeassistant_discovery: Bool = False
    """Announce the runner's sensors to Home Assistant (gaitcoach.mqtt.homeassistant)."""
    homeassistant_prefix: Annotated[
        str, Strict(), text_pattern(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", "like homeassistant")
    ] = "homeassistant"
    """Home Assistant's discovery prefix (its MQTT integration's setting)."""
    stride_qos: Annotated[int, Strict(), ranged(0, 1)] = 0
    """1 when a team hub stores the strides (docs/hub.md): at least once to the broker."""
    stride_max_age_s: Annotated[float, Strict(), ranged(1.0, 86400.0)] = 600.0
    """With ``stride_qos = 1``: a stride not delivered within this time is dropped (and the
    message expires at the broker); ``gaitcoach sync`` uploads the finished session instead."""
    embedded: Literal["never"] = "never"
    """Kept so that older configs load: "auto" and "always" (a silent fall back to an
    anonymous plaintext broker) are refused; ``./run demo`` starts the embedded broker."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "mqtt") -> MqttSettings:
        return section_from_dict(cls, d, prefix)

    def problems(self, prefix: str) -> list[Problem]:
        out = [
            *must(
                self.reconnect_max_s >= self.reconnect_min_s,
                prefix,
                "reconnect_max_s",
                self.reconnect_max_s,
                ">= reconnect_min_s",
            ),
            *must(
                (self.username is None) == (self.password is None),
                prefix,
                "password",
                "***",
                "username and password together",
            ),
            *must(
                (self.cert_file is None) == (self.key_file is None),
                prefix,
                "key_file",
                self.key_file,
                "cert_file and key_file together",
            ),
            *must(
                not ((self.ca_file or self.cert_file) and not self.tls),
                prefix,
                "tls",
                self.tls,
                "true when ca_file or cert_file is set",
            ),
        ]
        return out + existing_files(self, prefix, PATH_KEYS)

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
