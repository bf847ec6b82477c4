"""The dashboard's small static server (``[dashboard] enabled = true`` in ``gaitcoach run``).

Why not Mosquitto's ``http_dir``: the Mosquitto this project runs (Debian's 2.0.11) sends
files without a Content-Type, and over TLS it accepts HTTP/2 (ALPN ``h2``) and then fails to
serve them: browsers get ``ERR_HTTP2_PROTOCOL_ERROR``, so the page cannot be served over https
to a phone. This server is deliberately small: the built page is read into memory at start,
requests are matched against that list only (no path from a request ever reaches the file
system), GET and HEAD only, bounded request size, time and connections, HTTP/1.1 with one
request per connection, optional TLS (``http/1.1`` only). Every response carries a
Content-Security-Policy that lets the page load only its own files and connect only to itself
and the broker's WebSocket origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from gaitcoach.dashboard.config import DashboardSettings

log = logging.getLogger("gaitcoach.dashboard")

WWW = Path(__file__).resolve().parent / "www"
"""The built page (``./run`` builds it from web/ with the pinned npm packages)."""
MANIFEST = "manifest.json"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
MAX_REQUEST_BYTES = 8192
MAX_CONNECTIONS = 64
REQUEST_TIMEOUT_S = 10.0


_DROPPED = (
    TimeoutError,
    ConnectionError,
    ValueError,
    ssl.SSLError,
    OSError,
    # Neither is a ValueError (readline converts them, readuntil does not): uncaught, each
    # oversized or cut-off request logged a traceback as an unhandled asyncio error.
    asyncio.LimitOverrunError,
    asyncio.IncompleteReadError,
)
"""What a client can cause while its request is read and answered."""


class DashboardError(RuntimeError):
    """The page is not built, or cannot be served."""


class Asset(NamedTuple):
    body: bytes
    content_type: str


def load_page(www: Path = WWW) -> dict[str, Asset]:
    """The built page's files by URL path (``/`` is ``index.html``), from its manifest."""
    try:
        names = json.loads((www / MANIFEST).read_text())["files"]
        assets = {f"/{n}": Asset((www / n).read_bytes(), TYPES[Path(n).suffix]) for n in names}
    except (OSError, ValueError, KeyError, TypeError):
        raise DashboardError(
            f"the dashboard is not built ({www / MANIFEST} missing or incomplete): "
            "./run setup builds it (Node.js and npm are needed)"
        ) from None
    assets["/"] = assets["/index.html"]
    return assets


def csp(broker_origin: str) -> str:
    return (
        "default-src 'none'; script-src 'self'; worker-src blob:; style-src 'self'; "
        f"connect-src 'self' {broker_origin}; img-src 'self' data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def page_url(base: str, runner: str | None = None, page: str = "") -> str:
    """The runner's page (``?runner=``) or another page of the dashboard."""
    base = base if base.endswith("/") else base + "/"
    return f"{base}{page}" + (f"?runner={quote(runner)}" if runner else "")


class DashboardServer:
    """Serves the page of ``runner`` (the default the page opens with; ``?runner=`` picks
    another) and ``config.json`` telling it where the broker is."""

    def __init__(
        self, settings: DashboardSettings, runner: str, topic_prefix: str, www: Path = WWW
    ) -> None:
        self.settings = settings
        self.assets = load_page(www)
        config = {"broker_url": settings.broker_url, "runner": runner, "prefix": topic_prefix}
        self.assets["/config.json"] = Asset(json.dumps(config).encode(), TYPES[".json"])
        self.runner = runner
        self._headers = (
            f"Content-Security-Policy: {csp(settings.broker_origin)}\r\n"
            "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
            "Cache-Control: no-cache\r\nConnection: close\r\n"
        )
        self._ssl: ssl.SSLContext | None = None
        if settings.cert_file and settings.key_file:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(settings.cert_file, settings.key_file)
            self._ssl.set_alpn_protocols(["http/1.1"])
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = settings.port
        self.requests = 0
        self.dropped = 0
        """Connections dropped unanswered: too slow, too large, cut off or broken."""

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::") else "localhost"
        return f"{scheme}://{host}:{self.port}/"

    async def start(self) -> None:
        try:
            # No ssl= here: asyncio would hold every connection through its handshake (up to
            # 60 s, however many) before _handle sees it; _respond does it inside a slot.
            self._server = await asyncio.start_server(
                self._accept, self.settings.host, self.settings.port, limit=MAX_REQUEST_BYTES
            )
        except OSError as exc:
            raise DashboardError(
                f"dashboard: cannot listen on {self.settings.host}:{self.settings.port}: {exc}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("dashboard at %s (broker %s)", page_url(self.url, self.runner),
                 self.settings.broker_url)  # fmt: skip

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in self._tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Called as the connection is made, before its first read: with TLS, the client's
        # first bytes must wait for start_tls (read into the plain stream, the handshake
        # would never see them).
        transport = writer.transport
        if self._ssl is not None and isinstance(transport, asyncio.ReadTransport):
            transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._handle(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._slots.locked():  # too many at once: refuse rather than queue
            writer.close()
            return
        async with self._slots:
            try:
                await asyncio.wait_for(self._respond(reader, writer), REQUEST_TIMEOUT_S)
            except _DROPPED:
                self.dropped += 1  # a slow, broken or hostile client: drop it
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _respond(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._ssl is not None:
            await writer.start_tls(self._ssl)  # within the request's time limit
        # LimitOverrunError past MAX_REQUEST_BYTES, IncompleteReadError when cut off.
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        self.requests += 1
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await self._send(writer, 400, "Bad Request", b"bad request\n", "text/plain")
            return
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            await self._send(writer, 405, "Method Not Allowed", b"GET or HEAD\n", "text/plain",
                             "Allow: GET, HEAD\r\n")  # fmt: skip
            return
        asset = self.assets.get(target.split("?", 1)[0])
        if asset is None:
            await self._send(writer, 404, "Not Found", b"not found\n", "text/plain")
            return
        head_only = method == "HEAD"
        await self._send(writer, 200, "OK", asset.body, asset.content_type, head_only=head_only)

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        code: int,
        reason: str,
        body: bytes,
        content_type: str,
        extra: str = "",
        head_only: bool = False,
    ) -> None:
        header = (
            f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{self._headers}{extra}\r\n"
        )
        writer.write(header.encode("latin-1") + (b"" if head_only else body))
        await writer.drain()


@contextlib.asynccontextmanager
async def dashboard_server(
    settings: DashboardSettings, runner: str, topic_prefix: str
) -> AsyncIterator[DashboardServer | None]:
    """The running server while the block runs (None when the dashboard is off)."""
    if not settings.enabled:
        yield None
        return
    server = DashboardServer(settings, runner, topic_prefix)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
