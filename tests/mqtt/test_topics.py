"""Every topic and payload on a real Mosquitto, each validated against the shipped schemas."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gaitcoach.coach import (
    Coach,
    Command,
    CommandError,
    ReportDiscomfort,
    RunnerProfile,
    SetTargets,
)
from gaitcoach.mqtt import MqttPublisher, MqttSettings
from gaitcoach.types import (
    Activity,
    Cue,
    CueKind,
    Foot,
    GaitMetrics,
    LinkEvent,
    LinkState,
    StrideRecord,
    StrikePattern,
)
from tests.mqtt.broker import MosquittoBroker
from tests.mqtt.clients import Recorder, publish, validate

RUNNER = "alice"


def settings_for(broker: MosquittoBroker, **kw: Any) -> MqttSettings:
    return replace(
        MqttSettings(host=broker.host, port=broker.port, embedded="never", connect_timeout_s=1.0),
        **kw,
    )


def make_cue(now: float, ttl_s: float = 8.0, cue_id: str = "c-1") -> Cue:
    return Cue(
        id=cue_id,
        kind=CueKind.CADENCE,
        text="Quicker steps",
        priority=40,
        created_s=now,
        expires_s=now + ttl_s,
        trigger={"cadence_spm": 152.0, "target_spm": 165.0},
        level=0,
        metronome_spm=165.0,
    )


def make_stride(t: float) -> StrideRecord:
    return StrideRecord(
        foot=Foot.LEFT,
        index=3,
        ic_s=t - 0.7,
        to_s=t - 0.45,
        end_ic_s=t,
        contact_time_s=0.25,
        swing_time_s=0.45,
        stride_time_s=0.7,
        cadence_spm=171.4,
        activity=Activity.RUNNING,
        stride_length_m=2.1,
        speed_mps=3.0,
        foot_strike_angle_deg=12.0,
        strike_pattern=StrikePattern.REARFOOT,
        overstride_m=0.2,
    )


async def test_every_topic_is_published_and_matches_its_schema(mosquitto: MosquittoBroker) -> None:
    now = time.time()
    with Recorder(mosquitto, [f"gaitcoach/{RUNNER}/#"]) as rec:
        settings = settings_for(mosquitto, publish_strides=True)
        async with MqttPublisher(settings, RUNNER, command_handler=lambda c: {"ok": 1}) as pub:
            assert await pub.wait_connected(5.0) and pub.protocol == "5"
            pub.publish_cue(make_cue(now))
            pub.publish_metrics(
                GaitMetrics(
                    t_s=now,
                    activity=Activity.RUNNING,
                    n_strides=12,
                    cadence_spm=160.0,
                    contact_time_s=0.25,
                    foot_strike_angle_deg=12.0,
                    strike_pattern=StrikePattern.REARFOOT,
                    overstride_m=0.2,
                    step_length_rel_leg=1.2,
                    balance_contact_left_pct=50.5,
                    per_foot={Foot.LEFT: {"cadence_spm": 160.0}, Foot.RIGHT: {}},
                )
            )
            pub.publish_stride(make_stride(now))
            pub.update_pod(LinkEvent(now, Foot.LEFT, "AA:BB", LinkState.STREAMING, "", -60, 87))
            pub.publish_session({"distance_m": 5012.0, "nan": float("nan")})
            publish(mosquitto, f"gaitcoach/{RUNNER}/cmd/stop", b'{"id": "r1"}')
            for suffix in ("/cue", "/metrics", "/stride", "/session", "/reply"):
                await rec.wait_for(suffix)
            await rec.wait_for("/status", lambda d: bool(d["pods"]))
            assert await pub.flush()
        await rec.wait_for("/status", lambda d: not d["online"])
        kinds = set()
        for m in rec.messages:
            if "/cmd/" in m.topic:
                continue
            data = validate(m.payload)
            kinds.add(data["type"])
            assert data["runner"] == RUNNER
        assert kinds == {"cue", "metrics", "stride", "status", "session", "reply"}
        cue = rec.on("/cue")[0]
        assert cue.qos == 1 and not cue.retain
        assert cue.expiry_interval_s is not None and 1 <= cue.expiry_interval_s <= 8
        assert rec.on("/metrics")[0].qos == 0
        pods = next(m.json() for m in rec.on("/status") if m.json()["pods"])["pods"]
        assert pods == [
            {
                "foot": "left",
                "address": "AA:BB",
                "state": "streaming",
                "t_unix_s": pytest.approx(now),
                "detail": "",
                "rssi_dbm": -60,
                "battery_pct": 87,
            }
        ]
        assert rec.on("/session")[0].json()["summary"] == {"distance_m": 5012.0, "nan": None}
        assert rec.on("/reply")[0].json()["id"] == "r1"
    # Retained: a late subscriber still gets the final status and the session summary.
    with Recorder(mosquitto, [f"gaitcoach/{RUNNER}/#"]) as late:
        status = await late.wait_for("/status")
        assert status["online"] is False and status["reason"] == "stopped"
        await late.wait_for("/session")
        assert all(m.retain for m in late.messages)


async def test_v311_client_publishes_the_same_tree(mosquitto: MosquittoBroker) -> None:
    with Recorder(mosquitto, [f"gaitcoach/{RUNNER}/#"], v5=False) as rec:
        async with MqttPublisher(settings_for(mosquitto, protocol="3.1.1"), RUNNER) as pub:
            assert await pub.wait_connected(5.0) and pub.protocol == "3.1.1"
            pub.publish_cue(make_cue(time.time()))
            validate(json.dumps(await rec.wait_for("/cue")).encode())
            assert rec.on("/cue")[0].expiry_interval_s is None


class Recording:
    """A command handler wrapping the coach, recording what it was asked."""

    def __init__(self, coach: Coach, pub: list[MqttPublisher]) -> None:
        self.coach = coach
        self.pub = pub
        self.applied: list[Command] = []

    def __call__(self, command: Command) -> dict[str, Any]:
        self.applied.append(command)
        outcome = self.coach.apply_command(command, time.time())
        if outcome.cue is not None:
            self.pub[0].publish_cue(outcome.cue)
        return dict(outcome.detail)


BAD_COMMANDS = [
    ("cmd/mute", b"{not json", "bad_json"),
    ("cmd/mute", b"[1, 2]", "bad_json"),
    ("cmd/jump", b"{}", "unknown_command"),
    ("cmd/mute/now", b"{}", "unknown_command"),
    ("cmd/mute", b'{"duration_s": -1}', "out_of_range"),
    ("cmd/mute", b'{"duration_s": "long"}', "bad_value"),
    ("cmd/mute", b"{}", "missing_argument"),
    ("cmd/mute", b'{"duration_s": 5, "volume": 3}', "unknown_argument"),
    ("cmd/mute", b'{"duration_s": 5, "runner": "bob"}', "wrong_runner"),
    ("cmd/mute", b'{"duration_s": 5, "v": 2}', "bad_version"),
    ("cmd/set_targets", b'{"cadence_target_spm": 400}', "out_of_range"),
    ("cmd/discomfort", b'{"body_part": "knee", "score": 12}', "out_of_range"),
    ("cmd/discomfort", b'{"body_part": "elbow", "score": 3}', "bad_value"),
]


async def test_malformed_commands_get_one_clear_error_and_change_nothing(
    mosquitto: MosquittoBroker,
) -> None:
    coach = Coach(RunnerProfile(id=RUNNER))
    holder: list[MqttPublisher] = []
    handler = Recording(coach, holder)
    with Recorder(mosquitto, [f"gaitcoach/{RUNNER}/reply", f"gaitcoach/{RUNNER}/cue"]) as rec:
        async with MqttPublisher(settings_for(mosquitto), RUNNER, command_handler=handler) as pub:
            holder.append(pub)
            assert await pub.wait_connected(5.0)
            for i, (suffix, payload, code) in enumerate(BAD_COMMANDS):
                publish(mosquitto, f"gaitcoach/{RUNNER}/{suffix}", payload)
                await rec.wait_for("/reply", timeout_s=5.0)
                while len(rec.on("/reply")) <= i:
                    await asyncio.sleep(0.01)
                reply = validate(rec.on("/reply")[i].payload)
                assert reply["ok"] is False and reply["result"] is None, reply
                assert reply["error"]["code"] == code, (suffix, payload, reply)
                assert reply["error"]["message"]
            assert handler.applied == [] and coach.muted_until_s < 0
            assert pub.stats.commands_rejected == len(BAD_COMMANDS)
            assert [h.error_code for h in pub.handled_commands_] == [c for _, _, c in BAD_COMMANDS]
            record = json.loads(json.dumps(pub.handled_commands_[4].record_args()))
            assert record["ok"] is False and record["error_code"] == "out_of_range"
            assert record["args"] == {"duration_s": -1}
            # ... and the service still answers a good command.
            good_cmd = b'{"id": "good", "body_part": "knee", "score": 5, "runner": "alice"}'
            publish(mosquitto, f"gaitcoach/{RUNNER}/cmd/discomfort", good_cmd)
            good = await rec.wait_for("/reply", lambda d: d["id"] == "good")
            assert good["ok"] and good["error"] is None and good["result"]["cue_id"]
            answer = await rec.wait_for("/cue", lambda d: d["kind"] == "discomfort")
            assert "knee" in answer["text"] and answer["id"] == good["result"]["cue_id"]
            assert handler.applied == [ReportDiscomfort("knee", 5)]
            assert coach.discomfort_reports_[0].score == 5


async def test_v5_response_topic_and_correlation_data(mosquitto: MosquittoBroker) -> None:
    def refuse(command: Command) -> None:
        raise CommandError("out_of_range", "not today")

    app_topic = f"gaitcoach/{RUNNER}/reply/app-7"
    with Recorder(mosquitto, [app_topic]) as rec:
        async with MqttPublisher(settings_for(mosquitto), RUNNER, command_handler=refuse) as pub:
            assert await pub.wait_connected(5.0)
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = app_topic
            props.CorrelationData = b"\x01\x02"
            publish(
                mosquitto,
                f"gaitcoach/{RUNNER}/cmd/set_targets",
                b'{"cadence_target_spm": 170}',
                properties=props,
            )
            reply = await rec.wait_for(app_topic)
            assert reply["ok"] is False and reply["error"]["code"] == "out_of_range"
            assert rec.on(app_topic)[0].correlation == b"\x01\x02"
            assert pub.handled_commands_[0].command is None


async def test_async_handler_and_failing_handler(mosquitto: MosquittoBroker) -> None:
    calls: list[Command] = []

    async def handler(command: Command) -> dict[str, Any]:
        calls.append(command)
        if isinstance(command, SetTargets):
            raise RuntimeError("boom")
        return {"done": True}

    with Recorder(mosquitto, [f"gaitcoach/{RUNNER}/reply"]) as rec:
        async with MqttPublisher(settings_for(mosquitto), RUNNER, command_handler=handler) as pub:
            assert await pub.wait_connected(5.0)
            publish(
                mosquitto,
                f"gaitcoach/{RUNNER}/cmd/set_targets",
                b'{"id": "a", "cadence_raise_pct": 6}',
            )
            publish(mosquitto, f"gaitcoach/{RUNNER}/cmd/stop", b'{"id": "b"}')
            failed = await rec.wait_for("/reply", lambda d: d["id"] == "a")
            done = await rec.wait_for("/reply", lambda d: d["id"] == "b")
            assert (
                failed["error"]["code"] == "internal_error" and "boom" in failed["error"]["message"]
            )
            assert done["ok"] and done["result"] == {"done": True}
            assert len(calls) == 2


async def test_broker_drops_expired_cues_for_a_consumer_that_was_away(
    mosquitto: MosquittoBroker,
) -> None:
    # A consumer with a persistent session goes away; Mosquitto queues QoS 1 cues for it and,
    # on MQTT v5, discards those whose message expiry interval ran out meanwhile.
    with Recorder(mosquitto, [f"gaitcoach/{RUNNER}/cue"], client_id="phone", clean=False):
        pass
    async with MqttPublisher(settings_for(mosquitto), RUNNER) as pub:
        assert await pub.wait_connected(5.0)
        pub.publish_cue(make_cue(time.time(), ttl_s=1.0, cue_id="short"))
        pub.publish_cue(make_cue(time.time(), ttl_s=30.0, cue_id="long"))
        assert await pub.flush()
        await asyncio.sleep(2.1)
    with Recorder(mosquitto, [f"gaitcoach/{RUNNER}/cue"], client_id="phone", clean=False) as rec:
        await rec.wait_for("/cue", lambda d: d["id"] == "long")
        await asyncio.sleep(0.2)
        assert [m.json()["id"] for m in rec.on("/cue")] == ["long"]
