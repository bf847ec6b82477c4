"""Times on the wire are Unix seconds: the mute reply says until when, in Unix time."""

from __future__ import annotations

import time

from gaitcoach.coach import Mute
from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import Service


async def test_mute_reply_is_in_unix_time() -> None:
    svc = Service(config_from_dict({"runner": {"id": "viv"}, "service": {"record": False}}))
    svc._open_session(None, svc._new_recorder(None))
    result = await svc.command(Mute(60.0))
    assert result is not None and "muted_until_s" not in result
    assert abs(result["muted_until_unix_s"] - (time.time() + 60.0)) < 5.0
