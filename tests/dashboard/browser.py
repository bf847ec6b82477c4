"""Debian's Chromium driven by Playwright for Python (tests and ``bench dashboard``).

Playwright is pointed at ``/usr/bin/chromium`` (``executable_path``): it never downloads a
browser. Every browser gets a fresh profile and the flags that keep Chromium off the network
(without the background-networking flags its connections are refused on a closed network).

:data:`INSTRUMENT` runs in the page before its scripts and records what would be heard:
every ``speechSynthesis.speak`` (the text) and every audio click scheduled on the Web Audio
clock (``OscillatorNode.start(when)``), so a test can check cues are spoken and the metronome
keeps the target tempo without a loudspeaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gaitcoach.dashboard import WWW, DashboardServer, DashboardSettings
from tests.support import CHROMIUM_FLAGS, require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

INSTRUMENT = """
(() => {
  window.__spoken = [];
  window.__beats = [];
  if (window.speechSynthesis) {
    // Headless Chromium has no voice (a real speak() fails at once): record the utterance
    // and finish it as a speaker would, a moment later.
    window.speechSynthesis.speak = (u) => {
      window.__spoken.push({text: u.text, at: Date.now()});
      setTimeout(() => { if (u.onend) u.onend(new Event('end')); }, 300);
    };
  }
  if (window.OscillatorNode) {
    const start = OscillatorNode.prototype.start;
    OscillatorNode.prototype.start = function (when) {
      window.__beats.push({when: when, now: this.context.currentTime});
      return start.apply(this, arguments);
    };
  }
})();
"""


def require_browser() -> None:
    require(Path(CHROMIUM).exists(), "chromium is not installed (./run test installs it)")
    require((WWW / "manifest.json").exists(), "the dashboard is not built (./run test builds it)")


@contextlib.contextmanager
def browser(
    width: int = 1280,
    height: int = 900,
    ignore_https_errors: bool = False,
    profile: Path | None = None,
) -> Iterator[Any]:
    """A Playwright BrowserContext on Debian's Chromium with a fresh profile (``profile``: an
    empty folder to use, e.g. to find the browser's processes by it)."""
    from playwright.sync_api import sync_playwright

    require_browser()
    profile = profile or Path(tempfile.mkdtemp(prefix="gaitcoach-chromium-"))
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": width, "height": height},
                ignore_https_errors=ignore_https_errors,
            )
            ctx.add_init_script(INSTRUMENT)
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_js(page: Any, expression: str, timeout_s: float = 15.0) -> Any:
    """Poll a JavaScript expression until it is truthy; returns its value. (Playwright's
    ``wait_for_function`` evaluates strings with ``eval``, which the page's CSP forbids, as it
    should; ``page.evaluate`` goes through the DevTools protocol instead.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {expression}")
        time.sleep(0.05)


@contextlib.contextmanager
def serving(settings: DashboardSettings, runner: str = "alice") -> Iterator[DashboardServer]:
    """The dashboard's server on its own thread and loop (for Playwright's sync API)."""
    loop = asyncio.new_event_loop()
    server = DashboardServer(settings, runner, "gaitcoach")
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class PageErrors:
    """Collects uncaught page errors and console errors (a hostile payload must cause none)."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )
