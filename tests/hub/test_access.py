"""Access on real parts: an edge's account publishes only into its own runner's tree
(Mosquitto with the hub ACL), the ingest trusts the topic's runner and refuses hostile
payloads (and survives them), sync answers cannot be steered into another runner's tree,
and each database role can do its purpose only."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gaitcoach.hub.schema import INGEST_ROLE, VIEW_ROLE
from gaitcoach.mqtt.payloads import StridePayload, encode
from tests.hub.broker import INGEST_USER
from tests.hub.harness import HubStack, IngestProcess, count_strides, edge_user, wait_for
from tests.session import factory


class Client:
    """A raw MQTT v5 client with an account: what an attacker holding it could send."""

    def __init__(self, stack: HubStack, user: str | None, port: int | None = None) -> None:
        self.acks: dict[int, Any] = {}
        self.messages: list[paho.MQTTMessage] = []
        self.connected = threading.Event()
        self.refused: Any = None
        self.c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"t-{time.monotonic_ns()}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if user is not None:
            self.c.username_pw_set(user, stack.passwords.get(user, "wrong"))
        self.c.on_connect = self._on_connect
        self.c.on_publish = lambda c, u, mid, rc, p: self.acks.__setitem__(mid, rc)
        self.c.on_message = lambda c, u, m: self.messages.append(m)
        self.c.connect(stack.broker.host, port or stack.broker.port)
        self.c.loop_start()
        self.connected.wait(5)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self.refused = rc
        self.connected.set()

    def publish(self, topic: str, payload: bytes | str, **props: Any) -> Any:
        p = Properties(PacketTypes.PUBLISH)
        for k, v in props.items():
            setattr(p, k, v)
        info = self.c.publish(topic, payload, qos=1, properties=p)
        assert wait_for(lambda: info.mid in self.acks, 5.0)
        return self.acks[info.mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture(scope="module")
def ingest(stack: HubStack) -> Iterator[IngestProcess]:
    ing = stack.ingest(1, name="access")
    yield ing
    ing.stop()


def _stride(runner: str, session_id: str, idx: int = 0) -> bytes:
    s = factory.strides(factory.EFFICIENT, 0.1, seed=idx)[0]
    s = type(s)(**{**{f: getattr(s, f) for f in s.__dataclass_fields__}, "index": idx})
    return encode(StridePayload.from_stride(s, runner, 1.7e9, session_id))


def _rejected(ing: IngestProcess) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in ing.stats():
        for k, v in s["rejected"].items():
            out[k] = out.get(k, 0) + v
    return out


def test_an_edge_publishes_only_its_own_runners_tree(
    stack: HubStack, ingest: IngestProcess
) -> None:
    alice = Client(stack, edge_user("alice"))
    # bob's topic with alice's credentials: the broker refuses it (v5: PUBACK says so).
    rc = alice.publish("gaitcoach/bob/stride", _stride("bob", "forged-1"))
    assert rc.is_failure and "authori" in str(rc).lower()
    # alice's own topic claiming to be bob: the ingest stores nothing for bob (nor alice).
    assert not alice.publish("gaitcoach/alice/stride", _stride("bob", "forged-2")).is_failure
    # A wrong password and no account are refused at CONNECT.
    assert Client(stack, "gaitcoach-bob-typo").refused is not None
    assert Client(stack, None).refused is not None
    # The ingest account can read but not write data topics.
    ing = Client(stack, INGEST_USER, stack.ingest_port)
    assert ing.publish("gaitcoach/bob/stride", _stride("bob", "forged-3")).is_failure
    # A control message that does get stored: the pipeline is alive, the forgeries are not.
    assert not alice.publish("gaitcoach/alice/stride", _stride("alice", "real-1")).is_failure
    assert wait_for(lambda: ("alice", "real-1") in count_strides(stack), 10.0)
    stored = {s for _, s in count_strides(stack)}
    assert not stored & {"forged-1", "forged-2", "forged-3"}
    assert wait_for(lambda: _rejected(ingest).get("wrong_runner") == 1, 15.0), _rejected(ingest)
    for c in (alice, ing):
        c.close()


def test_a_sync_answer_cannot_be_steered_into_another_runners_tree(
    stack: HubStack, ingest: IngestProcess
) -> None:
    bob_devices = Client(stack, edge_user("bob"))
    bob_devices.c.subscribe("gaitcoach/bob/#", 1)
    alice = Client(stack, edge_user("alice"))
    alice.c.subscribe("gaitcoach/alice/sync/reply/#", 1)
    time.sleep(0.3)
    check = json.dumps(
        {"v": 1, "type": "sync_check", "runner": "alice", "session_id": "real-1"}
    ).encode()
    alice.publish(
        "gaitcoach/alice/sync/check",
        check,
        ResponseTopic="gaitcoach/bob/sync/reply",
        CorrelationData=b"x",
    )
    alice.publish(
        "gaitcoach/alice/sync/check",
        check,
        ResponseTopic="gaitcoach/alice/sync/reply/me",
        CorrelationData=b"ok",
    )
    assert wait_for(lambda: len(alice.messages) == 1, 10.0)
    reply = alice.messages[0]
    assert getattr(reply.properties, "CorrelationData", None) == b"ok"
    # What the centre holds of alice's session real-1: one stride, left foot, batch 0.
    assert [s[:3] for s in json.loads(reply.payload)["strides"]] == [["left", 0, 1]]
    time.sleep(0.5)
    assert not bob_devices.messages  # nothing reached bob's tree
    assert wait_for(lambda: _rejected(ingest).get("bad_response_topic") == 1, 15.0)
    alice.close()
    bob_devices.close()


HOSTILE: list[tuple[str, bytes]] = [
    ("stride", b"not json"),
    ("stride", b"[1, 2]"),
    ("stride", b"{" * 100_000),
    ("stride", b'{"v": 1, "type": "stride", "runner": "dave", "session_id": "x"}'),
    ("stride", b"\xff\xfe"),
    ("stride", b"x" * 5000),  # too large
    (
        "cue",
        b'{"v": 1, "type": "cue", "runner": "dave", "session_id": "s1", "id": "c", '
        b'"kind": "cadence", "text": "a\\u0000b", "priority": 1, "level": 0, '
        b'"created_unix_s": 1, "trigger": {}}',
    ),
    (
        "cue",
        b'{"v": 1, "type": "cue", "runner": "dave", "session_id": "s1", "id": "c", '
        b'"kind": "cadence", "text": "t", "priority": 1e999, "level": 0, "trigger": {}}',
    ),
    (
        "metrics",
        b'{"v": 1, "type": "metrics", "runner": "dave", "t_unix_s": NaN, '
        b'"activity": "running", "n_strides": 3}',
    ),
    (
        "metrics",
        b'{"v": 1, "type": "metrics", "runner": "dave", "t_unix_s": 1e400, '
        b'"activity": "running", "n_strides": 3}',
    ),
    (
        "session",
        b'{"v": 1, "type": "session", "runner": "dave", "t_unix_s": 1, '
        b'"summary": {"runner": "dave", "session_id": "../../etc", "status": "complete"}}',
    ),
    (
        "session",
        b'{"v": 1, "type": "session", "runner": "dave", "t_unix_s": 1, "summary": '
        + b'{"a":' * 20
        + b"1"
        + b"}" * 20
        + b"}",
    ),
    (
        "sync/strides",
        b'{"v": 1, "type": "sync_strides", "runner": "dave", '
        b'"session_id": "s1\'); DROP TABLE hub.strides; --", "columns": [], "rows": []}',
    ),
    (
        "sync/strides",
        json.dumps(
            {
                "v": 1,
                "type": "sync_strides",
                "runner": "dave",
                "session_id": "s1",
                "columns": ["foot"],
                "rows": [["left"]],
            }
        ).encode(),
    ),
    (
        "sync/session",
        json.dumps(
            {
                "v": 1,
                "type": "sync_session",
                "runner": "dave",
                "session_id": "s1",
                "status": "complete",
                "n_strides": -1,
                "n_cues": 0,
            }
        ).encode(),
    ),
    ("sync/check", b'{"v": 1, "type": "sync_check", "runner": "dave", "session_id": "s1"}'),
]


def test_hostile_payloads_are_refused_counted_and_the_worker_goes_on(
    stack: HubStack, ingest: IngestProcess
) -> None:
    before = _rejected(ingest)
    dave = Client(stack, edge_user("dave"))
    for kind, payload in HOSTILE:
        dave.publish(f"gaitcoach/dave/{kind}", payload)
    # Also a stride with a huge index and one outside any session.
    bad_idx = json.loads(_stride("dave", "s1"))
    bad_idx["stride"]["index"] = 2**40
    dave.publish("gaitcoach/dave/stride", json.dumps(bad_idx))
    no_session = json.loads(_stride("dave", "s1"))
    no_session["session_id"] = None
    dave.publish("gaitcoach/dave/stride", json.dumps(no_session))
    dave.publish("gaitcoach/dave/stride", _stride("dave", "s1", idx=7))
    assert wait_for(lambda: ("dave", "s1") in count_strides(stack), 15.0), ingest.log_tail()
    assert count_strides(stack)[("dave", "s1")] == 1
    assert wait_for(
        lambda: sum(_rejected(ingest).values()) - sum(before.values()) == len(HOSTILE) + 2, 15.0
    ), _rejected(ingest)
    got = _rejected(ingest)
    for reason in (
        "bad_json",
        "too_large",
        "bad_value",
        "out_of_range",
        "bad_session",
        "no_session",
        "bad_response_topic",
    ):
        assert got.get(reason, 0) > before.get(reason, 0), (reason, got)
    with stack.view() as conn:
        assert conn.execute("SELECT count(*) FROM hub.strides").fetchone()[0] > 0
    assert ingest.proc.poll() is None and len(ingest.worker_pids()) == 1
    dave.close()


def test_each_database_role_does_its_purpose_only(stack: HubStack) -> None:
    view = psycopg.connect(stack.pg.dsn(VIEW_ROLE, stack.view_db_password), autocommit=True)
    ingest = psycopg.connect(stack.pg.dsn(INGEST_ROLE, stack.ingest_db_password), autocommit=True)
    assert view.execute("SELECT count(*) FROM hub.sessions").fetchone() is not None
    for conn, sql in (
        (view, "INSERT INTO hub.runners (runner) VALUES ('mallory')"),
        (view, "UPDATE hub.strides SET cadence_spm = 0"),
        (ingest, "DELETE FROM hub.strides"),
        (ingest, "TRUNCATE hub.strides"),
        (ingest, "DROP TABLE hub.strides"),
        (ingest, "CREATE TABLE hub.x (a int)"),
        (ingest, "ALTER TABLE hub.strides ADD COLUMN x int"),
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(stack.pg.dsn(VIEW_ROLE, "wrong password"))
    view.close()
    ingest.close()


@pytest.mark.parametrize(
    ("sid", "started"),
    [("early", "0001-01-01T00:00:00+05:00"), ("late", "9999-12-31T23:00:00-05:00")],
)
def test_a_start_time_beyond_the_calendar_in_utc_is_refused_and_the_team_view_reads_on(
    stack: HubStack, ingest: IngestProcess, sid: str, started: str
) -> None:
    from gaitcoach.hub.team import team_view

    before = _rejected(ingest).get("bad_value", 0)
    erin = Client(stack, edge_user("erin"))
    # Valid ISO 8601 with an offset, but before year 1 (or after 9999) once in UTC:
    # PostgreSQL stores it (as BC, or year 10000) and no reader can load it back.
    record = {
        "v": 1,
        "type": "sync_session",
        "runner": "erin",
        "session_id": sid,
        "status": "complete",
        "started_utc": started,
        "n_strides": 0,
        "n_cues": 0,
    }
    erin.publish("gaitcoach/erin/sync/session", json.dumps(record))
    erin.close()
    assert wait_for(lambda: _rejected(ingest).get("bad_value", 0) > before, 15.0), (
        _rejected(ingest),
        ingest.log_tail(),
    )
    with stack.view() as conn:
        assert conn.execute(
            "SELECT count(*) FROM hub.sessions WHERE runner = 'erin' AND session_id = %s", (sid,)
        ).fetchone() == (0,)
        team_view(conn)  # one runner's payload must not break the whole team's view
