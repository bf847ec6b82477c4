"""The ``[dashboard]`` config section (off by default)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Strict

from gaitcoach.configmodel import (
    SECTION_CONFIG,
    Bool,
    Str,
    existing_files,
    must,
    ranged,
    text_pattern,
)
from gaitcoach.errors import Problem

WS_PORT = 9001
"""The websockets listener of the example local.conf (plain ws)."""
WSS_PORT = 8884
"""The websockets listener of the example tls-acl.conf (wss)."""


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """The page's small static server in ``gaitcoach run`` and where the page finds the broker.

    The page talks MQTT over WebSockets to ``broker_url`` (a websockets listener of the
    broker, see the example Mosquitto configs); the service only serves the page's files.
    """

    __pydantic_config__ = SECTION_CONFIG

    enabled: Bool = False
    host: Annotated[str, Strict(), text_pattern(r"[A-Za-z0-9.:-]{1,253}", "an address")] = (
        "127.0.0.1"
    )
    """Listen address: 127.0.0.1 for a browser on this machine, 0.0.0.0 for phones."""
    port: Annotated[int, Strict(), ranged(0, 65535)] = 8080
    broker_url: Annotated[
        str,
        Strict(),
        text_pattern(
            r"(wss?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?)?", "ws(s)://host:port/mqtt"
        ),
    ] = ""
    """The broker's MQTT-over-WebSockets address as browsers reach it. Empty: the [mqtt] host
    on the example listeners, ``ws://<host>:9001/mqtt`` (``wss://<host>:8884/mqtt`` with TLS)."""
    cert_file: Str | None = None
    """Serve https (phones on a network: the page carries a password form). The broker must
    then be ``wss://`` (browsers refuse ws from an https page)."""
    key_file: Str | None = None

    def problems(self, prefix: str) -> list[Problem]:
        return must(
            (self.cert_file is None) == (self.key_file is None),
            prefix,
            "key_file",
            self.key_file,
            "cert_file and key_file together",
        ) + existing_files(self, prefix, ("cert_file", "key_file"))

    def resolved(
        self, mqtt_host: str, mqtt_tls: bool, prefix: str = "dashboard"
    ) -> tuple[DashboardSettings, list[Problem]]:
        """The broker address filled in from ``[mqtt]`` when left out, and the checks that
        need it."""
        s = self
        if not s.broker_url and mqtt_host:
            scheme, port = ("wss", WSS_PORT) if mqtt_tls else ("ws", WS_PORT)
            s = replace(s, broker_url=f"{scheme}://{mqtt_host}:{port}/mqtt")
        found = must(
            not (s.enabled and not s.broker_url),
            prefix,
            "broker_url",
            s.broker_url,
            "ws(s)://host:port/mqtt",
        ) + must(
            not (s.tls and s.broker_url.startswith("ws://")),
            prefix,
            "broker_url",
            s.broker_url,
            "wss://... (an https page cannot use ws)",
        )
        return s, found

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    @property
    def broker_origin(self) -> str:
        """``scheme://host:port`` of the broker (the page's CSP allows connecting there)."""
        parts = urlsplit(self.broker_url)
        return f"{parts.scheme}://{parts.netloc}"
