"""The dashboard in a real browser (Debian's Chromium via Playwright) against a real Mosquitto
that serves the page itself (``http_dir`` on its websockets listener): values and colours
from the documented payloads, commands and replies, the coach's view, and hostile payloads
that must not break the page or reach it as markup."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gaitcoach.coach import CommandError
from gaitcoach.dashboard import DashboardServer, DashboardSettings, page_url
from gaitcoach.mqtt import MqttPublisher
from gaitcoach.mqtt.payloads import CuePayload, MetricsPayload, StatusPayload, StridePayload
from tests.dashboard.browser import PageErrors, browser, require_browser, serving, wait_js
from tests.mqtt.broker import MosquittoBroker, running_mosquitto
from tests.mqtt.clients import Recorder, validator
from tests.mqtt.test_topics import make_cue, make_stride, settings_for

RUNNER = "alice"
BASE = f"gaitcoach/{RUNNER}"


@dataclass
class Served:
    broker: MosquittoBroker
    server: DashboardServer

    @property
    def host(self) -> str:
        return self.broker.host

    @property
    def port(self) -> int:
        return self.broker.port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """Mosquitto with a websockets listener, and the dashboard's server pointing at it."""
    require_browser()
    with running_mosquitto(tmp_path / "broker", websockets=True) as broker:
        settings = DashboardSettings(
            enabled=True, port=0, broker_url=f"ws://127.0.0.1:{broker.ws_port}/mqtt"
        )
        with serving(settings, RUNNER) as server:
            yield Served(broker, server)


def url(served: Served, page: str = "", runner: str | None = RUNNER) -> str:
    return page_url(served.server.url, runner if not page else None, page)


class Sender:
    """One paho client publishing raw payloads (QoS 1, waited for)."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | str | dict[str, Any], retain: bool = False) -> None:
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        self.client.publish(topic, data, 1, retain=retain).wait_for_publish(5.0)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def metrics(now: float, **kw: Any) -> dict[str, Any]:
    base = MetricsPayload(
        runner=RUNNER,
        t_unix_s=now,
        activity="running",
        n_strides=30,
        cadence_spm=160.0,
        contact_time_s=0.25,
        flight_time_s=0.1,
        stride_length_m=2.2,
        speed_mps=3.0,
        foot_strike_angle_deg=10.0,
        strike_pattern="rearfoot",
        overstride_m=0.28,
        peak_impact_g=3.0,
        step_length_rel_leg=1.3,
        balance_contact_left_pct=53.5,
        session_id="run-1",
        elapsed_s=754.0,
        distance_m=2345.0,
        targets={
            "cadence_spm": 170.0,
            "cadence_enter_below_spm": 163.2,
            "cadence_exit_at_spm": 167.45,
            "strike_angle_enter_deg": 18.0,
            "strike_angle_exit_deg": 14.0,
            "overstride_enter_m": 0.30,
            "overstride_exit_m": 0.26,
        },
        muted_until_unix_s=None,
        link={"left": {"samples": 9900, "lost_samples": 100, "gaps": 2}},
    )
    d = asdict(replace(base, **kw))
    validator("metrics").validate(d)  # the test sends what the service may send
    return d


def status(now: float, online: bool = True) -> dict[str, Any]:
    d = asdict(
        StatusPayload(RUNNER, online, now, "" if online else "connection lost", "5", "run-1")
    )
    d["pods"] = [
        {"foot": "left", "address": "AA", "state": "streaming", "t_unix_s": now, "detail": "",
         "rssi_dbm": -61, "battery_pct": 87},
        {"foot": "right", "address": "BB", "state": "disconnected", "t_unix_s": now,
         "detail": "", "rssi_dbm": None, "battery_pct": 12},
    ]  # fmt: skip
    validator("status").validate(d)
    return d


def tiles(page: Any) -> dict[str, dict[str, str]]:
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('.tile')).map(t => [
            t.dataset.metric, {value: t.querySelector('.value').textContent,
                               target: t.querySelector('.target').textContent,
                               level: t.dataset.level || ''}]))"""
    )


