"""A simulated heel-overstrider coached over a real Mosquitto: strides -> coach -> publisher
-> broker -> subscriber, with a discomfort report sent as an MQTT command mid-run."""

from __future__ import annotations

import asyncio
import json
import time

from firmware_sim.simulation import Simulation
from gaitcoach.coach import Coach, RunnerProfile
from gaitcoach.mqtt import MqttPublisher, coach_command_handler
from tests.mqtt.broker import MosquittoBroker
from tests.mqtt.clients import Recorder, publish, validate
from tests.mqtt.test_topics import settings_for


async def test_simulated_run_is_coached_over_mqtt(mosquitto: MosquittoBroker) -> None:
    sim = Simulation("heel-overstrider", seed=1)
    sim.run_until(200.0)
    strides = sim.truth_records(until_s=200.0)
    coach = Coach(RunnerProfile(id="alice", height_m=1.75))
    sim_now = [0.0]
    published: list[str] = []

    with Recorder(mosquitto, ["gaitcoach/alice/#"]) as app:
        async with MqttPublisher(settings_for(mosquitto), "alice") as pub:
            pub.command_handler = coach_command_handler(coach, pub, lambda: sim_now[0])
            assert await pub.wait_connected(5.0)
            publish(mosquitto, "gaitcoach/alice/cmd/start", b'{"id": "s", "session_id": "run-1"}')
            started = await app.wait_for("/reply", lambda d: d["id"] == "s")
            assert started["ok"] and started["result"] == {"session_id": "run-1"}
            status = await app.wait_for("/status", lambda d: d["session_id"] == "run-1")
            assert status["online"]
            next_metrics = 1.0
            reported = False
            for stride in strides:
                # Replay: the stream's time maps to "now" (as on a live run).
                sim_now[0] = stride.end_ic_s
                pub.unix_offset_s = time.time() - stride.end_ic_s
                for cue in coach.on_stride(stride):
                    pub.publish_cue(cue)
                    published.append(cue.id)
                pub.publish_stride(stride)
                if stride.end_ic_s >= next_metrics and coach.metrics_ is not None:
                    pub.publish_metrics(coach.metrics_)
                    next_metrics += 1.0
                if stride.end_ic_s >= 110.0 and not reported:
                    reported = True
                    publish(
                        mosquitto,
                        "gaitcoach/alice/cmd/discomfort",
                        b'{"id": "d1", "body_part": "calf", "score": 4}',
                    )
                    await app.wait_for("/reply", lambda d: d["id"] == "d1")
                if stride.index % 50 == 0:
                    await asyncio.sleep(0)  # let replies and callbacks run
            assert await pub.flush()
            await app.wait_for("/cue", lambda d: d["id"] == coach.cues_[-1].id)
        # The publisher's last word (retained offline status) reaches the app after the
        # publisher has closed: wait for it before the app stops listening.
        await app.wait_for("/status", lambda d: d["online"] is False)

    cues = [validate(m.payload) for m in app.on("/cue")]
    assert [c["id"] for c in cues] == [c.id for c in coach.cues_]
    assert set(published) < {c["id"] for c in cues}
    assert all(c["id"].startswith("run-1-") for c in cues)
    kinds = [c["kind"] for c in cues]
    assert kinds[0] == "cadence" and "stride" in kinds and "discomfort" in kinds
    answer = next(c for c in cues if c["kind"] == "discomfort")
    assert "calf" in answer["text"] and answer["trigger"]["score"] == 4.0
    # No technique cue after the discomfort report (paused for 5 min).
    after = kinds[kinds.index("discomfort") + 1 :]
    assert after == []
    assert all(c["expires_unix_s"] > c["created_unix_s"] for c in cues)
    metrics = [validate(m.payload) for m in app.on("/metrics")]
    assert len(metrics) > 150 and metrics[-1]["strike_pattern"] == "rearfoot"
    assert abs(metrics[-1]["cadence_spm"] - 155.0) < 3.0
    for m in app.messages:
        if "/cmd/" not in m.topic:
            validate(m.payload)
    assert json.loads(app.on("/status")[-1].payload)["online"] is False
