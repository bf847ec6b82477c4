"""The dashboard against the running demo (``python -m gaitcoach.demo``, accelerated): the
page shows the values the service publishes, speaks the cues, ticks the metronome at the
target tempo, sends a discomfort report and shows the service's reply, and recovers when the
broker restarts. Screenshots (desktop and 390 px) go to bench/results/."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gaitcoach.mqtt.mosquitto import mosquitto_available
from gaitcoach.proc import die_with_parent, stop_process
from tests.dashboard.browser import PageErrors, browser, require_browser, wait_js
from tests.mqtt.broker import MosquittoBroker
from tests.mqtt.clients import Recorder, validator
from tests.support import gait_engine_ready, paced_speed, require

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "bench" / "results"
RUNNER = "demo"
pytestmark = [pytest.mark.usefixtures(gait_engine_ready.__name__), pytest.mark.underload]
TILE = "(m => document.querySelector(`.tile[data-metric=${m}] .value`).textContent)"
CUE = "(q => document.querySelector('#cues li' + q))"


def published_at(t_unix_s: float) -> Callable[[dict[str, Any]], bool]:
    """A payload with this time: the page shows the message it was sent."""
    return lambda d: bool(d["t_unix_s"] == t_unix_s)


class Demo:
    """``python -m gaitcoach.demo`` as a child; its output is read in the background."""

    def __init__(self, tmp: Path, speed: float, minutes: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gaitcoach.demo", "--quiet", "--speed", str(speed),
             "--minutes", str(minutes), "--data-dir", str(tmp / "data")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_line(self, pattern: str, timeout_s: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line like {pattern!r}: {self.lines[-20:]}")

    def broker_pid(self) -> int:
        """The demo's Mosquitto (a child of the demo process)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and "(mosquitto)" in stat:
                return int(entry.name)
        raise AssertionError("the demo's mosquitto is not running")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def close_to(text: str, value: float | None, scale: float = 1.0) -> bool:
    if value is None:
        return text == "–"
    return abs(float(text) - value * scale) <= 0.5 + 1e-9


