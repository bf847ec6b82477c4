"""What an ingest worker holds in memory. A payload over its kind's limit is refused on
receipt, on paho's thread, before it is copied and queued: at the unit level (no broker, no
database), and on real parts (Mosquitto with the hub's 1 MiB message limit, PostgreSQL
blocked under the worker): a runner's flood of QoS 0 payloads of about 1 MiB, which the
receive maximum does not bound, leaves the worker's peak memory where it was."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from gaitcoach.hub.config import HubSettings
from gaitcoach.hub.ingest import QUEUE_MAX, QUEUE_MAX_BYTES, Inbox, IngestWorker, Message
from gaitcoach.hub.records import MAX_BYTES
from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.payloads import StridePayload, encode
from tests.hub.harness import HubStack, count_strides, edge_user, wait_for
from tests.session import factory


class _Worker(IngestWorker):
    """A worker whose broker and database calls are recorded, not made."""

    def __init__(self) -> None:
        super().__init__(MqttSettings(), HubSettings(dsn="host=nowhere"), slot=0)
        self.acked: list[tuple[int, int]] = []
        self.parsed: list[Message] = []
        self._client.ack = self._record_ack  # type: ignore[method-assign]

    def _record_ack(self, mid: int, qos: int) -> paho.MQTTErrorCode:
        self.acked.append((mid, qos))
        return paho.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _parse(self, m: Message, batch: Any, checks: Any) -> None:
        self.parsed.append(m)
        super()._parse(m, batch, checks)


def _msg(topic: str, payload: bytes, qos: int = 0, mid: int = 1) -> paho.MQTTMessage:
    m = paho.MQTTMessage(mid=mid, topic=topic.encode())
    m.payload = payload
    m.qos = qos
    return m


def _queued(w: _Worker) -> int:
    return len(w.inbox)


def _deliver(w: _Worker, *msgs: paho.MQTTMessage) -> None:
    for m in msgs:
        w._on_message(w._client, None, m)


@pytest.mark.parametrize("qos", [0, 1])
def test_an_oversize_payload_is_refused_before_it_is_queued(qos: int) -> None:
    w = _Worker()
    limit = MAX_BYTES["stride"]
    _deliver(w, _msg("gaitcoach/alice/stride", b"x" * (limit + 1), qos, mid=7))
    assert _queued(w) == 0
    assert w.acked == ([(7, 1)] if qos else [])  # acknowledged at once: nothing to retry
    w._step(threading.Event(), idle_s=0.01)
    assert w.parsed == []  # never reached the parser (nor the database)
    assert w.stats.rejected == {"too_large": 1}
    assert w.stats.received == {"stride": 1}


def test_the_limit_is_the_kinds_and_a_payload_at_it_is_queued() -> None:
    w = _Worker()
    _deliver(
        w,
        _msg("gaitcoach/alice/stride", b"x" * MAX_BYTES["stride"]),
        _msg("gaitcoach/alice/sync/strides", b"x" * (MAX_BYTES["stride"] + 1)),
        _msg("gaitcoach/alice/metrics", b"x" * (MAX_BYTES["metrics"] + 1)),
        _msg("gaitcoach/alice/session", b"x" * 2**20),
    )
    assert _queued(w) == 2
    w._merge_early_counts()
    assert w.stats.rejected == {"too_large": 2}


def test_a_topic_that_is_not_a_hub_topic_is_refused_before_it_is_queued() -> None:
    w = _Worker()
    # sync/+ in the subscription also matches kinds the hub does not have.
    _deliver(w, _msg("gaitcoach/alice/sync/other", b"x" * 2**20, qos=1, mid=3))
    assert _queued(w) == 0 and w.acked == [(3, 1)]
    w._merge_early_counts()
    assert w.stats.rejected == {"bad_topic": 1}
    assert not w.stats.received


def _m(payload: bytes, qos: int = 0, topic: str = "t") -> Message:
    return Message(0, 1, qos, topic, payload, None, None)


def test_the_inbox_is_bounded_by_bytes_and_count_and_never_blocks_paho() -> None:
    box = Inbox(max_messages=4, max_bytes=1000)
    assert box.offer(_m(b"x" * 500)) and box.offer(_m(b"x" * 400))
    assert box.nbytes == 902
    assert not box.offer(_m(b"x" * 99))  # QoS 0 over the bytes: refused at once
    assert box.offer(_m(b"x" * 97))  # fits exactly
    assert not box.offer(_m(b""))  # 1000 bytes: nothing more of QoS 0
    # QoS 1 is always taken (the broker's receive maximum bounds it) and counts.
    assert box.offer(_m(b"x" * 5000, qos=1))
    assert len(box) == 4 and box.nbytes == 6001
    assert not box.offer(_m(b""))  # 4 messages
    assert box.get(0).payload == b"x" * 500  # oldest first; room again
    assert box.nbytes == 5500 and not box.offer(_m(b""))  # still over the bytes
    for _ in range(3):
        box.get_nowait()
    assert box.empty() and box.nbytes == 0 and box.offer(_m(b"x" * 998))
    t0 = time.monotonic()
    box.get_nowait()
    with pytest.raises(queue.Empty):
        box.get(timeout=0.05)
    assert time.monotonic() - t0 < 1.0


def test_a_worker_drops_and_counts_qos0_beyond_the_inbox_and_keeps_qos1() -> None:
    w = _Worker()
    assert (w.inbox.max_messages, w.inbox.max_bytes) == (QUEUE_MAX, QUEUE_MAX_BYTES)
    w.inbox = Inbox(max_messages=QUEUE_MAX, max_bytes=3 * MAX_BYTES["metrics"])
    metrics = b"x" * MAX_BYTES["metrics"]  # at the kind's limit: accepted on its own
    _deliver(w, *(_msg("gaitcoach/alice/metrics", metrics) for _ in range(5)))
    _deliver(w, _msg("gaitcoach/alice/stride", b"x" * 10, qos=1, mid=9))
    assert len(w.inbox) == 3  # 2 of the QoS 0 and the QoS 1 one
    assert w.acked == []  # the QoS 1 one waits for its commit
    w._merge_early_counts()
    assert w.stats.rejected == {"queue_full": 3}
    assert w.stats.received == {"metrics": 3}  # the queued ones count when parsed


@pytest.mark.parametrize("session_present", [True, False])
def test_a_resumed_session_drops_what_the_broker_sends_again(session_present: bool) -> None:
    w = _Worker()
    w._client.subscribe = lambda *a, **k: (paho.MQTTErrorCode.MQTT_ERR_SUCCESS, 1)  # type: ignore[method-assign]
    old = w._generation
    w.inbox.offer(Message(old, 1, 1, "gaitcoach/alice/stride", b"a" * 100, None, None))
    w.inbox.offer(Message(old, 0, 0, "gaitcoach/alice/metrics", b"b" * 10, None, None))
    w._on_disconnect(None, None, None, None, None)
    w._on_connect(
        w._client,
        None,
        SimpleNamespace(session_present=session_present),
        ReasonCode(PacketTypes.CONNACK, "Success"),
        None,
    )
    # Not acknowledged, the QoS 1 one comes again on the resumed session; QoS 0 never does.
    held = w.inbox.nbytes
    kept = [w.inbox.get_nowait() for _ in range(len(w.inbox))]
    assert [m.qos for m in kept] == ([0] if session_present else [1, 0])
    assert held == sum(len(m.payload) + len(m.topic) for m in kept)


# -- on real parts ------------------------------------------------------------------------------

FLOOD = 120
"""QoS 0 payloads of about 1 MiB: without the check on receipt the blocked worker held them
all (up to its 20,000-message queue: about 20 GB, then the OOM killer)."""
FLOOD_BYTES = 1_000_000


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _in_flight(port: int) -> int:
    """Bytes queued in the kernel on the TCP connections of ``port`` (sent, not yet read)."""
    total = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        local, remote, state, queues = f[1], f[2], f[3], f[4]
        ports = {int(local.split(":")[1], 16), int(remote.split(":")[1], 16)}
        if state == "01" and port in ports:
            tx, rx = queues.split(":")
            total += int(tx, 16) + int(rx, 16)
    return total


def _drained(port: int, quiet_s: float, timeout_s: float) -> bool:
    """Until nothing is queued on the connections of ``port`` for ``quiet_s``."""
    deadline = time.monotonic() + timeout_s
    since = time.monotonic()
    while time.monotonic() < deadline:
        if _in_flight(port):
            since = time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return True
        time.sleep(0.02)
    return False


def _stride(runner: str, session_id: str) -> bytes:
    s = factory.strides(factory.EFFICIENT, 0.1, seed=1)[0]
    return encode(StridePayload.from_stride(s, runner, 1.7e9, session_id))


def _waiting_for_a_lock(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    ).fetchone()
    return int(row[0]) if row else 0


def _rejected(stats_dir: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in stats_dir.glob("slot-*.json"):
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        for k, v in d["rejected"].items():
            out[k] = out.get(k, 0) + v
    return out


def test_a_flood_of_oversize_qos0_payloads_while_the_database_is_blocked_holds_no_memory(
    stack: HubStack,
) -> None:
    ing = stack.ingest(1, name="limits")
    (pid,) = ing.worker_pids()
    edge = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="limits-alice", protocol=MQTTProtocolVersion.MQTTv5
    )
    edge.username_pw_set(edge_user("alice"), stack.passwords[edge_user("alice")])
    edge.connect(stack.broker.host, stack.broker.port)
    edge.loop_start()
    admin = psycopg.connect(stack.pg.admin_dsn())
    try:
        # The database holds the worker: its first batch waits for a lock (as for a database
        # that is away, nothing is acknowledged and the writer takes nothing more).
        admin.execute("LOCK TABLE hub.strides IN ACCESS EXCLUSIVE MODE")
        held = edge.publish("gaitcoach/alice/stride", _stride("alice", "held-1"), qos=1)
        held.wait_for_publish(5)
        assert wait_for(lambda: _waiting_for_a_lock(admin) > 0, 15.0), ing.log_tail()
        peak_before = _proc_kb(pid, "VmHWM")
        big = b"x" * FLOOD_BYTES  # within the broker's limit, far over a stride's
        for _ in range(FLOOD):
            edge.publish("gaitcoach/alice/stride", big, qos=0).wait_for_publish(10)
        # Until the broker has sent them all and the worker has read them off its socket.
        assert _drained(stack.ingest_port, 1.0, 60.0), ing.log_tail()
        grown_kb = _proc_kb(pid, "VmHWM") - peak_before
    finally:
        admin.rollback()  # the database is back
        admin.close()
    edge.publish("gaitcoach/alice/stride", _stride("alice", "held-2"), qos=1).wait_for_publish(5)
    assert wait_for(
        lambda: {("alice", "held-1"), ("alice", "held-2")} <= set(count_strides(stack)), 20.0
    ), ing.log_tail()
    refused = lambda: _rejected(ing.stats_dir)  # noqa: E731
    assert wait_for(lambda: refused().get("too_large") == FLOOD, 10.0), refused()
    edge.disconnect()
    edge.loop_stop()
    assert ing.stop() == 0
    # Held, they would be FLOOD MB; refused on receipt, each is gone before the next.
    assert grown_kb < FLOOD * FLOOD_BYTES // 1024 // 4, grown_kb


def test_the_stats_file_is_never_written_through_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    stats = tmp_path / "stats"
    stats.mkdir()
    path = stats / "slot-0-1234.json"
    # The stats used to go through the fixed name slot-0-1234.tmp, following symlinks.
    path.with_suffix(".tmp").symlink_to(victim)
    worker = _Worker()
    worker.stats_path = path
    worker._report()
    assert victim.read_text() == "keep me"
    assert json.loads(path.read_text())["slot"] == 0
