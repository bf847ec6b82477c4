"""Loss counts equal what is missing from the store: through pod restarts and dropouts the
service records no sample inside a gap it recorded, and the gaps' lost samples add up to the
samples missing from the pods' counter streams. Real parts: virtual pods (counter streams)
behind the virtual BlueZ, bleak, Mosquitto, the service and its recorder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from firmware_sim.bluez.daemon import PrivateBus
from firmware_sim.pods.streams import index_from_counts
from gaitcoach.footpod.profile import acc_lsb_mps2
from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import Service
from gaitcoach.session import SessionStore
from gaitcoach.types import Foot, Gap, ImuChunk
from tests.link.harness import private_bus, serve
from tests.mqtt.broker import running_mosquitto
from tests.support import gait_engine_ready

__all__ = ["gait_engine_ready", "private_bus"]
SPEED = 10.0
RATE = 208

pytestmark = [pytest.mark.usefixtures(gait_engine_ready.__name__), pytest.mark.underload]


@pytest.mark.slow
async def test_loss_equals_what_is_missing_from_the_store(
    private_bus: PrivateBus, tmp_path: Path
) -> None:
    faults = ["left:restart@25+1", "right:dropout@45+12", "left:restart@70+0.5", "right:restart@80"]
    args = [
        "--speed",
        str(SPEED),
        "--drift-ppm",
        "40",
        *(a for f in faults for a in ("--fault", f)),
    ]
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        cfg = config_from_dict(
            {
                "runner": {"id": "lia", "height_m": 1.7},
                "mqtt": {"host": broker.host, "port": broker.port, "embedded": "never"},
                "link": {
                    "time_scale": SPEED,
                    "pods": [{"side": "left"}, {"side": "right"}],
                    "backoff_initial_s": 1.0,
                },
                "session": {"data_dir": str(tmp_path / "data")},
            }
        )
        async with serve(private_bus, *args):
            svc = Service(cfg)
            task = asyncio.create_task(svc.run())
            # 125 stream seconds: every fault over and streaming again for a while.
            await asyncio.sleep(125 / SPEED)
            svc.stop()
            result = await asyncio.wait_for(task, 120)
    counters = {s.foot: s.counters for s in svc.link.status()} if svc.link else {}
    with SessionStore(tmp_path / "data") as store:
        (sid,) = result.session_ids
        items = list(store.iter_raw(sid))
    lsb = acc_lsb_mps2(16)
    for foot in (Foot.LEFT, Foot.RIGHT):
        chunks = [i for i in items if isinstance(i, ImuChunk) and i.foot is foot]
        gaps = [i for i in items if isinstance(i, Gap) and i.foot is foot]
        t = np.concatenate([c.t_s for c in chunks])
        idx = index_from_counts(
            np.rint(np.concatenate([c.acc_mps2 for c in chunks]) / lsb).astype(np.int64)
        )
        assert np.all(np.diff(t) > 0), "time went backwards in the store"
        assert np.all(np.diff(idx) >= 1), "a sample stored twice"
        # No sample lies inside a gap: what is stored was not also counted lost.
        for g in gaps:
            inside = int(np.sum((t > g.start_s + 1e-9) & (t < g.end_s - 1e-9)))
            assert inside == 0, f"{foot}: {inside} samples stored inside the gap {g}"
        # The samples missing from the stream are the gaps' lost samples (a restart's count
        # is estimated from host time: one sample either way per gap).
        jumps = np.diff(idx)
        missing = int(np.sum(jumps[jumps > 1] - 1))
        # (A gap after the last stored sample, if the run ended while a pod was away, has no
        # sample after it to count from.)
        lost = sum(g.lost_samples for g in gaps if g.start_s < t[-1])
        assert abs(lost - missing) <= max(2, len(gaps)), (foot, lost, missing, gaps)
        assert {g.reason for g in gaps} <= {"pod restart", "pod disconnected", "disconnected"}
        c = counters[foot]
        assert c.lost_samples <= missing + len(gaps) + 1, (foot, c)
        assert c.lost_packets * 1 <= c.lost_samples + c.gaps + 1, (foot, c)
