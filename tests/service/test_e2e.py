"""The main job end to end, on virtual footpods through bleak's real BlueZ backend, a real
Mosquitto, the real service and ``gaitcoach listen``, in accelerated time."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
import pytest

from gaitcoach.coach import CoachSettings
from gaitcoach.demo import demo_stack, run_demo
from gaitcoach.mqtt.mosquitto import mosquitto_available
from gaitcoach.session import SessionStatus, SessionStore
from tests.support import gait_engine_ready, paced_speed, require

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "gaitcoach" / "data" / "schemas" / "summary.schema.json").read_text())

pytestmark = [pytest.mark.usefixtures(gait_engine_ready.__name__), pytest.mark.underload]


@pytest.fixture(autouse=True)
def _prerequisites() -> None:
    require(mosquitto_available(), "mosquitto is not installed (./run test installs it)")


def _metric(summary: dict[str, Any], name: str) -> dict[str, Any]:
    metrics = summary["metrics"]
    found = (
        metrics[name]
        if isinstance(metrics, dict)
        else next(m for m in metrics if m["name"] == name)
    )
    assert isinstance(found, dict)
    return found


def test_demo_command_prints_summary_and_report(tmp_path: Path) -> None:
    """``./run demo`` as CI can afford it: 3 simulated minutes at x12."""
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "gaitcoach.demo",
            "--minutes",
            "3",
            "--speed",
            str(paced_speed(12.0)),
            "--quiet",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    heard = out.split("listener heard:")[1].split("summary:")[0]
    assert "cadence" in heard.lower() or "stride" in heard.lower(), heard
    report = Path(out.split("HTML report:")[1].strip())
    html = report.read_text()
    assert html.count("<img") >= 4 or html.count("<svg") >= 4
    with SessionStore(tmp_path / "data") as store:
        sessions = store.list_sessions()
        assert len(sessions) == 1 and sessions[0].status is SessionStatus.COMPLETE


@pytest.mark.parametrize("compliance", [0.9, 0.0])
def test_closed_loop_runner_hears_the_cues(tmp_path: Path, compliance: float) -> None:
    res = run_demo(
        "heel-overstrider",
        minutes=7.0,
        speed=paced_speed(20.0),
        compliance=compliance,
        quiet=True,
        data_dir=tmp_path / "data",
        seed=3,
    )
    assert res.summary is not None
    jsonschema.validate(res.summary, SCHEMA)
    cad = _metric(res.summary, "cadence_spm")
    over = _metric(res.summary, "overstride_m")
    effects = res.summary["cues"]
    cues = [e for e in effects if e["kind"] in ("cadence", "stride", "softer")]
    first = res.summary["splits_minute"][0]["medians"]
    print(
        "counts",
        res.counts,
        "gaps",
        res.gaps,
        "dropped",
        res.dropped,
        "cues",
        [(round(e["t_s"]), e["kind"]) for e in effects],
        "cadence",
        first["cadence_spm"],
        cad["last_third"],
        "overstride",
        first["overstride_m"],
        over["last_third"],
    )
    assert cues, "a heel-overstrider must be coached"
    # Against the first minute (before any cue: warm-up) the end of the run (last third).
    if compliance > 0:
        assert cad["last_third"] > first["cadence_spm"] + 4.0
        assert over["last_third"] < first["overstride_m"] - 0.03
        assert any(e["moved"] for e in cues), effects
        assert any(e["kind"] == "reinforce" for e in effects)
    else:
        assert abs(cad["last_third"] - first["cadence_spm"]) < 3.0
        assert over["last_third"] >= first["overstride_m"] - 0.02
        assert not any(e["moved"] for e in cues if e["kind"] == "cadence")
        # Ignored cues escalate instead of repeating: levels rise, within the cap.
        levels = _levels(res.heard)
        assert max(levels) >= 1
        assert len(cues) <= CoachSettings().max_cues_per_10min
        times = sorted(e["t_s"] for e in effects)
        assert min(b - a for a, b in itertools.pairwise(times)) >= 19.0


def _wait_log(log: Path, pattern: str, timeout_s: float, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not re.search(pattern, log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


def _levels(heard: str) -> list[int]:
    """Escalation levels of the cues the listener printed (``[hh:mm:ss] kind L2: text``)."""
    found = re.findall(r"^\[[\d:]+\] \w+(?: L(\d+))?:", heard, flags=re.MULTILINE)
    return [int(x or 0) for x in found] or [0]


def _retained(port: int, topic: str) -> dict[str, Any] | None:
    got: list[dict[str, Any]] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    c.on_message = lambda _c, _u, m: got.append(json.loads(m.payload))
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        c.loop(0.1)
    c.disconnect()
    return got[0] if got else None


def _commands(
    port: int, runner: str, commands: list[tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Send commands to the service and collect the replies by request id."""
    replies: dict[str, dict[str, Any]] = {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    c.on_message = lambda _c, _u, m: replies.update(
        {json.loads(m.payload).get("id"): json.loads(m.payload)}
    )
    c.connect("127.0.0.1", port)
    c.subscribe(f"gaitcoach/{runner}/reply", qos=1)
    c.loop(0.2)
    for name, args in commands:
        c.publish(f"gaitcoach/{runner}/cmd/{name}", json.dumps(args), qos=1)
    deadline = time.monotonic() + 5
    while len(replies) < len(commands) and time.monotonic() < deadline:
        c.loop(0.1)
    c.disconnect()
    return replies


def test_service_survives_pod_loss_broker_restart_and_sigterm(tmp_path: Path) -> None:
    # The dropout comes late enough (150 s of stream) for a service started on a loaded
    # machine to be streaming by then; the timeline follows the pods' stream time.
    speed, run_stream_s = paced_speed(10.0), 250.0
    with demo_stack(
        "efficient-midfoot",
        run_stream_s / speed,
        speed,
        0.0,
        seed=5,
        faults=["left:dropout@150+30"],
        runner="eve",
        work=tmp_path / "work",
    ) as st:
        t0 = time.monotonic()  # the pods' stream time is (wall time - t0) * speed
        assert st.broker is not None
        cfg = tmp_path / "gaitcoach.toml"
        cfg.write_text(
            f'[runner]\nid = "eve"\nheight_m = 1.70\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {st.port}\nembedded = "never"\n'
            f'[link]\ntime_scale = {speed}\npods = [{{side = "left"}}, {{side = "right"}}]\n'
            f'[session]\ndata_dir = "{tmp_path / "data"}"\n[service]\nlog_level = "info"\n'
        )
        env = dict(st.env)
        log_file = st.work / "service.log"
        svc = subprocess.Popen(
            [sys.executable, "-m", "gaitcoach", "run", "--quiet", "--config", str(cfg)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log_file.open("w"),
            text=True,
        )
        try:
            # Once it streams (start-up takes what it takes on a loaded machine; the
            # broker connection comes first), the commands; then the timeline follows the
            # pods' stream time.
            _wait_log(log_file, r"state=streaming", 60.0, svc)
            assert time.monotonic() - t0 < 140 / speed, "not streaming before the dropout"
            replies = _commands(
                st.port,
                "eve",
                [
                    ("discomfort", {"body_part": "knee", "score": 5, "id": "d1"}),
                    ("mute", {"duration_s": -5, "id": "m1"}),
                    ("warp", {"id": "w1"}),
                ],
            )
            time.sleep(max(0.0, t0 + 195 / speed - time.monotonic()))  # pod back at 180 s
            st.broker.stop()
            time.sleep(2.0)
            st.broker.start()
            time.sleep(30 / speed)
            svc.send_signal(signal.SIGTERM)
            out, _ = svc.communicate(timeout=60)
        finally:
            if svc.poll() is None:
                svc.kill()
        log = log_file.read_text()
        assert svc.returncode == 0, log[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        status = _retained(st.port, "gaitcoach/eve/status")
        session_msg = _retained(st.port, "gaitcoach/eve/session")
    assert status is not None and status.get("online") is False, status
    # Commands: applied or refused with a clear error, one reply each.
    assert replies["d1"]["ok"] is True
    assert replies["m1"]["ok"] is False and replies["m1"]["error"]["code"] == "out_of_range"
    assert replies["w1"]["ok"] is False and replies["w1"]["error"]["code"] == "unknown_command"
    assert session_msg is not None
    with SessionStore(tmp_path / "data") as store:
        (info,) = store.list_sessions()
        assert info.status is SessionStatus.COMPLETE
        data = store.load(info.id)
    assert [(d.body_part, d.score) for d in data.discomfort] == [("knee", 5)]
    assert any(c.kind.value == "discomfort" for c in data.cues)
    assert {c.name for c in data.commands} >= {"discomfort"}
    left_gaps = [g for g in data.gaps if g.foot.value == "left"]
    lost_s = sum(g.end_s - g.start_s for g in left_gaps)
    assert 25.0 < lost_s < 40.0, left_gaps
    assert result["gaps"] >= 1
    assert result["counts"]["commands_ok"] == 1 and result["counts"]["commands_rejected"] == 2
    # Strides on both sides of the loss, for both feet: the session is complete but the gap.
    gap_start = min(g.start_s for g in left_gaps)
    gap_end = max(g.end_s for g in left_gaps)
    for foot in ("left", "right"):
        mine = [s for s in data.strides if s.foot.value == foot]
        assert any(s.end_ic_s < gap_start for s in mine)
        assert any(s.ic_s > gap_end for s in mine)
    right_in_gap = [
        s for s in data.strides if s.foot.value == "right" and gap_start < s.ic_s < gap_end
    ]
    assert len(right_in_gap) > 20  # the other pod never stalled
    assert re.search(r"foot=left msg=\"gap of [0-9.]+ s", log)


def test_rsc_only_pods_give_reduced_metrics(tmp_path: Path) -> None:
    """Pods that only speak Running Speed and Cadence: cadence, speed and stride length."""
    from gaitcoach.demo import demo_config
    from gaitcoach.link import PodSelector
    from gaitcoach.service.config import load_config
    from gaitcoach.service.service import Service
    from gaitcoach.types import Foot

    speed = 5.0
    with demo_stack(
        "efficient-midfoot",
        60 / speed,
        speed,
        0.0,
        pods="rsc:left,rsc:right",
        runner="rsc",
        work=tmp_path / "work",
    ) as st:
        cfg = demo_config(load_config(None), tmp_path / "data", st.port, speed, "rsc")
        selectors = (
            PodSelector(address="D0:0D:02:01:00:00", foot=Foot.LEFT),
            PodSelector(address="D0:0D:02:02:00:01", foot=Foot.RIGHT),
        )
        cfg = dataclasses.replace(cfg, link=dataclasses.replace(cfg.link, pods=selectors))
        seen: list[Any] = []
        svc = Service(cfg, on_state=lambda s: seen.append(s.state.metrics))

        async def stop_later() -> None:
            # In stream time: 40 s after both pods' readings arrive (start-up and a loaded
            # machine take what they take).
            while len(svc.state.rsc) < 2:
                await asyncio.sleep(0.05)
            await asyncio.sleep(40 / speed)
            svc.stop()

        async def main() -> None:
            stopper = asyncio.create_task(stop_later())
            await asyncio.wait_for(svc.run(), 60 / speed + 50)
            stopper.cancel()

        asyncio.run(main())
    running = [m for m in seen if m is not None and m.cadence_spm is not None]
    assert len(running) >= 3, seen[-5:]
    last = running[-1]
    assert 170 < last.cadence_spm < 190  # the profile runs at 180 steps/min
    assert 3.0 < last.speed_mps < 3.6
    assert last.stride_length_m is not None and 2.0 < last.stride_length_m < 2.4
    assert last.foot_strike_angle_deg is None  # reduced metrics: RSC has no strike angle
