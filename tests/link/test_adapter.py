"""No Bluetooth adapter: `gaitcoach run` says so in one line, exits non-zero and writes
nothing; a pod task that crashes surfaces at once from the link's item stream."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from firmware_sim.bluez.daemon import PrivateBus
from gaitcoach.link import FootpodLink, LinkConfig, PodSelector
from gaitcoach.link.adapter import AdapterError, open_adapter
from gaitcoach.types import Foot
from tests.link.harness import private_bus

__all__ = ["private_bus"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bus", ["no bluez on the bus", "no bus"])
def test_run_without_adapter_is_one_line_and_writes_nothing(
    bus: str, private_bus: PrivateBus, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[session]\ndata_dir = "{data}"\n[mqtt]\nhost = ""\n'
        '[link]\npods = [{side = "left"}, {side = "right"}]\n'
    )
    env = dict(os.environ)
    if bus == "no bus":
        env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={tmp_path / 'nothing-here'}"
    for quiet in ([], ["--quiet"]):
        p = subprocess.run(
            [sys.executable, "-m", "gaitcoach", "run", "--config", str(cfg), *quiet],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and "no Bluetooth adapter" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr + p.stdout
        assert not data.exists(), "a run without an adapter wrote to the data directory"


async def test_open_adapter_without_bluez(private_bus: PrivateBus) -> None:
    with pytest.raises(AdapterError, match="no Bluetooth adapter"):
        await open_adapter()


async def test_a_crashed_pod_task_surfaces_at_once(private_bus: PrivateBus) -> None:
    """Both pods' tasks fail (their scanner cannot start): the consumer, waiting for an item
    that will never come, gets the failure (it once waited forever)."""
    cfg = LinkConfig(pods=(PodSelector(side=Foot.LEFT), PodSelector(side=Foot.RIGHT)))

    async def consume() -> None:
        async with FootpodLink(cfg) as link:
            async for _item in link.items():
                pass

    with pytest.raises(RuntimeError, match=r"pod link task pod-\d failed"):
        await asyncio.wait_for(consume(), 30.0)
