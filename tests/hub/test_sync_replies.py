"""What ``gaitcoach sync`` keeps of the messages on its reply topic: only the answer to a
check it is waiting for (unit level: no broker; the client's callbacks are called directly);
its state file is written inside the data directory only."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gaitcoach.hub.sync import SyncState, _Client
from gaitcoach.mqtt.config import MqttSettings


def _reply(topic: str, correlation: bytes, payload: bytes) -> paho.MQTTMessage:
    m = paho.MQTTMessage(mid=1, topic=topic.encode())
    m.payload = payload
    m.properties = Properties(PacketTypes.PUBLISH)
    m.properties.CorrelationData = correlation
    return m


def test_answers_to_checks_never_asked_are_not_kept() -> None:
    c = _Client(MqttSettings(host="127.0.0.1"), "alice")
    # Anyone who may publish into alice's reply tree, with a new correlation each time.
    for i in range(2000):
        c._on_message(c.client, None, _reply(c.reply_topic, i.to_bytes(4, "big"), b"x" * 1000))
    assert c._replies == {}


def test_the_answer_to_the_check_waited_for_is_taken() -> None:
    c = _Client(MqttSettings(host="127.0.0.1"), "alice")
    sent: list[bytes] = []

    def publish(topic: str, payload: bytes, qos: int, properties: Any) -> None:
        sent.append(properties.CorrelationData)
        answer = (
            b'{"v":1,"type":"sync_status","runner":"alice","session_id":"run-1","known":true,'
            b'"status":"complete","synced":true,"strides":[["left",0,3,"abc"]],"cues":[0,""]}'
        )
        # The answer arrives on paho's thread while check() waits.
        threading.Thread(
            target=c._on_message, args=(c.client, None, _reply(c.reply_topic, sent[0], answer))
        ).start()

    c.client.publish = publish  # type: ignore[assignment]
    digest = c.check("alice", "run-1", timeout_s=5.0)
    assert digest is not None and digest.known and digest.strides[("left", 0)].count == 3
    # Answered: a repeat of the same answer is not kept either.
    c._on_message(c.client, None, _reply(c.reply_topic, sent[0], b"{}"))
    assert c._replies == {} and c._asked == set()


def test_the_sync_state_is_never_written_through_a_planted_symlink(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    # The state used to be written to the fixed name hub-sync.tmp, following symlinks.
    (data / "hub-sync.tmp").symlink_to(victim)
    state = SyncState(data)
    state.mark("run-1", 10, 2)
    assert victim.read_text() == "keep me"
    assert SyncState(data).verified["run-1"]["strides"] == 10
