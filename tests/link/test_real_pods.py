"""Pods as real devices build them, not as our own virtual pods do: optional properties and
characteristics left out, values at the edges of what the specifications allow. Each pod is a
:class:`VirtualPod` subclass served in this process and read by the link end to end."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest

from firmware_sim.bluez.daemon import PrivateBus
from firmware_sim.bluez.peripheral import Advertisement, AttError, CharSpec, ServiceSpec
from firmware_sim.bluez.server import VirtualBluez, VirtualDevice
from firmware_sim.pods import wire
from firmware_sim.pods.firmware import PodConfig, VirtualPod
from firmware_sim.pods.rsc import CounterRsc
from firmware_sim.pods.streams import CounterStream
from gaitcoach.footpod import profile as P
from gaitcoach.footpod.profile import PodKind
from gaitcoach.footpod.rsc import RscMeasurement
from gaitcoach.link import FootpodLink, LinkConfig, PodSelector, PodStatus, RscReading
from gaitcoach.link.pod import LinkItem
from gaitcoach.service.service import rsc_metrics
from gaitcoach.types import Activity, Foot, ImuChunk, LinkEvent, LinkState
from tests.link.harness import private_bus

__all__ = ["private_bus"]

SPEED = 10.0


async def run_link(
    bus: PrivateBus,
    pod: VirtualPod,
    until: Callable[[list[LinkItem]], bool],
    timeout_s: float = 15.0,
    battery_plugin: bool = False,
    **link_kw: Any,
) -> tuple[list[LinkItem], PodStatus]:
    """Serve ``pod`` in this process and run the link on it until ``until(items)`` or the
    timeout: everything delivered, and the pod's status."""
    items: list[LinkItem] = []
    selector = PodSelector(address=pod.address, foot=Foot.LEFT)
    async with VirtualBluez(bus.address, battery_plugin=battery_plugin) as bluez:
        pod.radio = bluez.add(pod)
        task = asyncio.create_task(pod.run())
        try:
            cfg = LinkConfig(
                pods=(selector,), scan_timeout_s=1.0, time_scale=pod.cfg.speed, **link_kw
            )
            async with FootpodLink(cfg, on_item=items.append) as link:
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline and not until(items):
                    await asyncio.sleep(0.05)
                return list(items), link.status()[0]  # not what the link's exit adds
        finally:
            task.cancel()


def disconnects(items: list[LinkItem]) -> list[str]:
    return [
        i.detail for i in items if isinstance(i, LinkEvent) and i.state is LinkState.DISCONNECTED
    ]


def samples(items: list[LinkItem]) -> int:
    return sum(len(i) for i in items if isinstance(i, ImuChunk))


class _ReadOnlyBattery(VirtualPod):
    """Battery Level with Read only: the Battery Service makes Notify optional."""

    def gatt(self) -> list[ServiceSpec]:
        out = super().gatt()
        for s in out:
            if s.uuid == P.BATTERY_SERVICE_UUID:
                s.chars = [CharSpec(P.BATTERY_LEVEL_CHAR_UUID, ["read"], self._read_battery)]
        return out


async def test_a_battery_level_without_notify_does_not_end_the_session(
    private_bus: PrivateBus,
) -> None:
    cfg = PodConfig("D0:0D:01:01:00:31", Foot.LEFT, PodKind.FOOTPOD, speed=SPEED, battery_pct=77)
    pod = _ReadOnlyBattery(cfg, lambda foot, rate: CounterStream(foot, rate))
    items, status = await run_link(private_bus, pod, lambda it: samples(it) >= 4 * 208)
    assert not disconnects(items), disconnects(items)
    assert samples(items) >= 4 * 208
    assert status.battery_pct == 77 and status.connects == 1


class _SilentMovesense(VirtualPod):
    """A Movesense that drops a subscription without answering: the versions of the
    reference sample read for docs/movesense.md clear a refused subscription's slot and send
    no COMMAND_RESULT, so nothing says that no data will come."""

    def _gsp_subscribe(self, ref: int, data: bytes) -> int | None:
        return None


async def test_a_pod_that_sends_no_data_is_reconnected(private_bus: PrivateBus) -> None:
    cfg = PodConfig("D0:0D:03:03:00:32", Foot.UNKNOWN, PodKind.MOVESENSE, serial="932")
    pod = _SilentMovesense(cfg, lambda foot, rate: CounterStream(foot, rate))
    items, status = await run_link(
        private_bus, pod, lambda it: len(disconnects(it)) >= 2, data_timeout_s=1.0
    )
    gone = disconnects(items)
    assert len(gone) >= 2, "a connected pod that sends nothing stays 'streaming' forever"
    assert all(d.startswith("session failed: no data for 1.0 s") for d in gone), gone
    assert status.connects >= 2


