"""The dashboard's accounts on the example TLS broker (tls-acl.conf + acl in
gaitcoach/data/examples/mosquitto):
over secure WebSockets a runner's dashboard account reads only that runner's tree and writes
only its commands, the coach's account only reads; the page, served over https by gaitcoach's
server, works there after signing in."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gaitcoach.dashboard import WWW, DashboardSettings
from gaitcoach.mqtt import MqttPublisher
from gaitcoach.types import Activity, GaitMetrics
from tests.dashboard.browser import PageErrors, browser, require_browser, serving, wait_js
from tests.dashboard.test_page import _run_in_thread
from tests.mqtt.broker import TlsFiles, free_port
from tests.mqtt.test_examples import ExampleBroker, account, tls_acl_example


class WssClient:
    """paho over wss as one account: what it receives, and how the broker answered its
    publishes (MQTT v5 PUBACK reason codes: 'Not authorized' for what the ACL forbids)."""

    def __init__(self, port: int, tls: TlsFiles, user: str, topics: list[str]) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.acks: dict[int, str] = {}
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            protocol=MQTTProtocolVersion.MQTTv5,
            transport="websockets",
        )
        self.client.ws_set_options(path="/mqtt")
        self.client.tls_set(ca_certs=str(tls.ca_cert))
        self.client.username_pw_set(user, f"{user}-pw")
        self.topics = topics
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client.on_publish = lambda c, u, mid, rc, props: self.acks.__setitem__(mid, str(rc))
        self.client.connect("localhost", port, 30)
        self.client.loop_start()
        assert self.connected.wait(10) and self.subscribed.wait(10), user

    def _on_connect(self, c: paho.Client, u: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            c.subscribe([(t, 1) for t in self.topics])
            self.connected.set()

    def publish(self, topic: str, payload: bytes) -> str:
        info = self.client.publish(topic, payload, 1)
        deadline = time.monotonic() + 5
        while info.mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.acks.get(info.mid, "no ack")

    def topics_seen(self) -> set[str]:
        return {t for t, _ in self.messages}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def example(tmp_path: Path, tls_files: TlsFiles) -> Iterator[ExampleBroker]:
    require_browser()
    ws_port = free_port()
    broker = tls_acl_example(tmp_path, tls_files, ws_port)
    broker.ws_port = ws_port
    with broker:
        yield broker


def _https(port: int, tls: TlsFiles, path: str) -> tuple[bytes, dict[str, str]]:
    context = ssl.create_default_context(cafile=str(tls.ca_cert))
    with urllib.request.urlopen(f"https://localhost:{port}{path}", context=context) as r:
        return bytes(r.read()), dict(r.headers)


async def _services(example: ExampleBroker, tls: TlsFiles) -> tuple[MqttPublisher, MqttPublisher]:
    alice = MqttPublisher(
        account(example, tls, "gaitcoach-alice"), "alice", command_handler=lambda c: {"ok": 1}
    )
    bob = MqttPublisher(account(example, tls, "gaitcoach-bob"), "bob")
    for svc in (alice, bob):
        await svc.__aenter__()
        assert await svc.connection.wait_subscribed(5.0)
    return alice, bob


def _metrics(svc: MqttPublisher) -> None:
    svc.publish_metrics(GaitMetrics(time.time(), Activity.RUNNING, 20, cadence_spm=170.0))


async def test_dashboard_and_coach_accounts_over_wss(
    example: ExampleBroker, tls_files: TlsFiles
) -> None:
    alice_svc, bob_svc = await _services(example, tls_files)
    dash = coach = None
    try:
        dash = WssClient(example.ws_port, tls_files, "alice-dashboard",
                         ["gaitcoach/alice/#", "gaitcoach/bob/#"])  # fmt: skip
        coach = WssClient(example.ws_port, tls_files, "coach",
                          ["gaitcoach/+/status", "gaitcoach/+/metrics", "gaitcoach/+/reply/#",
                           "gaitcoach/+/cmd/#"])  # fmt: skip
        for svc in (alice_svc, bob_svc):
            _metrics(svc)
        await asyncio.sleep(0.5)
        # Reads: alice's tree only; the coach reads status and metrics of both.
        assert {"gaitcoach/alice/status", "gaitcoach/alice/metrics"} <= dash.topics_seen()
        assert not any(t.startswith("gaitcoach/bob/") for t in dash.topics_seen())
        assert {
            "gaitcoach/alice/status", "gaitcoach/bob/status",
            "gaitcoach/alice/metrics", "gaitcoach/bob/metrics",
        } <= coach.topics_seen()  # fmt: skip
        # Writes: alice's commands only, answered by alice's service; nothing else.
        ok = dash.publish("gaitcoach/alice/cmd/mute", b'{"id": "m1", "duration_s": 60}')
        assert ok == "Success"
        for topic in ("gaitcoach/alice/cue", "gaitcoach/alice/status", "gaitcoach/bob/cmd/stop",
                      "gaitcoach/alice/reply"):  # fmt: skip
            assert dash.publish(topic, b"{}") == "Not authorized", topic
        for topic in ("gaitcoach/alice/cmd/stop", "gaitcoach/bob/cmd/stop", "gaitcoach/x/cue"):
            assert coach.publish(topic, b"{}") == "Not authorized", topic
        await asyncio.sleep(0.5)
        replies = [json.loads(p) for t, p in dash.messages if t == "gaitcoach/alice/reply"]
        assert [(r["id"], r["ok"]) for r in replies] == [("m1", True)]
        assert len(alice_svc.handled_commands_) == 1 and not bob_svc.handled_commands_
        # The coach reads no commands and no replies.
        assert not any("/cmd/" in t or "/reply" in t for t in coach.topics_seen())
        # The page over https + wss: anonymous is refused, it asks to sign in, then works.
        settings = DashboardSettings(
            enabled=True,
            host="localhost",
            port=0,
            broker_url=f"wss://localhost:{example.ws_port}/mqtt",
            cert_file=str(tls_files.server_cert),
            key_file=str(tls_files.server_key),
        )
        await _run_in_thread(_page_over_wss, settings, tls_files)
        assert len(alice_svc.handled_commands_) == 2
    finally:
        for c in (dash, coach):
            if c is not None:
                c.close()
        for svc in (alice_svc, bob_svc):
            await svc.close()


def _page_over_wss(settings: DashboardSettings, tls: TlsFiles) -> None:
    # The test CA is not in Chromium's store: certificate errors are ignored in the browser
    # (the connections are still TLS: https for the page, wss for MQTT); urllib checks them.
    with serving(settings, "alice") as server, browser(390, 844, ignore_https_errors=True) as ctx:
        body, headers = _https(server.port, tls, "/")
        assert body == (WWW / "index.html").read_bytes()
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert f"connect-src 'self' {settings.broker_origin};" in headers["Content-Security-Policy"]
        body, headers = _https(server.port, tls, "/mqtt.min.js")
        assert body.startswith(b'"use strict"')
        assert headers["Content-Type"].startswith("text/javascript")
        page = ctx.new_page()
        errors = PageErrors(page)
        page.goto(f"{server.url}?runner=alice")
        wait_js(page, "!document.querySelector('#login').hidden")
        assert page.evaluate("GC.client.options.protocol") == "wss"
        page.fill("#login [name=username]", "alice-dashboard")
        page.fill("#login [name=password]", "alice-dashboard-pw")
        page.click("#login button[type=submit]")
        wait_js(page, "document.querySelector('#conn').dataset.state === 'connected'")
        wait_js(page, "document.querySelector('#service').dataset.online === 'true'")
        page.click("#scores button[data-score='2']")
        wait_js(page, "document.querySelector('#reply').dataset.ok === 'true'")
        unexpected = [e for e in errors.errors if "WebSocket" not in e]
        assert unexpected == [], unexpected
