"""Running Speed and Cadence (service 0x1814): liberal receivers for the client.

From the Bluetooth SIG GATT Specification Supplement (RSC Measurement 0x2A53, RSC Feature
0x2A54), all little-endian:

- RSC Measurement: ``u8 flags`` (bit 0 Instantaneous Stride Length present, bit 1 Total
  Distance present, bit 2 walking (0) or running (1), bits 3-7 reserved for future use),
  ``u16 speed`` (1/256 m/s), ``u8 cadence`` (1/min), ``[u16 stride length]`` (1/100 m),
  ``[u32 total distance]`` (1/10 m).
- RSC Feature: ``u16`` bit 0 stride length, 1 total distance, 2 walking/running status,
  3 calibration procedure, 4 multiple sensor locations supported; bits 5-15 reserved.

Reserved bits and octets after the declared fields are ignored and reported in
``ignored``; a value shorter than its flags declare raises :class:`PacketError`. The pods'
side (encoders) is ``firmware_sim.pods.wire``.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field

from gaitcoach.footpod.codec import PacketError
from gaitcoach.footpod.receive import NOTHING_IGNORED, Ignored

FLAG_STRIDE = 0x01
FLAG_DISTANCE = 0x02
FLAG_RUNNING = 0x04
FLAGS_DEFINED = FLAG_STRIDE | FLAG_DISTANCE | FLAG_RUNNING
FEATURE_STRIDE = 0x0001
FEATURE_DISTANCE = 0x0002
FEATURE_RUN_STATUS = 0x0004
FEATURE_CALIBRATION = 0x0008
FEATURE_MULTIPLE_LOCATIONS = 0x0010
FEATURES_DEFINED = 0x001F
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
    running: bool | None
    """The walking (False) / running (True) status bit; None when the pod's RSC Feature does
    not declare walking/running status, so that the bit means nothing
    (:meth:`RscFeature.interpret`)."""
    stride_length_m: float | None = None
    total_distance_m: float | None = None
    ignored: Ignored = field(default=NOTHING_IGNORED, compare=False)
    """Reserved flag bits and trailing octets the receiver skipped."""


def decode_rsc(data: bytes | bytearray | memoryview) -> RscMeasurement:
    """Decode an RSC Measurement (raises :class:`PacketError` only when truncated)."""
    raw = bytes(data)
    if len(raw) < 4:
        raise PacketError(f"RSC measurement truncated: {len(raw)} octets, at least 4 needed")
    flags, speed, cadence = struct.unpack_from("<BHB", raw)
    want = 4 + (2 if flags & FLAG_STRIDE else 0) + (4 if flags & FLAG_DISTANCE else 0)
    if len(raw) < want:
        raise PacketError(
            f"RSC measurement truncated: flags 0x{flags:02x} declare {want} octets, got {len(raw)}"
        )
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
        ignored=Ignored(reserved_bits=flags & ~FLAGS_DEFINED & 0xFF, extra_octets=len(raw) - want),
    )


@dataclass(frozen=True, slots=True)
class RscFeature:
    """RSC Feature: what the sensor says it can measure and do."""

    stride_length: bool
    total_distance: bool
    running_status: bool
    calibration: bool = False
    multiple_locations: bool = False
    ignored: Ignored = field(default=NOTHING_IGNORED, compare=False)

    def interpret(self, m: RscMeasurement) -> RscMeasurement:
        """``m`` as this sensor means it: without walking/running status support the status
        bit is reserved-as-zero, not "walking" (real footpods leave it clear while running)."""
        return m if self.running_status else dataclasses.replace(m, running=None)

    def mismatches(self, m: RscMeasurement) -> list[str]:
        """Fields a measurement carries that this feature value does not declare."""
        out = []
        if m.stride_length_m is not None and not self.stride_length:
            out.append("stride length sent but not declared in RSC Feature")
        if m.total_distance_m is not None and not self.total_distance:
            out.append("total distance sent but not declared in RSC Feature")
        return out


def decode_rsc_feature(data: bytes | bytearray | memoryview) -> RscFeature:
    """Decode an RSC Feature value (raises :class:`PacketError` only when truncated)."""
    raw = bytes(data)
    if len(raw) < 2:
        raise PacketError(f"RSC feature truncated: {len(raw)} octets, 2 needed")
    bits = int(struct.unpack_from("<H", raw)[0])
    return RscFeature(
        stride_length=bool(bits & FEATURE_STRIDE),
        total_distance=bool(bits & FEATURE_DISTANCE),
        running_status=bool(bits & FEATURE_RUN_STATUS),
        calibration=bool(bits & FEATURE_CALIBRATION),
        multiple_locations=bool(bits & FEATURE_MULTIPLE_LOCATIONS),
        ignored=Ignored(reserved_bits=bits & ~FEATURES_DEFINED & 0xFFFF, extra_octets=len(raw) - 2),
    )
