"""The command path keeps its contract on a real Mosquitto (issue 14): every command message
gets exactly one reply, on a topic of the commanding runner's own tree, with its proper error
code; a refused command changes nothing; memory and log stay bounded under a flood."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import pytest

from gaitcoach.coach import Command
from gaitcoach.mqtt import MqttPublisher
from gaitcoach.mqtt.publisher import HANDLED_KEEP
from gaitcoach.mqtt.requests import MAX_COMMAND_BYTES
from tests.mqtt.broker import RUNNER_PASSWORDS, SERVICE_USER, MosquittoBroker
from tests.mqtt.clients import Commander, Recorder, validate
from tests.mqtt.test_topics import settings_for

RUNNER = "alice"
BASE = f"gaitcoach/{RUNNER}"


class Applied:
    """A command handler that only records what it was asked to apply."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def __call__(self, command: Command) -> dict[str, Any]:
        self.commands.append(command)
        return {"done": True}


async def replies_by_correlation(
    rec: Recorder, expected: int, timeout_s: float = 10.0
) -> dict[bytes, list[dict[str, Any]]]:
    """Wait for ``expected`` replies, then a little longer for any extra ones."""
    deadline = time.monotonic() + timeout_s
    while len(rec.on("")) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    out: dict[bytes, list[dict[str, Any]]] = {}
    for m in rec.messages:
        assert m.topic == BASE + "/reply" or m.topic.startswith(BASE + "/reply/"), m.topic
        assert m.correlation is not None, m
        out.setdefault(m.correlation, []).append(validate(m.payload))
    return out


def deep(depth: int) -> bytes:
    return b'{"duration_s": ' + b"[" * depth + b"]" * depth + b"}"


# (command suffix, payload, response topic or None, expected code)
CASES: list[tuple[str, bytes, str | None, str]] = [
    # Wildcards in the response topic made paho's publish raise: no reply at all.
    ("mute", b'{"duration_s": 5}', f"{BASE}/reply/#", "bad_response_topic"),
    ("mute", b'{"duration_s": 5}', f"{BASE}/+/x", "bad_response_topic"),
    ("mute", b'{"duration_s": 5}', "#", "bad_response_topic"),
    # Replies into someone else's tree (confused deputy) or back into the command tree.
    ("mute", b'{"duration_s": 5}', "gaitcoach/bob/cue", "bad_response_topic"),
    ("mute", b'{"duration_s": 5}', f"{BASE}/cmd/stop", "bad_response_topic"),
    ("mute", b'{"duration_s": 5}', f"{BASE}/replyx", "bad_response_topic"),
    ("mute", b'{"duration_s": 5}', "x" * 300, "bad_response_topic"),
    # Deep nesting: RecursionError inside the parser or the reply (no reply at all before).
    ("mute", deep(5), None, "bad_json"),
    ("mute", deep(900), None, "bad_json"),
    ("mute", deep(990), None, "bad_json"),
    ("mute", deep(2000), None, "bad_json"),
    # Huge numbers and non-JSON constants: internal_error before.
    ("mute", b'{"duration_s": 1e999}', None, "out_of_range"),
    ("mute", b'{"duration_s": -1e999}', None, "out_of_range"),
    ("mute", b'{"duration_s": ' + b"9" * 400 + b"}", None, "out_of_range"),
    ("mute", b'{"duration_s": ' + b"9" * 4000 + b"}", None, "out_of_range"),
    ("mute", b'{"duration_s": NaN}', None, "bad_json"),
    ("discomfort", b'{"body_part": "knee", "score": 1e999}', None, "out_of_range"),
    ("discomfort", b'{"body_part": "knee", "score": ' + b"7" * 300 + b"}", None, "out_of_range"),
    # Odd strings and encodings.
    ("discomfort", b'{"body_part": "knee", "score": 2, "note": "\\ud800"}', None, "bad_value"),
    ("mute", b'{"duration_s": 5, "id": "a\\u0000b"}', None, "bad_value"),
    ("mute", b'{"duration_s": 5, "id": 7}', None, "bad_value"),
    ("mute", b"\xff\xfe{\x00}\x00", None, "bad_json"),
    ("mute", b'{"duration_s": 5, "duration_s": -1}', None, "bad_json"),
    ("mute", b'{"duration_s": 5, "v": true}', None, "bad_version"),
    ("start", b'{"session_id": "../../etc/x"}', None, "bad_value"),
    ("x" * 500, b"{}", None, "unknown_command"),
    # Too large (a single 4 MB log line before).
    ("mute", b'{"duration_s": 5, "note": "' + b"x" * MAX_COMMAND_BYTES + b'"}', None, "too_large"),
]


