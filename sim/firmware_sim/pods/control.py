"""``org.gaitcoach.VirtualPod1``: fault injection and ground truth of a running virtual pod,
on the same private bus as the virtual BlueZ (at ``/org/gaitcoach/pod<N>``).

Tests and benchmarks in another process drive faults through it; bleak ignores it.
"""

# No ``from __future__ import annotations``: dbus-fast reads the evaluated annotations.

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any

from dbus_fast import DBusError
from dbus_fast.annotations import (
    DBusBool,
    DBusByte,
    DBusDouble,
    DBusSignature,
    DBusStr,
    DBusUInt32,
)
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_method, dbus_property

from firmware_sim.pods.firmware import VirtualPod

INTERFACE = "org.gaitcoach.VirtualPod1"
_background: set[asyncio.Task[None]] = set()


def control_path(index: int) -> str:
    return f"/org/gaitcoach/pod{index}"


class VirtualPodControl(ServiceInterface):
    def __init__(self, pod: VirtualPod) -> None:
        super().__init__(INTERFACE)
        self.pod = pod

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        _background.add(task)
        task.add_done_callback(_background.discard)

    @dbus_method()
    def Dropout(self, duration_s: DBusDouble) -> None:
        """Out of range for ``duration_s`` stream seconds (returns at once)."""
        self._spawn(self.pod.dropout(duration_s))

    @dbus_method()
    def Restart(self, downtime_s: DBusDouble, keep_link: DBusBool) -> None:
        self._spawn(self.pod.restart(downtime_s, keep_link))

    @dbus_method()
    def SetLoss(self, p: DBusDouble, burst_p: DBusDouble, burst_len: DBusUInt32) -> None:
        try:
            self.pod.set_loss(p, burst_p, burst_len)
        except ValueError as exc:
            raise DBusError("org.gaitcoach.Error.InvalidArguments", str(exc)) from exc

    @dbus_method()
    def SetDrift(self, extra_ppm: DBusDouble) -> None:
        self.pod.set_drift(extra_ppm)

    @dbus_method()
    def SetBattery(self, pct: DBusByte) -> None:
        try:
            self.pod.set_battery(pct)
        except ValueError as exc:
            raise DBusError("org.gaitcoach.Error.InvalidArguments", str(exc)) from exc

    @dbus_method()
    def InjectMalformed(self, kind: DBusStr, count: DBusUInt32) -> None:
        try:
            self.pod.inject_malformed(kind, count)
        except ValueError as exc:
            raise DBusError("org.gaitcoach.Error.InvalidArguments", str(exc)) from exc

    @dbus_method()
    def Truth(self) -> Annotated[tuple[float, float, float], DBusSignature("ddd")]:
        """(host monotonic time of true time 0, speed factor, current true time)."""
        return (self.pod.h0 or 0.0, self.pod.cfg.speed, self.pod.t_true_s)

    @dbus_method()
    def Stats(self) -> Annotated[tuple[int, int, int, int, int, int], DBusSignature("uuuuuu")]:
        """(batches, packets sent, packets lost, malformed sent, restarts, dropouts)."""
        s = self.pod.stats
        return (s.batches, s.packets_sent, s.packets_lost, s.malformed_sent, s.restarts, s.dropouts)

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self.pod.address

    @dbus_property(access=PropertyAccess.READ)
    def Side(self) -> DBusStr:
        return self.pod.cfg.side.value

    @dbus_property(access=PropertyAccess.READ)
    def Kind(self) -> DBusStr:
        return self.pod.cfg.kind.value
