"""The Node-RED example flow (docs/integrations/node-red-cue-notifications.json): its wiring is
consistent, it listens on the documented topics, and its function nodes, run by Node.js the
way Node-RED runs them (``msg`` and ``node`` in, a message or null out), turn the service's
real cues into notifications and drop expired, foreign and hostile ones. (Node-RED itself is
not installed here: its ``mqtt in`` and ``http request`` nodes are not exercised.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gaitcoach.mqtt import MqttPublisher
from gaitcoach.mqtt.payloads import CuePayload, status_offline
from tests.mqtt.broker import MosquittoBroker
from tests.mqtt.clients import Recorder
from tests.mqtt.test_topics import make_cue, settings_for
from tests.support import require

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "docs" / "integrations" / "node-red-cue-notifications.json"

HARNESS = r"""
// A Node-RED function node: the code runs as the body of function(msg, node, ...).
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const warnings = [];
const node = { warn: (w) => warnings.push(String(w)), error: (e) => warnings.push(String(e)) };
const fn = new Function('msg', 'node', 'context', 'flow', 'global', 'env', input.code);
const out = input.messages.map((m) => {
  try { return fn(Object.assign({}, m), node, {}, {}, {}, {}); }
  catch (e) { return { threw: String(e) }; }
});
process.stdout.write(JSON.stringify({ out, warnings }));
"""


def flow() -> list[dict[str, Any]]:
    return json.loads(FLOW.read_text())


def function_code(name: str) -> str:
    return next(n["func"] for n in flow() if n.get("type") == "function" and n["name"] == name)


def run_function(code: str, messages: list[dict[str, Any]]) -> list[Any]:
    require(shutil.which("node") is not None, "Node.js is not installed (./run test needs npm)")
    p = subprocess.run(
        ["node", "-e", HARNESS],
        input=json.dumps({"code": code, "messages": messages}),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    out: list[Any] = json.loads(p.stdout)["out"]
    assert not any(isinstance(o, dict) and "threw" in o for o in out), out
    return out


def test_flow_is_wired_to_the_documented_topics() -> None:
    nodes = flow()
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids))
    for n in nodes:
        for output in n.get("wires", []):
            assert all(target in ids for target in output), n["id"]
        if "z" in n:
            assert n["z"] == "gc_tab"
    inputs = {n["topic"]: n for n in nodes if n["type"] == "mqtt in"}
    assert set(inputs) == {"gaitcoach/+/cue", "gaitcoach/+/status"}
    assert all(n["broker"] == "gc_broker" and n["qos"] == "1" for n in inputs.values())
    assert all(n["datatype"] == "utf8" for n in inputs.values())  # parsed, checked, by us


async def test_real_cues_become_notifications_and_bad_ones_are_dropped(
    mosquitto: MosquittoBroker,
) -> None:
    now = time.time()
    with Recorder(mosquitto, ["gaitcoach/alice/#"]) as rec:
        async with MqttPublisher(settings_for(mosquitto), "alice") as pub:
            assert await pub.wait_connected(5.0)
            pub.publish_cue(make_cue(now))
            cue = await rec.wait_for("/cue")
    live = {"topic": "gaitcoach/alice/cue", "payload": rec.on("/cue")[0].payload.decode()}
    expired = {**asdict(CuePayload.from_cue(make_cue(now - 60), "alice"))}
    hostile = {**cue, "text": "\u001b[31m<b>go</b>\u0007" + "x" * 1000, "priority": 90}
    messages = [
        live,
        {"topic": "gaitcoach/alice/cue", "payload": json.dumps(expired)},
        {"topic": "gaitcoach/bob/cue", "payload": live["payload"]},  # says runner alice
        {"topic": "gaitcoach/alice/cue", "payload": "not json"},
        {"topic": "gaitcoach/alice/cue", "payload": "[1]"},
        {"topic": "gaitcoach/alice/cue", "payload": json.dumps({**cue, "v": 2})},
        {"topic": "gaitcoach/alice/cue", "payload": json.dumps({**cue, "text": 7})},
        {"topic": "gaitcoach/alice/cue", "payload": json.dumps(hostile)},
    ]
    out = run_function(function_code("cue -> notification"), messages)
    assert out[0]["payload"] == "Quicker steps"
    assert out[0]["headers"] == {"Title": "gaitcoach alice: cadence", "Priority": "default",
                                 "Tags": "runner"}  # fmt: skip
    assert out[1:7] == [None] * 6
    assert out[7]["payload"].startswith(" [31m<b>go</b> ") and len(out[7]["payload"]) == 300
    assert out[7]["headers"]["Priority"] == "high"


def test_a_lost_service_is_notified_once_and_only_live() -> None:
    lost = json.dumps(asdict(status_offline("alice", time.time(), "connection lost")))
    stopped = json.dumps(asdict(status_offline("alice", time.time(), "stopped")))
    topic = "gaitcoach/alice/status"
    out = run_function(
        function_code("offline -> notification"),
        [
            {"topic": topic, "payload": lost, "retain": False},
            {"topic": topic, "payload": lost, "retain": True},  # replayed at connect
            {"topic": topic, "payload": stopped, "retain": False},  # a clean stop
            {"topic": "gaitcoach/bob/status", "payload": lost, "retain": False},
        ],
    )
    assert out[0]["payload"] == "The gaitcoach service of alice lost its connection."
    assert out[1:] == [None, None, None]
