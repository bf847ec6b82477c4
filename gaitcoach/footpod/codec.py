"""Packet codecs of the footpod raw IMU profile (docs/footpod-profile.md).

``decode_*`` is what the client reads; ``encode_control`` what it writes. The pods' firmware
encodes with its own code written from the profile (``firmware_sim.pods.wire``), so the wire
format is checked between two implementations; ``encode_imu_packet`` remains for benches and
tests that feed the client without a radio. Every decoder raises :class:`PacketError` (one
line, what is wrong) on malformed input and never anything else.

Data notification, little-endian::

    u16 seq          packet counter, +1 per notification, wraps at 65536, 0 after a restart
    u32 t_first_us   sensor clock at the first sample, microseconds, wraps
    u8  fmt          bits 0-1 rate code, 2-3 acc range code, 4-6 gyr range code, 7 zero
    u8  n            samples in this packet (>= 1)
    n x (i16 ax, ay, az, gx, gy, gz)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from gaitcoach.footpod.profile import (
    ACC_RANGES_G,
    ATT_NOTIFY_OVERHEAD,
    GYR_RANGES_DPS,
    PROTOCOL_VERSION,
    RATES_HZ,
    SIDE_CODES,
    acc_lsb_mps2,
    gyr_lsb_radps,
)
from gaitcoach.types import Foot

HEADER = struct.Struct("<HIBB")
SAMPLE_BYTES = 12
MAX_SAMPLES_PER_PACKET = 255
U32_SPAN = 1 << 32


class PacketError(ValueError):
    """A notification or characteristic value that does not follow the profile."""


@dataclass(frozen=True, slots=True)
class ImuFormat:
    """Rate and full-scale ranges of the sample stream; they define the int16 scales."""

    rate_hz: int = 208
    acc_range_g: int = 16
    gyr_range_dps: int = 2000

    def __post_init__(self) -> None:
        if self.rate_hz not in RATES_HZ:
            raise PacketError(f"rate {self.rate_hz} Hz not supported (allowed: {RATES_HZ})")
        if self.acc_range_g not in ACC_RANGES_G:
            raise PacketError(f"acc range {self.acc_range_g} g not in {ACC_RANGES_G}")
        if self.gyr_range_dps not in GYR_RANGES_DPS:
            raise PacketError(f"gyr range {self.gyr_range_dps} dps not in {GYR_RANGES_DPS}")

    @property
    def acc_lsb_mps2(self) -> float:
        return acc_lsb_mps2(self.acc_range_g)

    @property
    def gyr_lsb_radps(self) -> float:
        return gyr_lsb_radps(self.gyr_range_dps)

    @property
    def code(self) -> int:
        return (
            RATES_HZ.index(self.rate_hz)
            | ACC_RANGES_G.index(self.acc_range_g) << 2
            | GYR_RANGES_DPS.index(self.gyr_range_dps) << 4
        )

    @classmethod
    def from_code(cls, code: int) -> ImuFormat:
        rate, acc, gyr = code & 0x3, (code >> 2) & 0x3, (code >> 4) & 0x7
        if code & 0x80 or rate >= len(RATES_HZ) or gyr >= len(GYR_RANGES_DPS):
            raise PacketError(f"unknown sample format code 0x{code:02x}")
        return cls(RATES_HZ[rate], ACC_RANGES_G[acc], GYR_RANGES_DPS[gyr])


@dataclass(frozen=True, slots=True)
class ImuPacket:
    """One decoded data notification: ``n`` consecutive samples in int16 counts."""

    seq: int
    t_first_us: int
    """Sensor clock at the first sample (microseconds modulo 2**32)."""
    fmt: ImuFormat
    counts: npt.NDArray[np.int16]
    """Shape ``(n, 6)``: ax, ay, az, gx, gy, gz."""

    def __len__(self) -> int:
        return int(self.counts.shape[0])


def samples_per_packet(mtu: int) -> int:
    """How many samples fit one notification at ATT MTU ``mtu`` (>= 1 from MTU 23)."""
    room = mtu - ATT_NOTIFY_OVERHEAD - HEADER.size
    return max(1, min(MAX_SAMPLES_PER_PACKET, room // SAMPLE_BYTES))


def encode_imu_packet(seq: int, t_first_us: int, fmt: ImuFormat, counts: npt.ArrayLike) -> bytes:
    """One data notification; ``counts`` is ``(n, 6)`` int16 (acc xyz, gyr xyz)."""
    arr = np.asarray(counts)
    if arr.ndim != 2 or arr.shape[1] != 6 or not 1 <= arr.shape[0] <= MAX_SAMPLES_PER_PACKET:
        raise ValueError(f"counts must have shape (n, 6) with 1 <= n <= 255, got {arr.shape}")
    head = HEADER.pack(seq & 0xFFFF, t_first_us % U32_SPAN, fmt.code, arr.shape[0])
    return head + arr.astype("<i2").tobytes()


def decode_imu_packet(data: bytes | bytearray | memoryview) -> ImuPacket:
    """Decode one data notification (raises :class:`PacketError`)."""
    raw = bytes(data)
    if len(raw) < HEADER.size + SAMPLE_BYTES:
        raise PacketError(f"data packet too short: {len(raw)} bytes (minimum 20)")
    seq, t_first_us, code, n = HEADER.unpack_from(raw)
    if n == 0:
        raise PacketError("data packet with zero samples")
    want = HEADER.size + n * SAMPLE_BYTES
    if len(raw) != want:
        raise PacketError(f"data packet length {len(raw)} does not match {n} samples ({want})")
    fmt = ImuFormat.from_code(code)
    counts = np.frombuffer(raw, dtype="<i2", offset=HEADER.size).reshape(n, 6).astype(np.int16)
    return ImuPacket(seq, t_first_us, fmt, counts)


class ControlOp(IntEnum):
    START = 0x01
    STOP = 0x02
    CONFIGURE = 0x03


CONFIGURE = struct.Struct("<BHBH")


@dataclass(frozen=True, slots=True)
class ControlCommand:
    """A control point write: start, stop, or configure with a new format."""

    op: ControlOp
    fmt: ImuFormat | None = None


def encode_control(cmd: ControlCommand) -> bytes:
    if cmd.op is ControlOp.CONFIGURE:
        if cmd.fmt is None:
            raise ValueError("CONFIGURE needs a format")
        return CONFIGURE.pack(cmd.op, cmd.fmt.rate_hz, cmd.fmt.acc_range_g, cmd.fmt.gyr_range_dps)
    return bytes([cmd.op])


FORMAT_VALUE = struct.Struct("<BBHff")


@dataclass(frozen=True, slots=True)
class FormatInfo:
    """Value of the format/version characteristic."""

    version: int
    fmt: ImuFormat


def decode_format(data: bytes | bytearray) -> FormatInfo:
    raw = bytes(data)
    if len(raw) != FORMAT_VALUE.size:
        raise PacketError(f"format value must be {FORMAT_VALUE.size} bytes, got {len(raw)}")
    version, code, rate, _, _ = FORMAT_VALUE.unpack(raw)
    if version != PROTOCOL_VERSION:
        raise PacketError(f"unsupported footpod protocol version {version}")
    fmt = ImuFormat.from_code(code)
    if fmt.rate_hz != rate:
        raise PacketError(f"format code says {fmt.rate_hz} Hz, rate field says {rate} Hz")
    return FormatInfo(version, fmt)


def decode_side(data: bytes | bytearray) -> Foot:
    raw = bytes(data)
    if len(raw) != 1 or raw[0] not in SIDE_CODES:
        raise PacketError(f"side value must be one byte 0, 1 or 2, got {raw.hex() or 'nothing'}")
    return SIDE_CODES[raw[0]]


ADV_SERVICE_DATA = struct.Struct("<BBB")


@dataclass(frozen=True, slots=True)
class AdvInfo:
    """Service data advertised under the footpod service UUID: side, battery, version."""

    side: Foot
    battery_pct: int
    version: int = PROTOCOL_VERSION


def decode_adv(data: bytes | bytearray) -> AdvInfo:
    raw = bytes(data)
    if len(raw) != ADV_SERVICE_DATA.size:
        raise PacketError(f"advertised service data must be 3 bytes, got {len(raw)}")
    side, battery, version = ADV_SERVICE_DATA.unpack(raw)
    if side not in SIDE_CODES or battery > 100:
        raise PacketError(f"advertised service data out of range: {raw.hex()}")
    return AdvInfo(SIDE_CODES[side], battery, version)
