"""Each session of one service run replays exactly: a ``stop`` finishes the gait engine into
the session it ends, and a ``start`` gives the next session an engine that has learnt
nothing from the samples before it (real service, real recorder and store, simulated pods'
packets through the link's decoder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitcoach.coach import StartSession, StopSession
from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import Service
from gaitcoach.session import SessionStatus, SessionStore
from gaitcoach.session.replay import replay
from gaitcoach.types import Gap
from tests.session.pipeline import simulation, stream
from tests.support import gait_engine_ready


@pytest.mark.usefixtures(gait_engine_ready.__name__)
async def test_every_session_of_one_run_replays_exactly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = config_from_dict(
        {"runner": {"id": "ines", "height_m": 1.7}, "session": {"data_dir": str(data)}}
    )
    svc = Service(cfg)
    svc._open_session(None, svc._new_recorder(None))
    sim = simulation("asymmetric", 2.0, seed=4)
    # first session 0-40 s; stopped 40-55 s (samples analysed, not recorded); second 55-120 s
    for item in stream(sim, 2.0):
        t = item.start_s if isinstance(item, Gap) else float(item.t_s[0])
        if svc.recorder is not None and svc.state.session_id != "second" and t >= 40.0:
            await svc.command(StopSession())
        if svc.recorder is None and t >= 55.0:
            await svc.command(StartSession("second"))
        svc.handle(item)
    svc._close_session(SessionStatus.COMPLETE)
    await svc.wait_closed()
    with SessionStore(data) as store:
        sessions = store.list_sessions()
        assert [s.status for s in sessions] == [SessionStatus.COMPLETE] * 2
        for info in sessions:
            result = replay(store, info.id)
            assert result.finished and result.stored > 40, (info.id, result.stored)
            assert result.reproduces, (info.id, result.matched, result.stored, len(result.strides))
