"""The service's command path on a real Mosquitto: session ids cannot name files outside the
data directory, and a refused ``start`` changes nothing (issue 14)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gaitcoach.mqtt import MqttPublisher, MqttSettings
from gaitcoach.safepath import UnsafePathError
from gaitcoach.service.closing import summarise
from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import Service
from gaitcoach.session import SessionStatus, SessionStore
from tests.mqtt.broker import MosquittoBroker, running_mosquitto
from tests.mqtt.clients import Recorder, publish, validate

RUNNER = "nia"


@asynccontextmanager
async def service_on_broker(
    tmp_path: Path,
) -> AsyncIterator[tuple[Service, MosquittoBroker, Recorder]]:
    """A service (no pods: its sessions and commands only) answering on a real broker."""
    cfg = config_from_dict(
        {
            "runner": {"id": RUNNER, "height_m": 1.7},
            "session": {"data_dir": str(tmp_path / "work" / "data")},
        }
    )
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        settings = MqttSettings(host=broker.host, port=broker.port, connect_timeout_s=1.0)
        svc = Service(cfg)
        with Recorder(broker, [f"gaitcoach/{RUNNER}/reply"]) as rec:
            async with MqttPublisher(settings, RUNNER, command_handler=svc.command) as pub:
                assert await pub.wait_connected(5.0)
                svc.publisher = pub
                svc._open_session(None, svc._new_recorder(None))
                try:
                    yield svc, broker, rec
                finally:
                    if svc.recorder is not None:
                        svc._close_session(SessionStatus.COMPLETE)
                    await svc.wait_closed()


async def command(
    broker: MosquittoBroker, rec: Recorder, name: str, payload: str, request_id: str
) -> dict[str, Any]:
    publish(broker, f"gaitcoach/{RUNNER}/cmd/{name}", payload.encode())
    reply = await rec.wait_for("/reply", lambda d: d["id"] == request_id, timeout_s=30.0)
    validate(rec.on("/reply")[-1].payload)
    await asyncio.sleep(0.1)  # a second reply to the same command would arrive by now
    assert [m.json()["id"] for m in rec.on("/reply")].count(request_id) == 1
    return reply


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*")}


TRAVERSAL_IDS = ["../../escape", "/tmp/gaitcoach-escape", "reports/../../x", "..", "a\\b", "-x"]


async def test_start_with_a_path_as_session_id_is_refused(tmp_path: Path) -> None:
    async with service_on_broker(tmp_path) as (svc, broker, rec):
        running = svc.state.session_id
        before = files_under(tmp_path / "work")
        for i, sid in enumerate(TRAVERSAL_IDS):
            body = f'{{"id": "t{i}", "session_id": {sid!r}}}'.replace("'", '"')
            body = body.replace("\\", "\\\\")
            reply = await command(broker, rec, "start", body, f"t{i}")
            assert reply["ok"] is False and reply["error"]["code"] == "bad_value", reply
        assert svc.state.session_id == running and svc.recorder is not None
        assert files_under(tmp_path / "work") - before <= {
            p for p in files_under(tmp_path / "work") if p.name.startswith("sessions.sqlite")
        }
        # stop writes the report of the running session, inside the data directory.
        await command(broker, rec, "stop", '{"id": "end"}', "end")
    assert svc.report_path is not None
    assert svc.report_path.parent == (tmp_path / "work" / "data" / "reports").resolve()
    assert not Path("/tmp/gaitcoach-escape.html").exists()
    assert not (tmp_path / "escape.html").exists()


def test_the_report_writer_refuses_a_path_as_session_id(tmp_path: Path) -> None:
    cfg = config_from_dict({"session": {"data_dir": str(tmp_path / "data")}})
    for sid in ("../escape", "/tmp/escape"):
        with pytest.raises(UnsafePathError):
            st = cfg.session_settings()
            summarise(st.data_dir, sid, st.advice_path)
    assert not (tmp_path / "escape.html").exists()


async def test_start_with_the_running_or_a_used_id_changes_nothing(tmp_path: Path) -> None:
    async with service_on_broker(tmp_path) as (svc, broker, rec):
        first = await command(broker, rec, "start", '{"id": "a", "session_id": "run-1"}', "a")
        assert first["ok"] and first["result"] == {"session_id": "run-1"}
        recorder = svc.recorder
        # The running session's id: refused, and the same recorder goes on recording.
        again = await command(broker, rec, "start", '{"id": "b", "session_id": "run-1"}', "b")
        assert again["ok"] is False and again["error"]["code"] == "conflict"
        assert "run-1 is running" in again["error"]["message"]
        assert svc.recorder is recorder and svc.state.session_id == "run-1"
        assert svc.pipeline.coach.active
        # An id the store already holds (an earlier session): refused before closing anything.
        second = await command(broker, rec, "start", '{"id": "c", "session_id": "run-2"}', "c")
        assert second["ok"]
        recorder = svc.recorder
        used = await command(broker, rec, "start", '{"id": "d", "session_id": "run-1"}', "d")
        assert used["ok"] is False and used["error"]["code"] == "conflict"
        assert svc.recorder is recorder and svc.state.session_id == "run-2"
    with SessionStore(tmp_path / "work" / "data") as store:
        sessions = {s.id: s.status for s in store.list_sessions()}
    assert sessions["run-1"] == SessionStatus.COMPLETE
    assert sessions["run-2"] == SessionStatus.COMPLETE
    # The refused starts were not recorded as commands of the running session.
    with SessionStore(tmp_path / "work" / "data") as store:
        names = [c.name for c in store.load("run-2").commands]
    assert names == []