HOSTILE_TEXT = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def hostile_messages(now: float) -> list[tuple[str, bytes | str | dict[str, Any]]]:
    good = metrics(now)
    return [
        (f"{BASE}/metrics", b"\xff\xfe not utf-8"),
        (f"{BASE}/metrics", "not json {"),
        (f"{BASE}/metrics", "[1, 2, 3]"),
        (f"{BASE}/metrics", "[" * 100000 + "]" * 100000),
        (f"{BASE}/metrics", json.dumps({**good, "pad": "x" * 70000})),
        (f"{BASE}/metrics", {**good, "v": 2}),
        (f"{BASE}/metrics", {**good, "runner": "bob"}),
        (f"{BASE}/metrics", {**good, "t_unix_s": "soon"}),
        (f"{BASE}/metrics", {**good, "cadence_spm": HOSTILE_TEXT, "targets": [1, 2],
                             "link": {"__proto__": {"polluted": 1}, "left": "x"},
                             "elapsed_s": 1e308, "distance_m": -5, "activity": HOSTILE_TEXT,
                             "session_id": HOSTILE_TEXT}),
        (f"{BASE}/status", {**status(now), "pods": None}),
        (f"{BASE}/status", {**status(now), "pods": [1, "x", None, {"foot": HOSTILE_TEXT}] * 50}),
        (f"{BASE}/status", {**status(now), "online": "yes"}),
        (f"{BASE}/cue", json.dumps({**asdict(CuePayload.from_cue(make_cue(now), RUNNER)),
                                    "text": HOSTILE_TEXT, "id": HOSTILE_TEXT, "priority": 40})
                        .replace('"priority": 40', '"priority": 1e999')),
        (f"{BASE}/cue", {**asdict(CuePayload.from_cue(make_cue(now), RUNNER)), "text": 42}),
        (f"{BASE}/stride", {"v": 1, "type": "stride", "runner": RUNNER, "t_unix_s": now,
                            "stride": {"foot": HOSTILE_TEXT, "contact_time_s": "0.2"}}),
        (f"{BASE}/reply", {"v": 1, "type": "reply", "runner": RUNNER, "id": HOSTILE_TEXT}),
        (f"{BASE}/unknown", {"v": 1}),
    ]  # fmt: skip


def test_live_values_colours_cues_pods_and_hostile_payloads(served: Served) -> None:
    sender = Sender(served.broker)
    try:
        with browser() as ctx:
            page = ctx.new_page()
            errors = PageErrors(page)
            now = time.time()
            sender.send(f"{BASE}/status", status(now), retain=True)
            page.goto(url(served))
            wait_js(page, "document.querySelector('#conn').dataset.state==='connected'")
            wait_js(page, "document.querySelector('#service').dataset.online==='true'")
            sender.send(f"{BASE}/metrics", metrics(now))
            wait_js(page, "document.querySelector('#tiles').dataset.stale==='false'")
            t = tiles(page)
            assert t["cadence"] == {"value": "160", "target": "target 170", "level": "off"}
            assert t["strike"] == {"value": "10", "target": "rearfoot · limit 18", "level": "ok"}
            assert t["overstride"] == {"value": "28", "target": "limit 30", "level": "near"}
            assert t["balance"]["value"] == "53.5" and t["balance"]["level"] == "near"
            assert t["contact"]["value"] == "250" and t["contact"]["level"] == "none"
            assert t["pace"]["value"] == "5:33" and t["elapsed"]["value"] == "12:34"
            assert t["distance"]["value"] == "2.35" and t["activity"]["value"] == "running"
            pods = page.eval_on_selector_all(
                "#pods tbody tr", "rows => rows.map(r => r.innerText.split('\\t'))"
            )
            assert pods == [
                ["left", "streaming", "87 %", "-61 dBm", "1.00 %"],
                ["right", "disconnected", "12 %", "–", "–"],
            ]
            # A stride, a fresh cue (shown: sound is off) and one that arrives expired.
            stride = StridePayload.from_stride(make_stride(now), RUNNER)
            sender.send(f"{BASE}/stride", asdict(stride))
            sender.send(f"{BASE}/cue", asdict(CuePayload.from_cue(make_cue(now), RUNNER)))
            late = make_cue(now - 20, cue_id="c-late")
            sender.send(f"{BASE}/cue", asdict(CuePayload.from_cue(late, RUNNER)))
            wait_js(page, "document.querySelectorAll('#cues li').length === 2")
            states = page.eval_on_selector_all(
                "#cues li", "ls => ls.map(l => [l.dataset.id, l.dataset.state])"
            )
            assert states == [["c-late", "expired"], ["c-1", "heard"]]
            assert "contact 250 ms" in page.inner_text("#stride")
            # Hostile payloads: ignored or shown as text; the page keeps working.
            for topic, payload in hostile_messages(now):
                sender.send(topic, payload)
            sender.send(f"{BASE}/metrics", metrics(now + 1, cadence_spm=171.0))
            wait_js(
                page,
                "document.querySelector('.tile[data-metric=cadence] .value').textContent==='171'",
            )
            assert tiles(page)["cadence"]["level"] == "ok"
            assert page.evaluate("window.__pwned === undefined && ({}).polluted === undefined")
            assert page.evaluate("document.querySelectorAll('main img, main script').length") == 0
            shown = page.inner_text("#cues")
            assert HOSTILE_TEXT in shown  # the text, inert
            assert page.evaluate("GC.stats.handlerErrors") == 0
            assert page.evaluate("GC.stats.ignored") == 10  # the rest are read field by field
            assert page.eval_on_selector_all("#pods tbody tr", "r => r.length") <= 4
            assert errors.errors == [], errors.errors
    finally:
        sender.close()


