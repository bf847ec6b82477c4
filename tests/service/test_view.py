"""The live terminal view renders what the service knows (rich, recorded to text)."""

from __future__ import annotations

from rich.console import Console

from firmware_sim.simulation import Simulation
from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import Service
from gaitcoach.service.view import render
from gaitcoach.types import Foot, Gap, ImuChunk


def test_view_shows_metrics_cues_and_gaps() -> None:
    cfg = config_from_dict(
        {"runner": {"id": "viv", "height_m": 1.75}, "coach": {"warmup_s": 0, "settle_s": 0}}
    )
    svc = Service(cfg)
    sim = Simulation("heel-overstrider", seed=1)
    pods = {foot: sim.pod(foot) for foot in (Foot.LEFT, Foot.RIGHT)}
    t_end = 0.0
    for _ in range(120):  # 60 s in half-second chunks from both pods
        for foot, pod in pods.items():
            s = pod.read(104)
            svc.handle(
                ImuChunk(
                    foot,
                    s.t_true_s,
                    s.acc_counts.astype(float) * pod.acc_lsb_mps2,
                    s.gyr_counts.astype(float) * pod.gyr_lsb_radps,
                )
            )
            t_end = float(s.t_true_s[-1])
    svc.handle(Gap(Foot.LEFT, t_end, t_end + 1.0, 208, "packet loss"))
    svc.clock.now = lambda: t_end  # type: ignore[method-assign]  # the data's time base
    svc.tick()
    console = Console(record=True, width=140)
    console.print(render(svc))
    text = console.export_text()
    assert "gaitcoach: viv" in text
    assert "running" in text and "rearfoot" in text
    # What a runner reads: elapsed, distance, pace in m:ss /km, metrics against targets.
    assert "elapsed" in text and " km" in text and "/km" in text and "m/s" not in text
    target = svc.pipeline.coach.cadence_target_spm_
    assert target is not None and f"{target:.0f}" in text
    assert "↓ land under hips" in text or "↓ land softer" in text
    assert "on screen" in text  # no broker: the live view is how the cue reaches the runner
    assert "1 gap(s) in the data" in text
    # Pod diagnostics only on --verbose.
    assert "rssi" not in text and "D0:0D" not in text
    console = Console(record=True, width=140)
    console.print(render(svc, verbose=True))
    assert "rssi" in console.export_text()
    m = svc.state.metrics
    assert m is not None and m.cadence_spm is not None and 145 < m.cadence_spm < 165
    assert f"{m.cadence_spm:.0f}" in text
    assert svc.state.gaps and svc.state.gaps[0].lost_samples == 208
    assert svc.state.last_cues, "a heel-overstrider is cued once the windows fill"
    assert svc.state.last_cues[-1].text in text


async def test_view_shows_a_degraded_broker_and_coaching_goes_on() -> None:
    from gaitcoach.mqtt import MqttPublisher, MqttSettings
    from gaitcoach.proc import free_port
    from gaitcoach.service.view import mqtt_state

    svc = Service(config_from_dict({"runner": {"id": "viv"}}))
    assert "MQTT off" in mqtt_state(svc)
    settings = MqttSettings(host="127.0.0.1", port=free_port(), reconnect_max_s=0.1)
    async with MqttPublisher(settings, "viv", unix_offset_s=svc.clock.unix_offset_s) as pub:
        svc.publisher = pub
        assert not await pub.wait_connected(0.5)
        svc.tick()  # metrics wait in the bounded queue
        console = Console(record=True, width=300)
        console.print(render(svc))
        text = console.export_text()
    assert "MQTT DEGRADED" in text and "connection refused" in text
    assert f"127.0.0.1:{settings.port}" in text and "1 messages queued" in text