def shown_metrics(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
           const v = m => document.querySelector(`.tile[data-metric=${m}] .value`).textContent;
           return {t: Number(document.getElementById('tiles').dataset.t), cadence: v('cadence'),
                   contact: v('contact'), strike: v('strike'), overstride: v('overstride'),
                   balance: v('balance')}; }"""
    )


@pytest.mark.slow
def test_dashboard_against_the_running_demo(tmp_path: Path) -> None:
    require(mosquitto_available(), "mosquitto is not installed (./run test installs it)")
    require_browser()
    demo = Demo(tmp_path, speed=paced_speed(8), minutes=30)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        address = demo.wait_line(r"dashboard: (http://\S+)")[1]
        port = int(demo.wait_line(r"Mosquitto on 127\.0\.0\.1:(\d+)")[1])
        broker = MosquittoBroker(tmp_path / "unused", port=port)  # for the Recorder's address
        with Recorder(broker, [f"gaitcoach/{RUNNER}/#"]) as rec, browser() as ctx:
            page = ctx.new_page()
            errors = PageErrors(page)
            page.goto(address)
            wait_js(page, "document.querySelector('#service').dataset.online === 'true'", 60)
            page.click("#speak")
            page.click("#metronome")
            coach = ctx.new_page()  # the coach's view, open meanwhile
            coach.goto(address.replace("?runner=demo", "coach.html"))
            page.bring_to_front()

            # Live values: what the page shows is what the service published.
            wait_js(page, f"{TILE}('cadence') !== '–'", 60)
            for _ in range(3):
                shown = shown_metrics(page)
                sent = rec.find("/metrics", published_at(shown["t"]))
                validator("metrics").validate(sent)
                assert close_to(shown["cadence"], sent["cadence_spm"]), (shown, sent)
                assert close_to(shown["contact"], sent["contact_time_s"], 1000), (shown, sent)
                assert close_to(shown["strike"], sent["foot_strike_angle_deg"]), (shown, sent)
                assert close_to(shown["overstride"], sent["overstride_m"], 100), (shown, sent)
                time.sleep(0.5)
            # The stride shown and its time, read at once (strides come several a second).
            stride_t, stride_text = wait_js(
                page,
                "(e => e.dataset.t && [Number(e.dataset.t), e.textContent])"
                "(document.querySelector('#stride'))",
            )
            stride = rec.find("/stride", published_at(stride_t))
            contact_ms = round(stride["stride"]["contact_time_s"] * 1000)
            shown_ms = re.search(r"contact (\d+) ms", stride_text)
            assert shown_ms and abs(int(shown_ms[1]) - contact_ms) <= 1

            # A cue: in the log, handed to speech synthesis, as published.
            cue_id = wait_js(page, f"{CUE}(':not([data-kind=discomfort])')?.dataset.id", 90)
            cue = rec.find("/cue", lambda d: d["id"] == cue_id)
            wait_js(page, f"window.__spoken.some(s => s.text === {cue['text']!r})")
            wait_js(page, f"{CUE}('[data-id=\"{cue_id}\"]').dataset.state === 'heard'")

            # The metronome: clicks scheduled on the audio clock at the target tempo.
            target = rec.on("/metrics")[-1].json()["targets"]["cadence_spm"]
            assert target is not None
            wait_js(page, "window.__beats.length >= 10", 20)
            beats = page.evaluate("window.__beats.map(b => b.when)")
            tempo = float(page.inner_text("#tempo").split()[0])
            assert abs(tempo - target) <= 0.5, (tempo, target)
            steps = [b - a for a, b in itertools.pairwise(beats)][-9:]
            assert len(steps) == 9, beats
            for step in steps:
                assert abs(step - 60.0 / target) < 0.005, (steps, target)
            span = page.evaluate("window.__beats.at(-1).now - window.__beats[0].now")
            assert span > 2.0  # the audio clock runs: beats keep being scheduled

            # Discomfort: the documented command and the service's reply.
            page.select_option("#body-part", "calf")
            page.click("#scores button[data-score='3']")
            wait_js(page, "document.querySelector('#reply').dataset.ok === 'true'", 20)
            body = rec.find("/cmd/discomfort")
            validator("command").validate(body)
            assert (body["body_part"], body["score"]) == ("calf", 3)
            reply = rec.find("/reply/", lambda d: d.get("id") == body["id"], anywhere=True)
            validator("reply").validate(reply)
            assert reply["ok"] and reply["command"] == "discomfort"
            answer = reply["result"]["cue_id"]
            wait_js(page, f"{CUE}('[data-id=\"{answer}\"]')?.dataset.kind === 'discomfort'", 20)

            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "dashboard-desktop.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            time.sleep(1.5)
            page.screenshot(path=str(SHOTS / "dashboard-390.png"), full_page=True)
            tile = "document.querySelector('[data-runner=demo] "
            wait_js(coach, f"/\\d/.test({tile}[data-field=cadence] .value')?.textContent)", 20)
            wait_js(coach, f"{tile}.last-cue').textContent.length > 0", 30)
            coach.screenshot(path=str(SHOTS / "coach-desktop.png"), full_page=True)

            # The broker restarts: the page says so, reconnects, resubscribes, goes on.
            before = shown_metrics(page)["t"]
            pid = demo.broker_pid()
            config = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2].decode()
            os.kill(pid, signal.SIGTERM)
            wait_js(page, "document.querySelector('#conn').dataset.state !== 'connected'", 20)
            wait_js(page, "document.querySelector('#tiles').dataset.stale === 'true'", 20)
            restarted = subprocess.Popen(
                ["mosquitto", "-c", config], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, preexec_fn=die_with_parent,
            )  # fmt: skip
            wait_js(page, "document.querySelector('#conn').dataset.state === 'connected'", 30)
            wait_js(page, "document.querySelector('#service').dataset.online === 'true'", 30)
            wait_js(page, f"Number(document.getElementById('tiles').dataset.t) > {before}", 30)
            wait_js(page, "document.querySelector('#tiles').dataset.stale === 'false'", 10)
            # The browser logs each refused reconnect during the outage; nothing else.
            unexpected = [e for e in errors.errors if "ERR_CONNECTION_REFUSED" not in e]
            assert unexpected == [], unexpected
    finally:
        demo.stop()
        if restarted is not None:
            stop_process(restarted, 5)
