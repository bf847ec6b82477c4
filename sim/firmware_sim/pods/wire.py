"""The pods' firmware side of every wire format: what a pod sends and how it reads writes.

Written from the specifications, not from the client: the footpod profile
(docs/footpod-profile.md), the Bluetooth SIG GATT Specification Supplement (RSC Measurement,
RSC Feature, SC Control Point, Battery Level), the Core Specification Supplement (advertising
data structures) and the Movesense reference (``gatt_sensordata_app``: commands, result
codes, data parts). The client decodes with ``gaitcoach.footpod``; the two meet only on the
wire, so a misreading in one shows up as a failing link test instead of cancelling out.
Only UUIDs and code tables are shared (``gaitcoach.footpod.profile``).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gaitcoach.footpod.profile import (
    ACC_RANGES_G,
    GYR_RANGES_DPS,
    PROTOCOL_VERSION,
    RATES_HZ,
    acc_lsb_mps2,
    gyr_lsb_radps,
)
from gaitcoach.types import Foot


class WriteRefused(ValueError):
    """A write the firmware does not accept (the GATT layer turns it into an ATT error)."""


# -- footpod raw IMU profile ------------------------------------------------------------------
SIDE_OCTET = {Foot.UNKNOWN: 0, Foot.LEFT: 1, Foot.RIGHT: 2}
OP_START, OP_STOP, OP_CONFIGURE = 0x01, 0x02, 0x03


def footpod_format_code(rate_hz: int, acc_range_g: int, gyr_range_dps: int) -> int:
    """The ``fmt`` octet: bits 0-1 rate code, 2-3 acc range code, 4-6 gyr range code."""
    return (
        RATES_HZ.index(rate_hz)
        | ACC_RANGES_G.index(acc_range_g) << 2
        | GYR_RANGES_DPS.index(gyr_range_dps) << 4
    )


def pack_data_packet(
    seq: int, t_first_us: int, fmt_code: int, counts: npt.NDArray[np.int16]
) -> bytes:
    """``u16 seq, u32 t_first_us, u8 fmt, u8 n`` then ``n x 6 x i16``, little-endian."""
    n = int(counts.shape[0])
    head = (
        (seq & 0xFFFF).to_bytes(2, "little")
        + (t_first_us % (1 << 32)).to_bytes(4, "little")
        + bytes([fmt_code, n])
    )
    return head + np.ascontiguousarray(counts, dtype="<i2").tobytes()


def data_packet_capacity(att_mtu: int) -> int:
    """Samples per notification: ``MTU - 3`` octets of value, 8 of header, 12 per sample."""
    return max(1, min(255, (att_mtu - 3 - 8) // 12))


def pack_format_value(rate_hz: int, acc_range_g: int, gyr_range_dps: int) -> bytes:
    """``u8 version, u8 fmt, u16 rate_hz, f32 acc_lsb_mps2, f32 gyr_lsb_radps``."""
    return struct.pack(
        "<BBHff",
        PROTOCOL_VERSION,
        footpod_format_code(rate_hz, acc_range_g, gyr_range_dps),
        rate_hz,
        acc_lsb_mps2(acc_range_g),
        gyr_lsb_radps(gyr_range_dps),
    )


def pack_side(side: Foot) -> bytes:
    return bytes([SIDE_OCTET[side]])


def pack_footpod_service_data(side: Foot, battery_pct: int) -> bytes:
    return bytes([SIDE_OCTET[side], battery_pct, PROTOCOL_VERSION])


@dataclass(frozen=True, slots=True)
class ControlWrite:
    op: int
    rate_hz: int = 0
    acc_range_g: int = 0
    gyr_range_dps: int = 0


def unpack_control(value: bytes) -> ControlWrite:
    """A control point write: ``01`` START, ``02`` STOP, ``03 u16 rate, u8 acc, u16 gyr``."""
    if value in (bytes([OP_START]), bytes([OP_STOP])):
        return ControlWrite(value[0])
    if len(value) == 6 and value[0] == OP_CONFIGURE:
        rate, acc, gyr = struct.unpack_from("<HBH", value, 1)
        if rate not in RATES_HZ or acc not in ACC_RANGES_G or gyr not in GYR_RANGES_DPS:
            raise WriteRefused(f"CONFIGURE {rate} Hz, {acc} g, {gyr} dps not supported")
        return ControlWrite(OP_CONFIGURE, rate, acc, gyr)
    raise WriteRefused(f"control point write {value.hex() or 'empty'} not understood")


# -- Running Speed and Cadence, Battery -------------------------------------------------------
RSC_STRIDE, RSC_DISTANCE, RSC_RUNNING = 0x01, 0x02, 0x04
SC_SET_CUMULATIVE = 0x01
SC_RESPONSE = 0x10
SC_SUCCESS, SC_NOT_SUPPORTED, SC_INVALID_OPERAND = 0x01, 0x02, 0x03
ATT_RSCS_CCCD_IMPROPER = 0x81
"""RSCS application error: indications of the SC Control Point not enabled."""


def pack_rsc_measurement(
    speed_mps: float,
    cadence_per_min: int,
    running: bool,
    stride_m: float | None,
    distance_m: float | None,
) -> bytes:
    """Flags, u16 speed (1/256 m/s), u8 cadence, [u16 stride (cm)], [u32 distance (dm)]."""
    flags = RSC_RUNNING if running else 0
    tail = b""
    if stride_m is not None:
        flags |= RSC_STRIDE
        tail += min(0xFFFF, max(0, round(stride_m * 100))).to_bytes(2, "little")
    if distance_m is not None:
        flags |= RSC_DISTANCE
        tail += min(0xFFFFFFFF, max(0, round(distance_m * 10))).to_bytes(4, "little")
    speed = min(0xFFFF, max(0, round(speed_mps * 256)))
    return bytes([flags]) + speed.to_bytes(2, "little") + bytes([min(255, cadence_per_min)]) + tail


def pack_rsc_feature(stride: bool, distance: bool, running_status: bool) -> bytes:
    bits = (1 if stride else 0) | (2 if distance else 0) | (4 if running_status else 0)
    return bits.to_bytes(2, "little")


def sc_control_point_reply(value: bytes) -> tuple[bytes, float | None]:
    """The indication answering an SC Control Point write, and the new total distance in
    metres when it was a valid Set Cumulative Value (``01 u32`` in 1/10 m)."""
    if not value:
        raise WriteRefused("empty SC Control Point write")
    op = value[0]
    if op != SC_SET_CUMULATIVE:
        return bytes([SC_RESPONSE, op, SC_NOT_SUPPORTED]), None
    if len(value) != 5:
        return bytes([SC_RESPONSE, op, SC_INVALID_OPERAND]), None
    return bytes([SC_RESPONSE, op, SC_SUCCESS]), int.from_bytes(value[1:5], "little") / 10


def pack_battery(pct: int) -> bytes:
    return bytes([pct])


# -- Movesense GATT SensorData Protocol -------------------------------------------------------
GSP_HELLO, GSP_SUBSCRIBE, GSP_UNSUBSCRIBE = 0, 1, 2
GSP_RESULT, GSP_DATA, GSP_DATA_PART2, GSP_DATA_PART3 = 1, 2, 3, 4
GSP_HELLO_REPLY_TEXT = b"Hello"
GSP_NO_FREE_SLOT = 507
GSP_NOT_FOUND = 404


@dataclass(frozen=True, slots=True)
class GspCommandIn:
    command: int
    ref: int
    data: bytes


def unpack_gsp_command(value: bytes) -> GspCommandIn | None:
    """``[command, reference, data]``; None for a write too short to carry both (the
    reference reads two octets unconditionally; a pod here just ignores it)."""
    if len(value) < 2:
        return None
    return GspCommandIn(value[0], value[1], bytes(value[2:]))


def gsp_result(ref: int, status: int) -> bytes:
    """COMMAND_RESULT with an HTTP-like status, most significant octet first (``01 fb``)."""
    return bytes([GSP_RESULT, ref]) + status.to_bytes(2, "big")


def gsp_hello_reply(ref: int) -> bytes:
    return bytes([GSP_RESULT, ref]) + GSP_HELLO_REPLY_TEXT


def pack_meas_payload(timestamp_ms: int, *vectors: npt.ArrayLike) -> bytes:
    """``u32 timestamp`` then each array of ``n x float32[3]`` in turn (IMU6: acc, gyro)."""
    body = b"".join(np.ascontiguousarray(v, dtype="<f4").tobytes() for v in vectors)
    return (timestamp_ms % (1 << 32)).to_bytes(4, "little") + body


def gsp_parts(ref: int, payload: bytes, max_notify: int) -> list[bytes]:
    """One subscription notification as sent: ``[DATA, ref, ...]`` filled to ``max_notify``
    octets, the rest in ``[DATA_PART2, ref, ...]`` and ``[DATA_PART3, ref, ...]``."""
    room = max_notify - 2
    chunks = [payload[i : i + room] for i in range(0, len(payload), room)] or [b""]
    if len(chunks) > 3:
        raise ValueError(f"{len(payload)} octets need more than 3 parts at {max_notify} per part")
    kinds = (GSP_DATA, GSP_DATA_PART2, GSP_DATA_PART3)
    return [bytes([kinds[i], ref]) + c for i, c in enumerate(chunks)]


def gsp_max_payload(max_notify: int) -> int:
    """Largest payload that three parts carry."""
    return 3 * (max_notify - 2)


# -- advertising data (Core Specification Supplement, Part A) ---------------------------------
AD_FLAGS = 0x01
AD_UUID16_COMPLETE = 0x03
AD_UUID128_COMPLETE = 0x07
AD_NAME_COMPLETE = 0x09
AD_SERVICE_DATA_UUID128 = 0x21
AD_MANUFACTURER = 0xFF
FLAGS_LE_GENERAL_NO_BREDR = 0x06
LEGACY_AD_MAX = 31
"""Octets of advertising data (and of scan response data) in a legacy advertisement."""


def ad_structure(ad_type: int, data: bytes) -> bytes:
    return bytes([len(data) + 1, ad_type]) + data


def uuid16_le(full: str) -> bytes:
    """The 16-bit form of a SIG UUID ``0000xxxx-0000-1000-8000-00805f9b34fb``."""
    return int(full[4:8], 16).to_bytes(2, "little")


def uuid128_le(full: str) -> bytes:
    return uuid.UUID(full).bytes[::-1]


def legacy_payload(*structures: bytes) -> bytes:
    out = b"".join(structures)
    if len(out) > LEGACY_AD_MAX:
        raise ValueError(f"{len(out)} octets of AD structures exceed a legacy PDU's 31")
    return out
