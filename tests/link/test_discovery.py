"""Discovery from what real devices advertise; the virtual pods' advertisements checked with
a third-party parser (bluetooth-data-tools); GATT confirmation after connecting; what the
virtual BlueZ exposes (no invented TX power); a rate change without stale samples."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bluetooth_data_tools import parse_advertisement_data

from firmware_sim.bluez.daemon import PrivateBus
from firmware_sim.bluez.peripheral import ServiceSpec
from firmware_sim.bluez.server import VirtualBluez
from firmware_sim.pods.firmware import PodConfig, VirtualPod
from firmware_sim.pods.streams import CounterStream
from gaitcoach.cli import main as gaitcoach_main
from gaitcoach.footpod import profile as P
from gaitcoach.footpod.advert import classify
from gaitcoach.footpod.profile import PodKind
from gaitcoach.link import FootpodLink, LinkConfig, PodSelector, PodStatus
from gaitcoach.types import Foot, LinkEvent, LinkState
from tests.link.harness import collect, fast_config, n_samples, private_bus, serve
from tests.link.test_link_stream import check_exact

__all__ = ["private_bus"]

# A Movesense as a public advertisement dump shows it (name, 16-bit UUID fe06, manufacturer
# data of company 0x009F); its firmware does not advertise the GSP service.
MS_NAME = "Movesense 204730000081"
MS_UUIDS = [P.sig_uuid(0xFE06)]
MS_MANUFACTURER = {0x009F: bytes.fromhex("ffd40d0000ed24043c000000004595883c")}


def test_classify_real_advertisements() -> None:
    ms = classify(MS_NAME, MS_UUIDS, {}, MS_MANUFACTURER)
    assert ms is not None and ms.kind is PodKind.MOVESENSE
    assert ms.evidence == (
        "name 'Movesense 204730000081' matches 'Movesense <serial>'",
        "manufacturer data of company 0x009F (Suunto) with 16-bit UUID 0xFE06",
    )
    # Name alone, or company + fe06 alone (a renamed sensor), each suffice.
    assert classify("Movesense 1234", [])
    assert classify("", MS_UUIDS, None, MS_MANUFACTURER)
    # Company 0x009F alone is any Suunto product; fe06 alone is not Movesense's only.
    assert classify("Suunto 9", [], None, {0x009F: b"\x01"}) is None
    assert classify("x", [P.sig_uuid(0xFE06)]) is None
    stryd = classify("Stryd", [P.sig_uuid(0x1814), P.sig_uuid(0x1818)])
    assert stryd is not None and stryd.kind is PodKind.RSC
    assert stryd.evidence == ("16-bit service UUID 0x1814 (Running Speed and Cadence)",)
    assert classify("Heart", [P.sig_uuid(0x180D)]) is None
    # A footpod seen by a passive scan: advertising data only (service data, no UUID list).
    fp = classify(None, [], {P.FOOTPOD_SERVICE_UUID: b"\x02\x4b\x01"})
    assert fp is not None and (fp.kind, fp.side, fp.battery_pct) == (
        PodKind.FOOTPOD,
        Foot.RIGHT,
        75,
    )
    both = classify("GaitPod L", [P.FOOTPOD_SERVICE_UUID, P.sig_uuid(0x1814)])
    assert both is not None and both.kind is PodKind.FOOTPOD and both.also == (PodKind.RSC,)


def _pod(kind: PodKind, side: Foot = Foot.LEFT, serial: str = "240000") -> VirtualPod:
    cfg = PodConfig("D0:0D:00:00:00:01", side, kind, serial=serial)
    return VirtualPod(cfg, lambda foot, rate: CounterStream(foot, rate))


@pytest.mark.parametrize("kind", list(PodKind))
def test_virtual_advertisements_fit_legacy_pdus_and_parse_with_a_third_party_parser(
    kind: PodKind,
) -> None:
    adv = _pod(kind).advertisement()
    assert len(adv.adv_data) <= 31 and len(adv.scan_response) <= 31
    both = parse_advertisement_data([adv.adv_data, adv.scan_response])
    assert both.tx_power is None  # no TX Power Level structure: none is invented
    got = classify(both.local_name, both.service_uuids, both.service_data, both.manufacturer_data)
    assert got is not None and got.kind is kind
    # The virtual BlueZ's own reading of the same octets agrees with the third party's.
    assert (adv.local_name, adv.service_uuids, adv.service_data, adv.manufacturer_data) == (
        both.local_name,
        both.service_uuids,
        both.service_data,
        both.manufacturer_data,
    )
    if kind is PodKind.MOVESENSE:
        assert both.local_name == "Movesense 240000"
        assert both.service_uuids == [P.MOVESENSE_ADV_UUID]  # not the GSP service
        assert set(both.manufacturer_data) == {P.SUUNTO_COMPANY_ID}
    if kind is PodKind.FOOTPOD:
        # 53 octets in all; a passive scan (advertising data only) still finds it.
        assert len(adv.adv_data) + len(adv.scan_response) == 53
        first = parse_advertisement_data([adv.adv_data])
        fp = classify(first.local_name, first.service_uuids, first.service_data)
        assert fp is not None and fp.kind is PodKind.FOOTPOD and fp.side is Foot.LEFT


def test_gaitcoach_scan_says_why(
    private_bus: PrivateBus, capsys: pytest.CaptureFixture[str]
) -> None:
    async def run() -> list[AdvertisementData]:
        async with serve(private_bus, "--pods", "left,rsc:unknown,movesense:unknown"):
            seen: dict[str, AdvertisementData] = {}

            def on_adv(d: BLEDevice, a: AdvertisementData) -> None:
                seen[d.address] = a

            async with BleakScanner(on_adv):
                await asyncio.sleep(1.5)
            await asyncio.to_thread(gaitcoach_main, ["scan", "--timeout", "1.5", "--json"])
            await asyncio.to_thread(gaitcoach_main, ["scan", "--timeout", "1.5"])
            return list(seen.values())

    advs = asyncio.run(run())
    assert len(advs) == 3 and all(a.tx_power is None for a in advs)
    out = capsys.readouterr().out.splitlines()
    pods = {p["kind"]: p for p in (json.loads(line) for line in out if line.startswith("{"))}
    assert set(pods) == {"footpod", "rsc", "movesense"}
    assert pods["movesense"]["evidence"] == [
        "name 'Movesense 240002' matches 'Movesense <serial>'",
        "manufacturer data of company 0x009F (Suunto) with 16-bit UUID 0xFE06",
    ]
    assert pods["footpod"]["evidence"] == [
        "footpod service UUID advertised",
        "footpod service data (side, battery)",
    ]
    assert pods["rsc"]["evidence"] == ["16-bit service UUID 0x1814 (Running Speed and Cadence)"]
    why = [line for line in out if "why:" in line]
    assert len(why) == 3 and all("GATT service checked on connect" in w for w in why)


class _NotAMovesense(VirtualPod):
    """Advertises like a Movesense but has no GSP service (another firmware)."""

    def gatt(self) -> list[ServiceSpec]:
        return [s for s in super().gatt() if s.uuid != P.MOVESENSE_SERVICE_UUID]


class _RefusingMovesense(VirtualPod):
    """A Movesense that answers every subscription with 404 (a resource it lacks)."""

    def _gsp_subscribe(self, ref: int, data: bytes) -> int | None:
        return 404


async def _first_disconnect(
    bus: PrivateBus, pod_class: type[VirtualPod], serial: str
) -> tuple[str, PodStatus]:
    """Serve one Movesense-like pod of ``pod_class`` in this process, run the link against
    it until it first disconnects (plus 1.5 s); the detail of that event, and the status."""
    details, status = await _disconnects(bus, pod_class, serial, 1)
    return details[0], status


async def _disconnects(
    bus: PrivateBus, pod_class: type[VirtualPod], serial: str, count: int
) -> tuple[list[str], PodStatus]:
    """Like :func:`_first_disconnect`, until the link has disconnected ``count`` times: the
    details of those events, and the status."""
    address = f"D0:0D:03:03:00:{int(serial) % 256:02X}"
    cfg = PodConfig(address, Foot.UNKNOWN, PodKind.MOVESENSE, serial=serial)
    pod = pod_class(cfg, lambda foot, rate: CounterStream(foot, rate))
    selector = PodSelector(name=cfg.name, foot=Foot.LEFT)
    async with VirtualBluez(bus.address) as bluez:
        pod.radio = bluez.add(pod)
        task = asyncio.create_task(pod.run())
        try:
            gone: list[LinkEvent] = []

            def on_item(item: object) -> None:
                if isinstance(item, LinkEvent) and item.state is LinkState.DISCONNECTED:
                    gone.append(item)

            link_cfg = LinkConfig(pods=(selector,), scan_timeout_s=1.0)
            async with FootpodLink(link_cfg, on_item=on_item) as link:
                deadline = time.monotonic() + 15 * count
                while time.monotonic() < deadline and len(gone) < count:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.5)
                assert len(gone) >= count, f"the link disconnected {len(gone)} times: {gone}"
                return [e.detail for e in gone[:count]], link.status()[0]
        finally:
            task.cancel()


async def test_a_device_that_only_advertises_like_a_pod_is_rejected_after_connecting(
    private_bus: PrivateBus,
) -> None:
    details, status = await _disconnects(private_bus, _NotAMovesense, "777", 2)
    # Checked once more first: BlueZ may not have exported every service on the first.
    assert details[0].startswith("services unconfirmed: advertised as movesense, GATT lists")
    assert details[1].startswith("not a pod: advertised as movesense (name")
    assert "GATT services include none of" in details[1]
    assert status.connects == 2  # rejected: not connected again meanwhile


async def test_a_refused_movesense_subscription_ends_the_session_with_the_status(
    private_bus: PrivateBus,
) -> None:
    detail, status = await _first_disconnect(private_bus, _RefusingMovesense, "888")
    assert detail.startswith("session failed: Movesense refused /Meas/IMU6/208: status 404")
    assert status.receivers["gsp_result"].values >= 1


class _FullMovesense(VirtualPod):
    """A Movesense whose subscription slots are all taken (the reference answers 507)."""

    def _gsp_subscribe(self, ref: int, data: bytes) -> int | None:
        return 507


async def test_a_movesense_refusing_again_after_a_reconnect_ends_that_session_too(
    private_bus: PrivateBus,
) -> None:
    """Each connection has its own results: the refusal on the second connection is seen
    although the first connection's refusal was already counted (it once stayed STREAMING
    without data and without retrying)."""
    details, status = await _disconnects(private_bus, _FullMovesense, "889", 3)
    assert all(
        d.startswith("session failed: Movesense refused /Meas/IMU6/208: status 507")
        for d in details
    ), details
    assert status.connects >= 3
    assert status.receivers["gsp_result"].values >= 3


async def test_rate_change_sends_no_stale_samples(private_bus: PrivateBus) -> None:
    """The pod runs at 208 Hz until a link configures another rate: the first samples after
    the change are at the new rate, not a leftover batch that looks like a pod restart."""
    speed = 10.0
    async with serve(private_bus, "--pods", "left", "--speed", str(speed), "--rate", "208") as sim:
        h0, _, _ = await sim.pod(0).truth()
        for rate in (416, 104, 208):  # each a change, at a random moment of the batch loop
            cfg = fast_config(speed, rate_hz=rate, pods=(PodSelector(side=Foot.LEFT),))
            async with FootpodLink(cfg) as link:
                rec = await collect(
                    link, lambda r, want=4 * rate: n_samples(r, Foot.LEFT) >= want, 20
                )
                status = link.status()[0]
            assert status.counters.restarts == 0 and not rec.gaps.get(Foot.LEFT)
            t, _, _ = rec.samples(Foot.LEFT)
            assert np.allclose(np.diff(t), 1 / rate, atol=3e-3 * speed)
            check_exact(rec, Foot.LEFT, h0, speed, 3e-3 * speed, rate)
