"""A ``start``, and the first session at startup, do their store work off the event loop
(real Mosquitto, real SQLite): while another writer holds the store's lock the loop goes on,
and commands still apply in order."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from firmware_sim.bluez.daemon import PrivateBus
from gaitcoach.coach import StartSession
from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import Service
from gaitcoach.session import Recorder, SessionStatus, SessionStore
from gaitcoach.session.store import DB_NAME, connect
from gaitcoach.types import LinkState
from tests.link.harness import private_bus, serve
from tests.mqtt.broker import running_mosquitto
from tests.mqtt.clients import Recorder as MqttRecorder
from tests.mqtt.clients import publish
from tests.service.test_command_safety import RUNNER, service_on_broker

__all__ = ["private_bus"]


@contextmanager
def store_write_locked(data_dir: Path) -> Iterator[None]:
    """Another writer (the command line, a checkpoint) holds the store's write lock."""
    db = sqlite3.connect(data_dir / DB_NAME, timeout=0)
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        db.rollback()
        db.close()


def spy_new_recorder(svc: Service) -> tuple[threading.Event, list[int]]:
    """Note the thread that makes each new recorder; the event is set when one is begun."""
    begun, threads = threading.Event(), []
    real = svc._new_recorder

    def spy(session_id: str | None) -> Recorder | None:
        threads.append(threading.get_ident())
        begun.set()
        return real(session_id)

    svc._new_recorder = spy  # type: ignore[method-assign]
    return begun, threads


async def until(event: threading.Event, timeout_s: float = 10.0) -> None:
    async def poll() -> None:
        while not event.is_set():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)


async def test_start_waits_for_a_locked_store_off_the_loop(tmp_path: Path) -> None:
    data = tmp_path / "work" / "data"
    async with service_on_broker(tmp_path) as (svc, broker, rec):
        old, running = svc.recorder, svc.state.session_id
        begun, threads = spy_new_recorder(svc)
        with store_write_locked(data):
            publish(broker, f"gaitcoach/{RUNNER}/cmd/start", b'{"id": "s", "session_id": "run-9"}')
            # This coroutine runs on the service's loop: it gets here only if the loop is free.
            await until(begun)
            for _ in range(10):
                await asyncio.sleep(0.01)
            assert threads and threading.get_ident() not in threads  # made in a worker thread
            # Nothing changed yet: the running session goes on until the new one is claimed.
            assert svc.recorder is old and svc.state.session_id == running
            assert not [m for m in rec.on("/reply") if m.json()["id"] == "s"]
        reply = await rec.wait_for("/reply", lambda d: d["id"] == "s", timeout_s=30.0)
        assert reply["ok"] and reply["result"] == {"session_id": "run-9"}, reply
        assert svc.state.session_id == "run-9" and svc.recorder is not old
    with SessionStore(data) as store:
        sessions = {s.id: s.status for s in store.list_sessions()}
    assert sessions == {running: SessionStatus.COMPLETE, "run-9": SessionStatus.COMPLETE}


async def test_commands_apply_in_order_while_a_start_waits_for_the_store(tmp_path: Path) -> None:
    data = tmp_path / "work" / "data"
    async with service_on_broker(tmp_path) as (svc, broker, rec):
        first = svc.state.session_id
        begun, _ = spy_new_recorder(svc)
        with store_write_locked(data):
            publish(broker, f"gaitcoach/{RUNNER}/cmd/start", b'{"id": "s", "session_id": "run-9"}')
            await until(begun)
            publish(broker, f"gaitcoach/{RUNNER}/cmd/stop", b'{"id": "e"}')
            await asyncio.sleep(0.2)  # the stop has arrived; it must wait for the start
            assert svc.state.session_id == first and svc.recorder is not None
        start = await rec.wait_for("/reply", lambda d: d["id"] == "s", timeout_s=30.0)
        stop = await rec.wait_for("/reply", lambda d: d["id"] == "e", timeout_s=30.0)
        assert start["ok"] and start["result"] == {"session_id": "run-9"}
        # The stop stopped the session the start began, not the one before it.
        assert stop["ok"] and stop["result"] == {"session_id": "run-9"}, stop
        assert svc.recorder is None
        await svc.wait_closed()
    with SessionStore(data) as store:
        sessions = {s.id: s.status for s in store.list_sessions()}
        commands = [c.name for c in store.load("run-9").commands]
    assert sessions == {first: SessionStatus.COMPLETE, "run-9": SessionStatus.COMPLETE}
    assert commands == ["stop"]


async def test_a_start_cancelled_while_its_store_is_locked_leaves_no_live_session(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    cfg = config_from_dict(
        {"runner": {"id": RUNNER, "height_m": 1.7}, "session": {"data_dir": str(data)}}
    )
    svc = Service(cfg)
    svc._open_session(None, svc._new_recorder(None))
    first, old = svc.state.session_id, svc.recorder
    begun, _ = spy_new_recorder(svc)
    with store_write_locked(data):
        task = asyncio.create_task(svc.command(StartSession("run-c")))
        await until(begun)
        task.cancel()  # the service stops (the publisher cancels commands in flight)
        with pytest.raises(asyncio.CancelledError):
            await task
    assert svc.recorder is old and svc.state.session_id == first
    # The session the thread claimed after all is closed as never used, not left recording.
    status = None
    for _ in range(1000):
        with SessionStore(data) as store:
            status = {s.id: s.status for s in store.list_sessions()}.get("run-c")
        if status is SessionStatus.FAILED:
            break
        await asyncio.sleep(0.01)
    assert status is SessionStatus.FAILED
    svc._close_session(SessionStatus.COMPLETE)
    await svc.wait_closed()


async def test_the_first_session_waits_for_a_locked_store_off_the_loop(
    private_bus: PrivateBus, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    connect(data / DB_NAME).close()  # the store exists, so another writer can hold its lock
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        cfg = config_from_dict(
            {
                "runner": {"id": RUNNER, "height_m": 1.7},
                "mqtt": {"host": broker.host, "port": broker.port, "embedded": "never"},
                "session": {"data_dir": str(data)},
            }
        )
        svc = Service(cfg)
        begun, threads = spy_new_recorder(svc)
        async with serve(private_bus):
            with MqttRecorder(broker, [f"gaitcoach/{RUNNER}/status"]) as rec:
                with store_write_locked(data):
                    task = asyncio.create_task(svc.run())
                    await until(begun, 60.0)
                    for _ in range(10):
                        await asyncio.sleep(0.01)  # the loop is free while the store is locked
                    assert threads and threading.get_ident() not in threads
                    assert svc.recorder is None and svc.state.session_id is None
                for _ in range(3000):
                    if svc.recorder is not None:
                        break
                    await asyncio.sleep(0.01)
                first = svc.state.session_id
                assert svc.recorder is not None and first is not None
                await rec.wait_for("/status", lambda d: d.get("session_id") == first, 30.0)
                # Stopped once both pods stream: a stop while bleak is still connecting leaves
                # this process unable to connect again (a later in-process run's pods time out).
                for _ in range(3000):
                    states = [p.state for p in svc.link.status()] if svc.link else []
                    if states and all(s is LinkState.STREAMING for s in states):
                        break
                    await asyncio.sleep(0.01)
                svc.stop()
                result = await asyncio.wait_for(task, 60)
    assert result.session_ids == [first]
    with SessionStore(data) as store:
        assert {s.id: s.status for s in store.list_sessions()} == {first: SessionStatus.COMPLETE}