async def test_discomfort_and_mute_publish_the_documented_commands(
    served: Served,
) -> None:
    # The service side is gaitcoach's own publisher: it checks every command against the
    # documented contract and answers on the command's v5 response topic.
    applied: list[Any] = []

    def handler(cmd: Any) -> dict[str, Any]:
        applied.append(cmd)
        if type(cmd).__name__ == "Mute" and cmd.duration_s == 0:
            raise CommandError("unavailable", "no session is running")
        return {"cue_id": "c-7"}

    async with MqttPublisher(settings_for(served.broker), RUNNER, command_handler=handler) as svc:
        assert await svc.connection.wait_subscribed(5.0)
        with Recorder(served.broker, [f"{BASE}/cmd/#", f"{BASE}/reply/#"]) as rec:
            await _run_in_thread(_tap_commands, url(served))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if len([m for m in rec.messages if "/reply/" in m.topic]) >= 3:
                    break
                await asyncio.sleep(0.05)
            commands = [m for m in rec.messages if "/cmd/" in m.topic]
            assert [m.topic for m in commands] == [
                f"{BASE}/cmd/discomfort", f"{BASE}/cmd/mute", f"{BASE}/cmd/mute",
            ]  # fmt: skip
            bodies = [m.json() for m in commands]
            for body in bodies:
                validator("command").validate(body)
                assert body["v"] == 1 and body["id"].startswith("dash-")
            assert {k: bodies[0][k] for k in ("body_part", "score")} == {
                "body_part": "shin", "score": 6,
            }  # fmt: skip
            assert bodies[1]["duration_s"] == 300 and bodies[2]["duration_s"] == 0
            assert not any(m.retain for m in commands)
            replies = [m for m in rec.messages if "/reply/" in m.topic]
            assert len(replies) == 3
            assert all(m.topic.startswith(f"{BASE}/reply/dash-") for m in replies)
            for m in replies:
                validator("reply").validate(m.json())
            assert [type(c).__name__ for c in applied] == ["ReportDiscomfort", "Mute", "Mute"]


async def _run_in_thread(fn: Any, *args: Any) -> Any:
    # Playwright's sync API must not run inside the test's asyncio loop; the publisher's
    # callbacks need that loop running meanwhile.
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn(*args))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.05)
    if errors:
        raise errors[0]
    return result[0] if result else None