async def test_every_command_gets_exactly_one_proper_reply(mosquitto: MosquittoBroker) -> None:
    applied = Applied()
    with (
        Recorder(mosquitto, [f"{BASE}/reply/#"]) as rec,
        Recorder(mosquitto, ["#"]) as spy,
        Commander(mosquitto) as app,
    ):
        async with MqttPublisher(settings_for(mosquitto), RUNNER, command_handler=applied) as pub:
            assert await pub.connection.wait_subscribed(5.0)
            for i, (name, payload, response, _) in enumerate(CASES):
                app.send(
                    f"{BASE}/cmd/{name}",
                    payload,
                    response_topic=response,
                    correlation=str(i).encode(),
                )
            replies = await replies_by_correlation(rec, len(CASES))
            assert await pub.flush()
        for i, (name, payload, response, code) in enumerate(CASES):
            got = replies.get(str(i).encode(), [])
            assert len(got) == 1, (i, name, payload[:60], response, got)
            assert got[0]["ok"] is False and got[0]["error"]["code"] == code, (i, got[0])
            assert len(got[0]["error"]["message"]) < 400
            assert len(got[0]["command"]) <= 64
        assert applied.commands == []  # a refused command changes nothing
        assert pub.stats.commands_rejected == len(CASES)
        assert sum(pub.stats.rejected_by_code.values()) == len(CASES)
        # The service published nothing outside its runner's tree (no confused deputy).
        outside = [m.topic for m in spy.messages if not m.topic.startswith(BASE + "/")]
        assert outside == []


async def test_a_reply_to_another_runners_tree_is_refused_despite_a_wide_account(
    mosquitto_auth: MosquittoBroker,
) -> None:
    # The service account may write every runner's topics; alice's credentials may not write
    # bob's. A v5 response topic must not let alice borrow the service's rights.
    service = settings_for(
        mosquitto_auth, username=SERVICE_USER, password=RUNNER_PASSWORDS[SERVICE_USER]
    )
    applied = Applied()
    bob_watch = Recorder(
        mosquitto_auth,
        ["gaitcoach/bob/#"],
        username=SERVICE_USER,
        password=RUNNER_PASSWORDS[SERVICE_USER],
    )
    alice_replies = Recorder(
        mosquitto_auth,
        [f"{BASE}/reply/#"],
        username=RUNNER,
        password=RUNNER_PASSWORDS[RUNNER],
    )
    alice = Commander(mosquitto_auth, username=RUNNER, password=RUNNER_PASSWORDS[RUNNER])
    with bob_watch, alice_replies, alice:
        async with MqttPublisher(service, RUNNER, command_handler=applied) as pub:
            assert await pub.connection.wait_subscribed(5.0)
            for i, topic in enumerate(("gaitcoach/bob/cue", "gaitcoach/bob/status")):
                alice.send(
                    f"{BASE}/cmd/mute",
                    b'{"duration_s": 600}',
                    response_topic=topic,
                    correlation=f"c{i}".encode(),
                )
            replies = await replies_by_correlation(alice_replies, 2)
            assert await pub.flush()
        await asyncio.sleep(0.2)
    assert bob_watch.messages == []
    assert [r[0]["error"]["code"] for r in replies.values()] == ["bad_response_topic"] * 2
    assert applied.commands == []


