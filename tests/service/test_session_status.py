"""The retained status drops a closed session, even when its summary fails (real Mosquitto)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gaitcoach.mqtt import MqttPublisher, MqttSettings
from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import Service
from gaitcoach.session import SessionStatus
from tests.mqtt.broker import running_mosquitto
from tests.mqtt.clients import Recorder


async def test_status_drops_the_session_when_its_summary_fails(tmp_path: Path) -> None:
    # A file where the reports folder should be makes the end-of-run report fail.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "reports").write_text("in the way")
    cfg = config_from_dict(
        {"runner": {"id": "nia", "height_m": 1.7}, "session": {"data_dir": str(tmp_path / "data")}}
    )
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        settings = MqttSettings(
            host=broker.host, port=broker.port, embedded="never", connect_timeout_s=1.0
        )
        with Recorder(broker, ["gaitcoach/nia/#"]) as rec:
            async with MqttPublisher(settings, "nia") as pub:
                assert await pub.wait_connected(5.0)
                svc = Service(cfg)
                svc.publisher = pub
                svc._open_session(None, svc._new_recorder(None))
                sid = svc.state.session_id
                assert sid is not None
                await rec.wait_for("/status", lambda d: d.get("session_id") == sid)
                before = len(rec.on("/status"))
                svc._close_session(SessionStatus.COMPLETE)
                await svc.wait_closed()
                assert svc.last_summary is None  # the summary did fail
                assert await pub.flush(5.0)
                assert pub.session_id is None
                deadline = time.monotonic() + 5.0
                while len(rec.on("/status")) == before and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                after = [m.json() for m in rec.on("/status")[before:]]
                assert after, "no status published after the session closed"
                assert after[-1]["online"] is True and after[-1].get("session_id") is None
            assert not rec.on("/session")
