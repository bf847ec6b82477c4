"""The ``[dashboard]`` config section (off by default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gaitcoach.coach.configfields import bounded, pattern, section_from_dict
from gaitcoach.errors import ConfigError

WS_PORT = 9001
"""The websockets listener of config/mosquitto/local.conf (plain ws)."""
WSS_PORT = 8884
"""The websockets listener of config/mosquitto/tls-acl.conf (wss)."""


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """The page's small static server in ``gaitcoach run`` and where the page finds the broker.

    The page talks MQTT over WebSockets to ``broker_url`` (a websockets listener of the
    broker, see config/mosquitto/); the service only serves the page's files.
    """

    enabled: bool = False
    host: str = field(default="127.0.0.1", metadata=pattern(r"[A-Za-z0-9.:-]{1,253}", "an address"))
    """Listen address: 127.0.0.1 for a browser on this machine, 0.0.0.0 for phones."""
    port: int = field(default=8080, metadata=bounded(0, 65535))
    broker_url: str = field(
        default="",
        metadata=pattern(
            r"(wss?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?)?", "ws(s)://host:port/mqtt"
        ),
    )
    """The broker's MQTT-over-WebSockets address as browsers reach it. Empty: the [mqtt] host
    on the example listeners, ``ws://<host>:9001/mqtt`` (``wss://<host>:8884/mqtt`` with TLS)."""
    cert_file: str | None = None
    """Serve https (phones on a network: the page carries a password form). The broker must
    then be ``wss://`` (browsers refuse ws from an https page)."""
    key_file: str | None = None

    @classmethod
    def from_dict(
        cls,
        d: Mapping[str, Any],
        prefix: str = "dashboard",
        base_dir: Path | None = None,
        mqtt_host: str = "",
        mqtt_tls: bool = False,
    ) -> DashboardSettings:
        raw = dict(d)
        for key in ("cert_file", "key_file"):
            if isinstance(raw.get(key), str) and base_dir is not None:
                p = Path(raw[key])
                raw[key] = str(p if p.is_absolute() else base_dir / p)
        s = section_from_dict(cls, raw, prefix)
        if (s.cert_file is None) != (s.key_file is None):
            raise ConfigError(f"{prefix}.key_file", s.key_file, "cert_file and key_file together")
        for key in ("cert_file", "key_file"):
            value = getattr(s, key)
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"{prefix}.{key}", value, "an existing file")
        if not s.broker_url and mqtt_host:
            scheme, port = ("wss", WSS_PORT) if mqtt_tls else ("ws", WS_PORT)
            s = replace(s, broker_url=f"{scheme}://{mqtt_host}:{port}/mqtt")
        if s.enabled and not s.broker_url:
            raise ConfigError(f"{prefix}.broker_url", s.broker_url, "ws(s)://host:port/mqtt")
        if s.tls and s.broker_url.startswith("ws://"):
            raise ConfigError(
                f"{prefix}.broker_url", s.broker_url, "wss://... (an https page cannot use ws)"
            )
        return s

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    @property
    def broker_origin(self) -> str:
        """``scheme://host:port`` of the broker (the page's CSP allows connecting there)."""
        parts = urlsplit(self.broker_url)
        return f"{parts.scheme}://{parts.netloc}"
