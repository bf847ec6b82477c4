"""Test harness: a private bus, the bluetoothctl shim, and ``firmware_sim serve`` as a child
process driven over its D-Bus control interface. Every process is tied to the test process
(PR_SET_PDEATHSIG) and stopped in ``finally`` blocks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from firmware_sim.bluez.daemon import PrivateBus, die_with_parent, write_bluetoothctl_shim
from firmware_sim.pods.control import INTERFACE, control_path
from firmware_sim.pods.streams import index_from_counts
from gaitcoach.footpod.profile import acc_lsb_mps2
from gaitcoach.link import FootpodLink, LinkConfig
from gaitcoach.link.pod import LinkItem
from gaitcoach.proc import stop_process
from gaitcoach.types import Foot, Gap, ImuChunk, LinkEvent
from tests.support import require

ROOT = Path(__file__).resolve().parents[2]
VERBOSE = ["-v"] if os.environ.get("GAITCOACH_SIM_VERBOSE") else []
"""Set GAITCOACH_SIM_VERBOSE=1 (and run pytest -s) to see the virtual pods' debug log."""


@pytest.fixture
def private_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateBus]:
    require(shutil.which("dbus-daemon") is not None, "dbus-daemon is not installed")
    shim = tmp_path / "bin"
    shim.mkdir()
    write_bluetoothctl_shim(shim)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ.get('PATH', '')}")
    with PrivateBus() as bus:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        yield bus


class PodControl:
    """Calls on one pod's ``org.gaitcoach.VirtualPod1`` interface."""

    def __init__(self, bus: MessageBus, index: int) -> None:
        self.bus = bus
        self.path = control_path(index)

    async def call(self, member: str, signature: str = "", body: list[Any] | None = None) -> Any:
        reply = await self.bus.call(
            Message(
                destination="org.bluez",
                path=self.path,
                interface=INTERFACE,
                member=member,
                signature=signature,
                body=body or [],
            )
        )
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{member}: {reply.error_name} {reply.body}")
        return reply.body

    async def truth(self) -> tuple[float, float, float]:
        h0, speed, t_true = await self.call("Truth")
        return h0, speed, t_true


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    addresses: list[str]
    control_bus: MessageBus

    def pod(self, index: int) -> PodControl:
        return PodControl(self.control_bus, index)


@contextlib.asynccontextmanager
async def serve(bus: PrivateBus, *args: str, timeout_s: float = 30.0) -> AsyncIterator[Served]:
    """``python -m firmware_sim serve --bus ... ARGS`` until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "firmware_sim", "serve", "--bus", bus.address, *args, *VERBOSE],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    control: MessageBus | None = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = b""
        while not line.startswith(b"ready"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, left))
            if not ready or proc.poll() is not None:
                raise RuntimeError(f"serve did not get ready: {line!r}")
            line = proc.stdout.readline()
        pods = line.decode().split("pods=")[1].strip().split(",")
        control = await MessageBus(bus_address=bus.address, bus_type=BusType.SYSTEM).connect()
        yield Served(proc, pods, control)
    finally:
        if control is not None:
            control.disconnect()
        stop_process(proc, 10)


@dataclass
class Received:
    """Everything one link run delivered, per foot."""

    chunks: dict[Foot, list[ImuChunk]]
    gaps: dict[Foot, list[Gap]]
    events: list[LinkEvent]
    other: list[LinkItem]
    arrival: dict[Foot, list[float]]

    def samples(self, foot: Foot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t_s, acc, gyr) of one foot concatenated."""
        cs = self.chunks[foot]
        return (
            np.concatenate([c.t_s for c in cs]),
            np.concatenate([c.acc_mps2 for c in cs]),
            np.concatenate([c.gyr_radps for c in cs]),
        )

    def indices(self, foot: Foot) -> np.ndarray:
        """Counter-stream sample indices of one foot (acc at the default 16 g range)."""
        _, acc, _ = self.samples(foot)
        return index_from_counts(np.rint(acc / acc_lsb_mps2(16)).astype(np.int64))


async def collect(
    link: FootpodLink,
    until: Any,
    timeout_s: float,
) -> Received:
    """Read items until ``until(received)`` is true or ``timeout_s`` host seconds pass."""
    rec = Received({}, {}, [], [], {})
    deadline = time.monotonic() + timeout_s
    while not until(rec):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            item = await link.get(min(left, 1.0))
        except TimeoutError:
            continue
        if isinstance(item, ImuChunk):
            rec.chunks.setdefault(item.foot, []).append(item)
            rec.arrival.setdefault(item.foot, []).append(time.monotonic())
        elif isinstance(item, Gap):
            rec.gaps.setdefault(item.foot, []).append(item)
        elif isinstance(item, LinkEvent):
            rec.events.append(item)
        else:
            rec.other.append(item)
    return rec


def n_samples(rec: Received, foot: Foot) -> int:
    return sum(len(c) for c in rec.chunks.get(foot, []))


async def wait_streaming(link: FootpodLink, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(s.state.value == "streaming" for s in link.status()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"pods not streaming: {[s.state for s in link.status()]}")


def fast_config(speed: float, **kw: Any) -> LinkConfig:
    return LinkConfig(time_scale=speed, **kw)