class _LateServices(VirtualPod):
    """On its first connection the client sees only part of the GATT database: BlueZ can
    signal ServicesResolved before it has exported every service (bluez/bluez#1489,
    hbldh/bleak#1806); reconnecting resolves them (what aiohomekit does, Jc2k/aiohomekit#240).
    Here the pod's own service (footpod IMU, Movesense GSP) is the one missing."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.connections = 0

    def on_connect(self, central: Any) -> None:
        self.connections += 1
        super().on_connect(central)

    def gatt(self) -> list[ServiceSpec]:
        full = super().gatt()
        if self.connections:
            return full
        own = {P.FOOTPOD_SERVICE_UUID, P.MOVESENSE_SERVICE_UUID}
        return [s for s in full if s.uuid not in own]


@pytest.mark.parametrize("kind", [PodKind.FOOTPOD, PodKind.MOVESENSE])
async def test_services_resolved_late_are_checked_again_not_taken_for_another_kind(
    private_bus: PrivateBus, kind: PodKind
) -> None:
    """A footpod seen with DIS, Battery and RSC only was streamed as an RSC-only pod (no IMU
    data for the whole connection); a Movesense seen without GSP was rejected for 60 s."""
    address = f"D0:0D:0{3 if kind is PodKind.MOVESENSE else 1}:01:00:33"
    cfg = PodConfig(address, Foot.LEFT, kind, speed=SPEED, serial="933")
    pod = _LateServices(cfg, lambda foot, rate: CounterStream(foot, rate))
    items, status = await run_link(private_bus, pod, lambda it: samples(it) >= 4 * 208)
    assert samples(items) >= 4 * 208
    assert status.kind is kind and status.connects == 2
    gone = disconnects(items)
    assert len(gone) == 1 and gone[0].startswith("services unconfirmed: advertised as"), gone


async def test_the_battery_level_bluez_takes_from_gatt_is_read_where_bluez_puts_it(
    private_bus: PrivateBus,
) -> None:
    """bluetoothd's battery plugin (on by default) hides a device's Battery Service from GATT
    clients and publishes the level as org.bluez.Battery1 (hbldh/bleak#393; a Stryd has
    Battery, Device Information and RSC): the link reported no battery at all then."""
    cfg = PodConfig("D0:0D:02:01:00:34", Foot.LEFT, PodKind.RSC, speed=SPEED, battery_pct=64)
    pod = VirtualPod(cfg, lambda foot, rate: CounterStream(foot, rate), rsc=CounterRsc())
    changed = False

    def until(items: list[LinkItem]) -> bool:
        nonlocal changed
        if not changed and sum(isinstance(i, RscReading) for i in items) >= 2:
            pod.set_battery(51)  # notified to the plugin, published on Battery1
            changed = True
        return any(isinstance(i, LinkEvent) and i.detail == "battery 51%" for i in items)

    items, status = await run_link(private_bus, pod, until, battery_plugin=True)
    streaming = [i for i in items if isinstance(i, LinkEvent) and i.state is LinkState.STREAMING]
    assert streaming and streaming[0].battery_pct == 64
    assert status.battery_pct == 51 and not disconnects(items)


class _DropsWhenStarted(VirtualPod):
    """Connects, then loses the link as soon as it starts streaming (a sensor browning out
    on a weak battery when its radio and IMU start, one at the edge of range)."""

    def _control_write(self, value: bytes) -> None:
        super()._control_write(value)
        dev = self.radio
        if self._streaming and isinstance(dev, VirtualDevice):
            asyncio.get_running_loop().call_later(
                0.05, lambda: asyncio.ensure_future(dev.disconnect("brown-out"))
            )


async def test_a_pod_that_drops_right_after_streaming_starts_is_backed_off(
    private_bus: PrivateBus,
) -> None:
    cfg = PodConfig("D0:0D:01:01:00:35", Foot.LEFT, PodKind.FOOTPOD)
    pod = _DropsWhenStarted(cfg, lambda foot, rate: CounterStream(foot, rate))
    items, status = await run_link(
        private_bus, pod, lambda it: False, timeout_s=6.0, backoff_initial_s=0.2, backoff_max_s=5.0
    )
    # Backoff 0.2, 0.4, 0.8, 1.6, 3.2 s: at most 6 connections in 6 s (every ~0.25 s, 20 or
    # more, when each short session reset the backoff).
    assert 3 <= status.connects <= 6, status.connects
    assert all(d.startswith("link lost") for d in disconnects(items))


class _NoServiceUuids(VirtualPod):
    """An RSC sensor that advertises only flags and its name: the Running Speed and Cadence
    Profile says a sensor *should* list the RSC service in its advertising data, not that
    it must; the Movesense, too, never advertises its GSP service."""

    def advertisement(self) -> Advertisement:
        flags = wire.ad_structure(wire.AD_FLAGS, bytes([wire.FLAGS_LE_GENERAL_NO_BREDR]))
        name = wire.ad_structure(wire.AD_NAME_COMPLETE, self.cfg.name.encode())
        return Advertisement(wire.legacy_payload(flags, name), b"", rssi_dbm=-60)


async def test_a_pod_named_by_address_is_connected_whatever_it_advertises(
    private_bus: PrivateBus,
) -> None:
    cfg = PodConfig("D0:0D:02:01:00:36", Foot.LEFT, PodKind.RSC, speed=SPEED)
    pod = _NoServiceUuids(cfg, lambda foot, rate: CounterStream(foot, rate), rsc=CounterRsc())
    items, status = await run_link(
        private_bus, pod, lambda it: sum(isinstance(i, RscReading) for i in it) >= 3
    )
    assert sum(isinstance(i, RscReading) for i in items) >= 3, "never connected"
    assert status.kind is PodKind.RSC and status.confirmed_by.endswith(P.RSC_SERVICE_UUID)
    assert status.evidence == ("named by address; its advertisement matches no pod rule",)


class _NoRunningStatus(VirtualPod):
    """An RSC pod whose RSC Feature declares stride length and total distance but not
    walking/running status (`03 00`): the status bit is then reserved and sent clear, also
    while its wearer runs (the Stryd packet in docs/footpod-profile.md has it clear)."""

    def gatt(self) -> list[ServiceSpec]:
        out = super().gatt()
        for s in out:
            for c in s.chars:
                if c.uuid == P.RSC_FEATURE_CHAR_UUID:
                    c.read = lambda: wire.pack_rsc_feature(True, True, running_status=False)
        return out


class _RunningBitClear(CounterRsc):
    def measurement(self, t_true_s: float) -> RscMeasurement:
        return dataclasses.replace(super().measurement(t_true_s), running=False)


async def test_a_status_bit_the_rsc_feature_does_not_declare_means_nothing(
    private_bus: PrivateBus,
) -> None:
    cfg = PodConfig("D0:0D:02:01:00:37", Foot.LEFT, PodKind.RSC, speed=SPEED)
    pod = _NoRunningStatus(
        cfg, lambda foot, rate: CounterStream(foot, rate), rsc=_RunningBitClear()
    )
    items, status = await run_link(
        private_bus, pod, lambda it: sum(isinstance(i, RscReading) for i in it) >= 3
    )
    readings = [i for i in items if isinstance(i, RscReading)]
    assert len(readings) >= 3 and status.rsc_feature is not None
    assert not status.rsc_feature.running_status
    assert all(r.measurement.running is None for r in readings)  # not "walking"
    # 2.5-3.9 m/s: running by its speed, not walking by a bit the pod does not set
    metrics = rsc_metrics(readings, readings[-1].t_s)
    assert metrics is not None and metrics.activity is Activity.RUNNING, metrics


class _SerialNeedsPairing(VirtualPod):
    """A Device Information string the pod gives only to a paired client (ATT error 0x05,
    Insufficient Authentication): optional, descriptive data."""

    def gatt(self) -> list[ServiceSpec]:
        out = super().gatt()
        for s in out:
            for c in s.chars:
                if c.uuid == P.SERIAL_CHAR_UUID:
                    c.read = self._refuse
        return out

    @staticmethod
    def _refuse() -> bytes:
        raise AttError(0x05, "Insufficient Authentication")


async def test_a_device_information_string_the_pod_refuses_does_not_end_the_session(
    private_bus: PrivateBus,
) -> None:
    cfg = PodConfig("D0:0D:01:01:00:38", Foot.LEFT, PodKind.FOOTPOD, speed=SPEED)
    pod = _SerialNeedsPairing(cfg, lambda foot, rate: CounterStream(foot, rate))
    items, status = await run_link(private_bus, pod, lambda it: samples(it) >= 2 * 208)
    assert not disconnects(items) and samples(items) >= 2 * 208
    assert status.device_info is not None and status.device_info.serial is None
    assert status.device_info.manufacturer  # the strings it gives are read
    assert status.receivers["device_information"].refused == 1