async def test_retained_commands_are_not_executed_and_the_reply_says_so(
    mosquitto: MosquittoBroker,
) -> None:
    applied = Applied()
    with Recorder(mosquitto, [f"{BASE}/reply/#"]) as rec, Commander(mosquitto) as app:
        # Left on the broker by some app before the service starts.
        app.send(f"{BASE}/cmd/mute", b'{"id": "r", "duration_s": 60}', retain=True)
        async with MqttPublisher(settings_for(mosquitto), RUNNER, command_handler=applied) as pub:
            assert await pub.connection.wait_subscribed(5.0)
            first = await rec.wait_for("/reply", lambda d: d["id"] is None)
            # Knock the service's connection off (same client id): it reconnects, and the
            # broker delivers the retained command again.
            with Commander(mosquitto, client_id="gaitcoach-alice"):
                await asyncio.sleep(0.3)
            deadline = time.monotonic() + 10
            while pub.connection.stats.connects < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            while len(rec.messages) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            assert pub.connection.stats.connects >= 2
        app.send(f"{BASE}/cmd/mute", b"", retain=True)  # clear it
    assert first["ok"] is False and first["error"]["code"] == "retained"
    assert "retain" in first["error"]["message"]
    codes = [m.json()["error"]["code"] for m in rec.messages]
    assert codes == ["retained"] * pub.connection.stats.connects
    assert applied.commands == []


async def test_a_command_flood_keeps_memory_and_log_bounded(
    mosquitto: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    applied = Applied()
    n = 600
    big = b"y" * 3000
    with (
        Recorder(mosquitto, [f"{BASE}/reply/#"]) as rec,
        Commander(mosquitto) as app,
        caplog.at_level(logging.WARNING, logger="gaitcoach.mqtt.publisher"),
    ):
        async with MqttPublisher(settings_for(mosquitto), RUNNER, command_handler=applied) as pub:
            assert await pub.connection.wait_subscribed(5.0)
            for i in range(n):
                payload = b'{"duration_s": "' + big + b'"}' if i % 2 else b'{"volume": 1}'
                app.send(f"{BASE}/cmd/mute", payload, correlation=str(i).encode(), wait=False)
            replies = await replies_by_correlation(rec, n, timeout_s=30.0)
    assert len(replies) == n and all(len(r) == 1 for r in replies.values())
    assert pub.stats.rejected_by_code == Counter({"bad_value": n // 2, "unknown_argument": n // 2})
    assert len(pub.handled_commands_) == HANDLED_KEEP
    kept = pub.handled_commands_[-1]
    assert kept.error_message is not None and len(kept.error_message) < 300
    assert all(len(str(v)) <= 220 for v in kept.args.values())
    lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert 1 <= len(lines) <= 20  # rate limited, not one line per command
    assert max(len(line) for line in lines) < 600  # values cut, not logged whole
    assert applied.commands == []


async def _until(pred: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not pred() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return bool(pred())


async def test_a_reply_held_while_the_broker_is_away_keeps_its_correlation_data(
    mosquitto: MosquittoBroker,
) -> None:
    release = asyncio.Event()
    asked: list[Command] = []

    async def slow(command: Command) -> dict[str, Any]:
        asked.append(command)
        await release.wait()  # e.g. a start whose store is locked by another writer
        return {"done": True}

    # Reconnects no sooner than 1 s: the recorder below subscribes again first.
    settings = settings_for(mosquitto, reconnect_min_s=1.0)
    with Recorder(mosquitto, [f"{BASE}/reply/#"]) as rec, Commander(mosquitto) as app:
        async with MqttPublisher(settings, RUNNER, command_handler=slow) as pub:
            assert await pub.connection.wait_subscribed(5.0)
            app.send(f"{BASE}/cmd/mute", b'{"duration_s": 5}', response_topic=f"{BASE}/reply/app",
                     correlation=b"corr-1")  # fmt: skip
            assert await _until(lambda: bool(asked))
            mosquitto.stop()
            try:
                assert await _until(lambda: not pub.connection.connected)
                release.set()
                assert await _until(lambda: pub.queued == 1)  # the reply waits in the outbox
            finally:
                mosquitto.start()
            assert await _until(lambda: bool(rec.on("/reply/app")))
            assert await pub.flush()
    [reply] = rec.on("/reply/app")
    assert reply.json()["ok"] is True
    assert reply.correlation == b"corr-1"  # lost in the outbox before
