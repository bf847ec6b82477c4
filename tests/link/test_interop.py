"""Interoperability with code nobody here wrote, end to end through bleak and the virtual
BlueZ: a Bluetooth SIG characteristic library (``bluetooth-sig``) reads every RSC, battery
and Device Information value the virtual pods send, and a re-implementation of the Movesense
reference client's parsing (tests/link/gsp_reference.py) reads the GSP stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError
from bluetooth_sig.gatt.characteristics.battery_level import BatteryLevelCharacteristic
from bluetooth_sig.gatt.characteristics.firmware_revision_string import (
    FirmwareRevisionStringCharacteristic,
)
from bluetooth_sig.gatt.characteristics.hardware_revision_string import (
    HardwareRevisionStringCharacteristic,
)
from bluetooth_sig.gatt.characteristics.manufacturer_name_string import (
    ManufacturerNameStringCharacteristic,
)
from bluetooth_sig.gatt.characteristics.model_number_string import ModelNumberStringCharacteristic
from bluetooth_sig.gatt.characteristics.rsc_feature import RSCFeatureCharacteristic
from bluetooth_sig.gatt.characteristics.rsc_measurement import RSCMeasurementCharacteristic
from bluetooth_sig.gatt.characteristics.sc_control_point import SCControlPointCharacteristic
from bluetooth_sig.gatt.characteristics.sensor_location import SensorLocationCharacteristic
from bluetooth_sig.gatt.characteristics.serial_number_string import (
    SerialNumberStringCharacteristic,
)

from firmware_sim.bluez.daemon import PrivateBus
from firmware_sim.pods.rsc import counter_rsc
from firmware_sim.pods.streams import counter_counts, index_from_counts
from gaitcoach.footpod import profile as P
from gaitcoach.footpod.profile import acc_lsb_mps2, gyr_lsb_radps
from gaitcoach.link import FootpodLink, PodSelector
from gaitcoach.types import Foot
from tests.link.gsp_reference import ReferenceGspClient
from tests.link.harness import collect, fast_config, n_samples, private_bus, serve

__all__ = ["private_bus"]

DIS = {
    P.MANUFACTURER_CHAR_UUID: ManufacturerNameStringCharacteristic(),
    P.MODEL_CHAR_UUID: ModelNumberStringCharacteristic(),
    P.SERIAL_CHAR_UUID: SerialNumberStringCharacteristic(),
    P.FIRMWARE_REV_CHAR_UUID: FirmwareRevisionStringCharacteristic(),
    P.HARDWARE_REV_CHAR_UUID: HardwareRevisionStringCharacteristic(),
}


async def connect(address: str) -> AsyncIterator[BleakClient]:
    device = await BleakScanner.find_device_by_address(address, timeout=10)
    assert device is not None, f"{address} not found"
    async with BleakClient(device) as client:
        yield client


async def test_sig_library_reads_every_rsc_battery_and_dis_value(private_bus: PrivateBus) -> None:
    """The footpod and the RSC-only pod, read by bleak and parsed by bluetooth-sig."""
    async with serve(private_bus, "--pods", "rsc:left,right", "--speed", "20", "--rsc-counter"):
        for address in await _addresses(private_bus):
            async for client in connect(address):
                await _check_standard_values(client)


async def _addresses(bus: PrivateBus) -> list[str]:
    found = await BleakScanner.discover(timeout=1.5)
    return sorted(d.address for d in found)


async def _check_standard_values(client: BleakClient) -> None:
    for uuid, parser in DIS.items():
        text = parser.parse_value(await client.read_gatt_char(uuid))
        assert isinstance(text, str) and text
    assert (
        BatteryLevelCharacteristic().parse_value(
            await client.read_gatt_char(P.BATTERY_LEVEL_CHAR_UUID)
        )
        == 90
    )
    assert (
        SensorLocationCharacteristic().parse_value(
            await client.read_gatt_char(P.SENSOR_LOCATION_CHAR_UUID)
        )
        == 2
    )  # in shoe
    feature = RSCFeatureCharacteristic().parse_value(
        await client.read_gatt_char(P.RSC_FEATURE_CHAR_UUID)
    )
    # bluetooth-sig 0.6.0 does not apply its own feature check (its lookup of RSC Feature by
    # class name fails), so the test compares the parsed values itself.
    raw: list[bytes] = []

    def on_rsc(_c: BleakGATTCharacteristic, data: bytearray) -> None:
        raw.append(bytes(data))

    await client.start_notify(P.RSC_MEASUREMENT_CHAR_UUID, on_rsc)
    for _ in range(100):
        if len(raw) >= 6:
            break
        await asyncio.sleep(0.05)
    # Total distance is declared, so Set Cumulative Value must be served (RSCS): refused
    # while indications are off, answered with Success once they are on.
    with pytest.raises(BleakError, match="0x81"):
        await client.write_gatt_char(P.SC_CONTROL_POINT_CHAR_UUID, b"\x01\x00\x00\x00\x00")
    replies: list[bytes] = []
    await client.start_notify(P.SC_CONTROL_POINT_CHAR_UUID, lambda _c, d: replies.append(bytes(d)))
    await client.write_gatt_char(P.SC_CONTROL_POINT_CHAR_UUID, b"\x01\x00\x00\x00\x00", True)
    await client.write_gatt_char(P.SC_CONTROL_POINT_CHAR_UUID, b"\x02", True)
    n_before = len(raw)
    for _ in range(100):
        if len(raw) >= n_before + 3 and len(replies) >= 2:
            break
        await asyncio.sleep(0.05)
    await client.stop_notify(P.RSC_MEASUREMENT_CHAR_UUID)
    cp = [SCControlPointCharacteristic().parse_value(r) for r in replies]
    assert [(int(c.opcode), c.parameter) for c in cp] == [(0x10, b"\x01\x01"), (0x10, b"\x02\x02")]
    parsed = [RSCMeasurementCharacteristic().parse_value(r) for r in raw]
    assert len(parsed) >= 9
    k0 = None
    for i, m in enumerate(parsed):
        assert (
            m.instantaneous_stride_length is None or feature.instantaneous_stride_length_supported
        )
        assert m.total_distance is None or feature.total_distance_supported
        assert int(m.flags) & ~0x07 == 0
        # The counter's k-th value, in bluetooth-sig's units (m/s, 1/min, m).
        k = next(
            k
            for k in range(200)
            if counter_rsc(k).cadence_spm == m.instantaneous_cadence
            and abs(counter_rsc(k).speed_mps - m.instantaneous_speed) < 1 / 512
            and (k0 is None or k >= k0)
        )
        want = counter_rsc(k)
        assert m.is_running and m.instantaneous_stride_length == pytest.approx(
            want.stride_length_m, abs=0.005
        )
        if i < n_before:
            assert m.total_distance == pytest.approx(want.total_distance_m, abs=0.05)
        k0 = k
    # After Set Cumulative Value 0 the distance restarts near 0 (relative to the counter).
    last = parsed[-1]
    assert last.total_distance is not None and last.total_distance < 3.0 * 6


@pytest.mark.parametrize(("mtu", "parts"), [(247, {2, 3}), (100, {2, 3, 4})])
async def test_reference_client_parses_the_virtual_movesense(
    private_bus: PrivateBus, mtu: int, parts: set[int]
) -> None:
    """HELLO, IMU6 + Acc + Gyro subscriptions, an unsupported path, read as the reference
    client reads them. MTU 247 asked: the Movesense settles on 161 and splits into parts."""
    rate = 208
    async with serve(
        private_bus, "--pods", "movesense:left", "--speed", "5", "--mtu", str(mtu)
    ) as sim:
        ref = ReferenceGspClient({99: (8, 2), 100: (8, 1), 101: (8, 1)})
        sizes: list[int] = []

        def on_gsp(_c: BleakGATTCharacteristic, data: bytearray) -> None:
            sizes.append(len(data))
            ref.on_notification(bytes(data))

        async for client in connect(sim.addresses[0]):
            notify = client.services.get_characteristic(P.MOVESENSE_NOTIFY_CHAR_UUID)
            assert notify is not None
            capacity = notify.max_write_without_response_size
            await client.start_notify(notify, on_gsp)
            write = P.MOVESENSE_WRITE_CHAR_UUID
            await client.write_gatt_char(write, b"\x00\x01", response=True)  # HELLO
            for r, path in ((99, "IMU6"), (100, "Acc"), (101, "Gyro")):
                await client.write_gatt_char(
                    write, bytes([1, r]) + f"/Meas/{path}/{rate}".encode(), response=True
                )
            await client.write_gatt_char(write, b"\x01\x07/Meas/Magn/13", response=True)
            for _ in range(200):
                if min(sum(m.ref == r for m in ref.messages) for r in (99, 100, 101)) >= 20:
                    break
                await asyncio.sleep(0.05)
            await client.write_gatt_char(write, b"\x02\x63", response=True)  # UNSUBSCRIBE
    assert capacity == min(mtu, 161) - 3
    assert max(sizes) <= capacity and parts <= ref.parts_seen
    # Replies as the reference sends them: "Hello", nothing for a subscribe that worked,
    # an HTTP-like status (most significant octet first) for one that did not.
    assert ref.responses == [b"\x01\x01Hello", b"\x01\x07\x01\x94"]
    by_ref = {r: [m for m in ref.messages if m.ref == r] for r in (99, 100, 101)}
    assert all(len(ms) >= 20 for ms in by_ref.values())
    idx_by_ts: dict[int, np.ndarray] = {}
    for m in by_ref[99]:
        acc = np.array(m.arrays[0])
        gyr = np.array(m.arrays[1])
        idx = index_from_counts(np.rint(acc / acc_lsb_mps2(16)).astype(np.int64))
        want_acc, want_gyr = counter_counts(idx, Foot.LEFT)
        np.testing.assert_allclose(acc, want_acc * acc_lsb_mps2(16), rtol=1e-6, atol=1e-6)
        dps = want_gyr * np.rad2deg(gyr_lsb_radps(2000))
        np.testing.assert_allclose(gyr, dps, rtol=1e-5, atol=1e-4)
        idx_by_ts[m.timestamp_ms] = idx
    all_idx = np.concatenate([idx_by_ts[t] for t in sorted(idx_by_ts)])
    assert np.all(np.diff(all_idx) == 1), "reference client missed or repeated samples"
    # Acc and Gyro subscriptions carry the same samples, one signal each.
    for m in by_ref[100]:
        if m.timestamp_ms in idx_by_ts:
            want_acc, _ = counter_counts(idx_by_ts[m.timestamp_ms], Foot.LEFT)
            np.testing.assert_allclose(m.arrays[0], want_acc * acc_lsb_mps2(16), rtol=1e-6)
    for m in by_ref[101]:
        if m.timestamp_ms in idx_by_ts:
            _, want_gyr = counter_counts(idx_by_ts[m.timestamp_ms], Foot.LEFT)
            dps = want_gyr * np.rad2deg(gyr_lsb_radps(2000))
            np.testing.assert_allclose(m.arrays[0], dps, rtol=1e-5, atol=1e-4)


async def test_link_reads_movesense_in_three_parts(private_bus: PrivateBus) -> None:
    """gaitcoach's client on the same stream at MTU 100 (DATA, DATA_PART2, DATA_PART3)."""
    speed = 10.0
    async with serve(
        private_bus, "--pods", "movesense:left", "--speed", str(speed), "--mtu", "100"
    ) as sim:
        cfg = fast_config(speed, pods=(PodSelector(address=sim.addresses[0], foot=Foot.LEFT),))
        async with FootpodLink(cfg) as link:
            rec = await collect(link, lambda r: n_samples(r, Foot.LEFT) >= 10 * 208, 30)
            status = link.status()[0]
    idx = rec.indices(Foot.LEFT)
    assert np.all(np.diff(idx) == 1)
    _, acc, _ = rec.samples(Foot.LEFT)
    want_acc, _ = counter_counts(idx, Foot.LEFT)
    np.testing.assert_allclose(acc, want_acc * acc_lsb_mps2(16), rtol=1e-6, atol=1e-6)
    assert status.counters.malformed == 0 and status.gsp is not None
    assert status.gsp.unknown_types == 0 and status.gsp.result_count == 0
    assert not status.gsp.results
    assert status.confirmed_by == f"GATT service {P.MOVESENSE_SERVICE_UUID}"
    assert status.device_info is not None and status.device_info.model == "movesense"
