"""Home Assistant MQTT discovery: off by default; when on, every sensor's config follows Home
Assistant's documented schema (tests/mqtt/ha_discovery.py), its template reads the real
payloads, and availability follows the service (online, clean stop, last will)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

from gaitcoach.mqtt import MqttPublisher
from gaitcoach.mqtt.homeassistant import SENSORS, discovery_messages
from gaitcoach.mqtt.publisher import DISCOVERY_MIN_INTERVAL_S
from gaitcoach.mqtt.topics import Topics
from gaitcoach.types import Activity, Cue, CueKind, Foot, GaitMetrics, LinkEvent, LinkState
from tests.mqtt.broker import MosquittoBroker
from tests.mqtt.clients import Commander, Recorder, publish, publisher_process
from tests.mqtt.ha_discovery import check_sensor_discovery, render
from tests.mqtt.test_topics import settings_for

ROOT = Path(__file__).resolve().parents[2]
RUNNER = "alice"
NAMES = {s.object_id for s in SENSORS}


def test_every_discovery_config_follows_the_documented_schema() -> None:
    messages = discovery_messages(Topics(RUNNER), "homeassistant")
    assert {t.split("/")[3] for t, _ in messages} == NAMES == {
        "cadence", "contact_time", "strike_angle", "overstride", "activity", "last_cue",
        "battery_left", "battery_right",
    }  # fmt: skip
    unique = set()
    for topic, payload in messages:
        assert topic.startswith("homeassistant/sensor/gaitcoach_alice/")
        config = check_sensor_discovery(topic, payload)
        unique.add(config["unique_id"])
        assert config["state_topic"].startswith("gaitcoach/alice/")
        assert config["availability"] == [
            {
                "topic": "gaitcoach/alice/status",
                "value_template": "{{ 'online' if value_json.online else 'offline' }}",
            }
        ]
    assert len(unique) == len(messages)
    by_name = {t.split("/")[3]: check_sensor_discovery(t, p) for t, p in messages}
    assert by_name["contact_time"]["device_class"] == "duration"
    assert by_name["contact_time"]["unit_of_measurement"] == "ms"
    assert by_name["overstride"]["device_class"] == "distance"
    assert by_name["battery_left"]["device_class"] == "battery"
    assert by_name["activity"]["options"] == ["standing", "walking", "running"]


def test_the_checker_refuses_what_the_docs_forbid() -> None:
    # The checker is only worth something if it can fail.
    topic, payload = discovery_messages(Topics(RUNNER), "homeassistant")[1]  # contact time
    good = json.loads(payload)
    bad_cases = [
        {**good, "device_class": "duration", "unit_of_measurement": "beats"},
        {**good, "device_class": "speedy"},
        {**good, "state_topic": "gaitcoach/+/metrics"},
        {**good, "availability_topic": "x"},
        {**good, "value_template": "{{ value_json.x "},
        {**good, "colour": "red"},
        {**good, "entity_category": "config"},
        {k: v for k, v in good.items() if k != "unique_id"},
    ]
    for bad in bad_cases:
        try:
            check_sensor_discovery(topic, json.dumps(bad).encode())
        except (AssertionError, Exception):
            continue
        raise AssertionError(f"accepted: {bad}")


def _templates() -> dict[str, str]:
    out = {}
    for topic, payload in discovery_messages(Topics(RUNNER), "homeassistant"):
        out[topic.split("/")[3]] = json.loads(payload)["value_template"]
    return out


async def test_templates_read_the_service_payloads(mosquitto: MosquittoBroker) -> None:
    now = time.time()
    templates = _templates()
    with Recorder(mosquitto, ["gaitcoach/alice/#"]) as rec:
        async with MqttPublisher(settings_for(mosquitto), RUNNER) as pub:
            assert await pub.wait_connected(5.0)
            pub.publish_metrics(
                GaitMetrics(
                    t_s=now,
                    activity=Activity.RUNNING,
                    n_strides=20,
                    cadence_spm=171.4,
                    contact_time_s=0.2514,
                    foot_strike_angle_deg=12.3,
                    overstride_m=0.214,
                )
            )
            await rec.wait_for("/metrics")
            pub.publish_metrics(GaitMetrics(t_s=now + 1, activity=Activity.STANDING, n_strides=0))
            await rec.wait_for("/metrics", lambda d: d["activity"] == "standing")
            pub.update_pod(LinkEvent(now, Foot.LEFT, "AA", LinkState.STREAMING, "", -60, 87))
            await rec.wait_for("alice/status", lambda d: bool(d["pods"]))
            pub.publish_cue(
                Cue(
                    "c-9",
                    CueKind.CADENCE,
                    "Quicker <b>steps</b> " + "x" * 400,
                    40,
                    now,
                    now + 8,
                    {"cadence_spm": 150.0},
                    1,
                    170.0,
                )
            )
            await rec.wait_for("/cue")
        running, standing = (m.payload for m in rec.on("/metrics")[:2])
        assert render(templates["cadence"], running) == "171.4"
        assert render(templates["contact_time"], running) == "251.0"
        assert render(templates["strike_angle"], running) == "12.3"
        assert render(templates["overstride"], running) == "21.0"
        assert render(templates["activity"], running) == "running"
        # Unknown values render "None": Home Assistant's "unknown" (not 0, not an error).
        for name in ("cadence", "contact_time", "strike_angle", "overstride"):
            assert render(templates[name], standing) == "None", name
        status = next(m.payload for m in rec.on("alice/status") if b'"pods":[{' in m.payload)
        assert render(templates["battery_left"], status) == "87"
        assert render(templates["battery_right"], status) == "None"
        cue = render(templates["last_cue"], rec.on("/cue")[0].payload)
        assert cue.startswith("Quicker <b>steps</b>") and len(cue) == 255


async def test_discovery_is_off_by_default(mosquitto: MosquittoBroker) -> None:
    with Recorder(mosquitto, ["homeassistant/#"]) as rec:
        async with MqttPublisher(settings_for(mosquitto), RUNNER) as pub:
            assert await pub.wait_connected(5.0) and await pub.flush()
            await asyncio.sleep(0.3)
        assert rec.messages == []


AVAILABLE = "{{ 'online' if value_json.online else 'offline' }}"


async def test_discovery_and_availability_follow_the_service(mosquitto: MosquittoBroker) -> None:
    settings = settings_for(mosquitto, homeassistant_discovery=True)
    with Recorder(mosquitto, ["homeassistant/#", "gaitcoach/alice/status"]) as rec:
        async with MqttPublisher(settings, RUNNER) as pub:
            assert await pub.wait_connected(5.0)
            status = await rec.wait_for("alice/status", lambda d: d["online"])
            deadline = time.monotonic() + 5
            while len(rec.on("/config")) < len(SENSORS) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            configs = rec.on("/config")
            assert {m.topic.split("/")[3] for m in configs} == NAMES
            # Retained: Home Assistant started later still finds them.
            with Recorder(mosquitto, ["homeassistant/#"]) as late:
                while len(late.messages) < len(SENSORS) and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                assert len(late.messages) == len(SENSORS) and all(m.retain for m in late.messages)
            for m in configs:
                check_sensor_discovery(m.topic, m.payload)
            assert render(AVAILABLE, rec.on("alice/status")[-1].payload) == "online", status
            # Home Assistant restarts and says so: the configs are sent again.
            before = len(rec.on("/config"))
            publish(mosquitto, "homeassistant/status", b"online")
            deadline = time.monotonic() + 5
            while len(rec.on("/config")) < before + len(SENSORS) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert len(rec.on("/config")) == before + len(SENSORS)
        # A clean stop: the retained status says offline, so Home Assistant shows unavailable.
        await rec.wait_for("alice/status", lambda d: not d["online"])
        assert render(AVAILABLE, rec.on("alice/status")[-1].payload) == "offline"
    # A service that dies: its last will makes the sensors unavailable too.
    with (
        Recorder(mosquitto, ["gaitcoach/alice/status", "homeassistant/#"]) as rec,
        publisher_process(mosquitto, homeassistant=True) as child,
    ):
        await rec.wait_for("alice/status", lambda d: d["online"], timeout_s=15)
        assert render(AVAILABLE, rec.on("alice/status")[-1].payload) == "online"
        assert await _configs(rec)  # the child announced its sensors
        seen = len(rec.on("alice/status"))  # the retained clean-stop status came first
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        deadline = time.monotonic() + 15
        while len(rec.on("alice/status")) == seen and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        last = rec.on("alice/status")[-1]
        assert not last.json()["online"] and last.json()["reason"] == "connection lost"
        assert render(AVAILABLE, last.payload) == "offline"


async def _configs(rec: Recorder) -> bool:
    deadline = time.monotonic() + 5
    while not rec.on("/config") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return bool(rec.on("/config"))


async def test_a_flood_of_online_is_answered_at_most_once_a_second(
    mosquitto: MosquittoBroker,
) -> None:
    settings = settings_for(mosquitto, homeassistant_discovery=True)
    with Recorder(mosquitto, ["homeassistant/sensor/#"]) as rec, Commander(mosquitto) as ha:
        async with MqttPublisher(settings, RUNNER) as pub:
            assert await pub.connection.wait_subscribed(5.0)
            assert await _configs(rec)  # announced once on connect
            start = time.monotonic()
            # Each "online" was answered with all eight configs (about 6 KB, retained).
            for _ in range(300):
                ha.send("homeassistant/status", b"online", wait=False)
            await asyncio.sleep(2.5)
            elapsed = time.monotonic() - start
            assert await pub.flush()
        rounds = len(rec.on("/config")) / len(SENSORS)
        assert 2 <= rounds <= 2 + elapsed / DISCOVERY_MIN_INTERVAL_S, (rounds, elapsed)
