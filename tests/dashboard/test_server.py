"""The dashboard's static server and its config: only the page's own files, with types and a
CSP naming the broker; bad requests answered or dropped; the [dashboard] section's rules."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gaitcoach.dashboard import WWW, DashboardError, DashboardServer, DashboardSettings
from gaitcoach.dashboard.server import MAX_CONNECTIONS
from gaitcoach.errors import ConfigError
from gaitcoach.service.config import config_from_dict
from tests.dashboard.browser import require_browser
from tests.mqtt.broker import make_tls_files

SETTINGS = DashboardSettings(enabled=True, port=0, broker_url="ws://127.0.0.1:9001/mqtt")


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


async def test_serves_only_the_page_with_types_and_policy() -> None:
    require_browser()
    server = DashboardServer(SETTINGS, "alice", "gaitcoach")
    await server.start()
    try:
        ok = await _raw(server.port, b"GET /?runner=bob HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = ok.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK") and body == (WWW / "index.html").read_bytes()
        assert b"Content-Type: text/html; charset=utf-8" in head
        assert b"connect-src 'self' ws://127.0.0.1:9001;" in head
        assert b"X-Content-Type-Options: nosniff" in head and b"frame-ancestors 'none'" in head
        cfg = (await _raw(server.port, b"GET /config.json HTTP/1.1\r\n\r\n")).split(b"\r\n\r\n")[1]
        assert json.loads(cfg) == {"broker_url": "ws://127.0.0.1:9001/mqtt", "runner": "alice",
                                   "prefix": "gaitcoach"}  # fmt: skip
        js = await _raw(server.port, b"HEAD /runner.js HTTP/1.1\r\n\r\n")
        assert js.startswith(b"HTTP/1.1 200") and js.endswith(b"\r\n\r\n")  # no body
        assert b"Content-Type: text/javascript" in js
        for path in (b"/../../etc/passwd", b"/%2e%2e/etc/passwd", b"/www/index.html",
                     b"/manifest.json/..", b"//etc/passwd", b"/index.html%00.js"):  # fmt: skip
            answer = await _raw(server.port, b"GET " + path + b" HTTP/1.1\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 404"), path
        post = await _raw(server.port, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert post.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in post
        assert (await _raw(server.port, b"GARBAGE\r\n\r\n")).startswith(b"HTTP/1.1 400")
        # An endless header is cut off (no answer, connection closed), the server goes on.
        assert await _raw(server.port, b"GET / HTTP/1.1\r\nX: " + b"a" * 20000) == b""
        assert (await _raw(server.port, b"GET / HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")
    finally:
        await server.close()


async def test_a_port_in_use_is_one_clear_error() -> None:
    require_browser()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        server = DashboardServer(
            DashboardSettings(enabled=True, port=port, broker_url="ws://h:1/mqtt"), "a", "g"
        )
        with pytest.raises(DashboardError, match=f"cannot listen on 127.0.0.1:{port}"):
            await server.start()


def test_an_unbuilt_page_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DashboardError, match="not built"):
        DashboardServer(SETTINGS, "alice", "gaitcoach", www=tmp_path)


def test_dashboard_config_section(tmp_path: Path) -> None:
    def load(dashboard: Mapping[str, Any], mqtt: Mapping[str, Any] | None = None) -> Any:
        return config_from_dict(
            {"mqtt": mqtt or {"host": "broker.local"}, "dashboard": dashboard}, tmp_path
        ).dashboard

    assert not load({}).enabled
    assert load({"enabled": True}).broker_url == "ws://broker.local:9001/mqtt"
    (tmp_path / "ca.crt").write_text("x")
    tls = {"host": "broker.local", "tls": True, "ca_file": str(tmp_path / "ca.crt")}
    assert load({"enabled": True}, tls).broker_url == "wss://broker.local:8884/mqtt"
    assert load({"broker_url": "wss://b:1/mqtt"}).broker_origin == "wss://b:1"
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    bad: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        ({"enabled": True}, {"host": ""}),  # nowhere to connect
        ({"broker_url": "http://b/mqtt"}, None),
        ({"broker_url": "ws://b:1/mqtt'; script-src *"}, None),  # no way into the CSP
        ({"cert_file": "c.pem"}, None),
        ({"cert_file": "c.pem", "key_file": "k.pem", "broker_url": "ws://b:1/mqtt"}, None),
        ({"cert_file": "missing.pem", "key_file": "k.pem"}, None),
        ({"port": 70000}, None),
        ({"colour": "red"}, None),
    ]
    for dashboard, mqtt in bad:
        with pytest.raises(ConfigError):
            load(dashboard, mqtt)
    https = load({"cert_file": "c.pem", "key_file": "k.pem", "broker_url": "wss://b:1/mqtt"})
    assert https.tls and https.cert_file == str(tmp_path / "c.pem")


async def test_oversized_and_cut_off_requests_are_dropped_and_counted(tmp_path: Path) -> None:
    # The built page is not needed: a one-file page serves the same code path.
    (tmp_path / "manifest.json").write_text('{"files": ["index.html"]}')
    (tmp_path / "index.html").write_text("<p>hi</p>")
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    server = DashboardServer(SETTINGS, "alice", "gaitcoach", www=tmp_path)
    await server.start()
    try:
        # A header past MAX_REQUEST_BYTES (LimitOverrunError) and one cut off before its end
        # (IncompleteReadError): neither is answered, neither is an unhandled loop error.
        assert await _raw(server.port, b"GET / HTTP/1.1\r\nX: " + b"a" * 20000) == b""
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        ok = await _raw(server.port, b"GET / HTTP/1.1\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200") and ok.endswith(b"<p>hi</p>")
        await asyncio.sleep(0.1)
        assert unhandled == []
        assert server.dropped == 2
    finally:
        await server.close()
        loop.set_exception_handler(None)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_tls_connections_that_never_handshake_hold_no_more_than_the_slots(
    tmp_path: Path,
) -> None:
    # The TLS handshake must happen inside a connection slot and its time limit: before it,
    # each silent connection was held for asyncio's 60 s handshake timeout, without limit
    # on their number (every one a file descriptor of the service).
    tls = make_tls_files(tmp_path / "tls")
    (tmp_path / "manifest.json").write_text('{"files": ["index.html"]}')
    (tmp_path / "index.html").write_text("<p>hi</p>")
    settings = DashboardSettings(
        enabled=True,
        port=0,
        broker_url="wss://127.0.0.1:8884/mqtt",
        cert_file=str(tls.server_cert),
        key_file=str(tls.server_key),
    )
    server = DashboardServer(settings, "alice", "gaitcoach", www=tmp_path)
    await server.start()
    silent: list[asyncio.StreamWriter] = []
    try:
        before = _open_fds()
        for _ in range(3 * MAX_CONNECTIONS):
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            silent.append(writer)
        await asyncio.sleep(0.5)
        held_by_server = _open_fds() - before - len(silent)
        assert held_by_server <= MAX_CONNECTIONS + 4, held_by_server
        for writer in silent:
            writer.close()
        silent.clear()
        for _ in range(100):  # the slotted ones end as their clients go (dropped, counted)
            if server.dropped >= MAX_CONNECTIONS:
                break
            await asyncio.sleep(0.05)
        assert server.dropped == MAX_CONNECTIONS
        # A real client is served over TLS once slots are free.
        ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=ctx, server_hostname="localhost"
        )
        writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"<p>hi</p>")
    finally:
        for writer in silent:
            writer.close()
        await server.close()