def _tap_commands(address: str) -> None:
    with browser(390, 844) as ctx:
        page = ctx.new_page()
        errors = PageErrors(page)
        page.goto(address)
        wait_js(page, "document.querySelector('#conn').dataset.state==='connected'")
        page.select_option("#body-part", "shin")
        page.click("#scores button[data-score='6']")
        wait_js(page, "document.querySelector('#reply').dataset.ok==='true'")
        assert page.inner_text("#reply").startswith("discomfort: ok")
        page.click("#mute")
        wait_js(page, "document.querySelector('#reply').textContent.startsWith('mute: ok')")
        page.click("#unmute")
        wait_js(page, "document.querySelector('#reply').dataset.ok==='false'")
        assert page.inner_text("#reply") == "mute: unavailable · no session is running"
        assert errors.errors == [], errors.errors


def test_coach_view_shows_a_tile_per_runner_read_only(served: Served) -> None:
    sender = Sender(served.broker)
    try:
        now = time.time()
        sender.send("gaitcoach/alice/status", status(now), retain=True)
        bob = {**status(now, online=False), "runner": "bob", "pods": []}
        sender.send("gaitcoach/bob/status", bob, retain=True)
        with browser() as ctx:
            page = ctx.new_page()
            errors = PageErrors(page)
            page.goto(url(served, "coach.html"))
            wait_js(page, "document.querySelectorAll('.runner-tile').length === 2")
            sender.send("gaitcoach/alice/metrics", metrics(now))
            sender.send("gaitcoach/alice/cue", asdict(CuePayload.from_cue(make_cue(now), RUNNER)))
            # Made-up runners: a bad id, a payload naming someone else, a flood of ids.
            sender.send("gaitcoach/<b>x</b>/status", {**status(now), "runner": "<b>x</b>"})
            sender.send("gaitcoach/eve/status", status(now))  # says runner alice
            for i in range(70):
                sender.send(f"gaitcoach/r{i:02d}/status", {**status(now), "runner": f"r{i:02d}"})
            wait_js(
                page,
                "document.querySelector('[data-runner=alice] .last-cue').textContent.length > 0",
            )
            wait_js(page, "document.querySelectorAll('.runner-tile').length === 60")
            runners = page.eval_on_selector_all(
                ".runner-tile", "ts => ts.map(t => t.dataset.runner)"
            )
            assert runners[:2] == ["alice", "bob"] and "eve" not in runners
            assert runners == sorted(runners)
            alice = page.eval_on_selector(
                "[data-runner=alice]",
                """t => ({online: t.dataset.online, href: t.getAttribute('href'),
                    cadence: t.querySelector('[data-field=cadence] .value').textContent,
                    level: t.querySelector('[data-field=cadence]').dataset.level,
                    battery: t.querySelector('[data-field=battery] .value').textContent})""",
            )
            assert alice == {"online": "true", "href": "index.html?runner=alice",
                             "cadence": "160", "level": "off", "battery": "12 %"}  # fmt: skip
            assert page.get_attribute("[data-runner=bob]", "data-online") == "false"
            controls = "document.querySelectorAll('main button, main select, main input').length"
            assert page.evaluate(controls) == 0
            assert errors.errors == [], errors.errors
    finally:
        sender.close()


def test_a_flood_of_cues_to_speak_keeps_the_speech_queue_bounded(served: Served) -> None:
    sender = Sender(served.broker)
    try:
        with browser() as ctx:
            page = ctx.new_page()
            errors = PageErrors(page)
            page.goto(url(served))
            wait_js(page, "document.querySelector('#conn').dataset.state==='connected'")
            page.click("#speak")
            now = time.time()
            # Cues that stay fresh for an hour, faster than they can be spoken (the test's
            # speech never ends: the first one is spoken, the rest wait).
            for i in range(200):
                cue = make_cue(now, ttl_s=3600.0, cue_id=f"c-{i}")
                sender.send(f"{BASE}/cue", asdict(CuePayload.from_cue(cue, RUNNER)))
            wait_js(page, "GC.probe.cues.length === 200")
            assert page.evaluate("GC.probe.speech.queue.length") == 20
            assert page.evaluate("GC.probe.spoken.length") == 1
            states = page.eval_on_selector_all("#cues li", "ls => ls.map(l => l.dataset.state)")
            assert set(states) == {"dropped"}  # the newest 40 shown; beyond the 20 waiting
            assert errors.errors == [], errors.errors
    finally:
        sender.close()
