"""Running Speed and Cadence (service 0x1814) codecs.

RSC Measurement (0x2A53), little-endian: ``u8 flags`` (bit 0 stride length present, bit 1
total distance present, bit 2 running), ``u16 speed`` (1/256 m/s), ``u8 cadence`` (1/min),
``[u16 stride length]`` (1/100 m), ``[u32 total distance]`` (1/10 m).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gaitcoach.footpod.codec import PacketError

FLAG_STRIDE = 0x01
FLAG_DISTANCE = 0x02
FLAG_RUNNING = 0x04
FEATURE_STRIDE = 0x0001
FEATURE_DISTANCE = 0x0002
FEATURE_RUN_STATUS = 0x0004
SENSOR_LOCATION_TOP_OF_SHOE = 1
SENSOR_LOCATION_IN_SHOE = 2

SPEED_LSB_MPS = 1.0 / 256.0
STRIDE_LSB_M = 0.01
DISTANCE_LSB_M = 0.1


@dataclass(frozen=True, slots=True)
class RscMeasurement:
    """One RSC Measurement. ``cadence_spm`` is the spec's cadence field (1/min); footpods
    report steps per minute there (see docs/footpod-profile.md)."""

    speed_mps: float
    cadence_spm: int
    running: bool
    stride_length_m: float | None = None
    total_distance_m: float | None = None


def encode_rsc(m: RscMeasurement) -> bytes:
    flags = FLAG_RUNNING if m.running else 0
    out = bytearray()
    if m.stride_length_m is not None:
        flags |= FLAG_STRIDE
    if m.total_distance_m is not None:
        flags |= FLAG_DISTANCE
    speed = min(0xFFFF, max(0, round(m.speed_mps / SPEED_LSB_MPS)))
    out += struct.pack("<BHB", flags, speed, min(0xFF, max(0, m.cadence_spm)))
    if m.stride_length_m is not None:
        out += struct.pack("<H", min(0xFFFF, max(0, round(m.stride_length_m / STRIDE_LSB_M))))
    if m.total_distance_m is not None:
        dist = min(0xFFFFFFFF, max(0, round(m.total_distance_m / DISTANCE_LSB_M)))
        out += struct.pack("<I", dist)
    return bytes(out)


def decode_rsc(data: bytes | bytearray) -> RscMeasurement:
    """Decode an RSC Measurement (raises :class:`PacketError`)."""
    raw = bytes(data)
    if len(raw) < 4:
        raise PacketError(f"RSC measurement too short: {len(raw)} bytes (minimum 4)")
    flags, speed, cadence = struct.unpack_from("<BHB", raw)
    if flags & 0xF8:
        raise PacketError(f"RSC measurement with reserved flag bits set: 0x{flags:02x}")
    want = 4 + (2 if flags & FLAG_STRIDE else 0) + (4 if flags & FLAG_DISTANCE else 0)
    if len(raw) != want:
        raise PacketError(f"RSC measurement length {len(raw)} does not match flags ({want})")
    pos = 4
    stride = None
    distance = None
    if flags & FLAG_STRIDE:
        stride = struct.unpack_from("<H", raw, pos)[0] * STRIDE_LSB_M
        pos += 2
    if flags & FLAG_DISTANCE:
        distance = struct.unpack_from("<I", raw, pos)[0] * DISTANCE_LSB_M
    return RscMeasurement(
        speed_mps=speed * SPEED_LSB_MPS,
        cadence_spm=cadence,
        running=bool(flags & FLAG_RUNNING),
        stride_length_m=stride,
        total_distance_m=distance,
    )


def encode_rsc_feature(features: int) -> bytes:
    return struct.pack("<H", features)


def decode_rsc_feature(data: bytes | bytearray) -> int:
    raw = bytes(data)
    if len(raw) != 2:
        raise PacketError(f"RSC feature must be 2 bytes, got {len(raw)}")
    return int(struct.unpack("<H", raw)[0])
