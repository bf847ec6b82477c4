"""The footpod BLE profile (docs/footpod-profile.md): UUIDs, and the packet codecs that the
virtual pods encode and the live link decodes; plus the standard RSC service and the
Movesense GATT Sensor Data Protocol (docs/movesense.md)."""

from gaitcoach.footpod.codec import (
    AdvInfo,
    ControlCommand,
    ControlOp,
    FormatInfo,
    ImuFormat,
    ImuPacket,
    PacketError,
    decode_adv,
    decode_battery,
    decode_control,
    decode_format,
    decode_imu_packet,
    decode_side,
    encode_adv,
    encode_control,
    encode_format,
    encode_imu_packet,
    encode_side,
    samples_per_packet,
)
from gaitcoach.footpod.profile import PodKind, kind_from_services
from gaitcoach.footpod.rsc import RscMeasurement, decode_rsc, encode_rsc

__all__ = [
    "AdvInfo",
    "ControlCommand",
    "ControlOp",
    "FormatInfo",
    "ImuFormat",
    "ImuPacket",
    "PacketError",
    "PodKind",
    "RscMeasurement",
    "decode_adv",
    "decode_battery",
    "decode_control",
    "decode_format",
    "decode_imu_packet",
    "decode_rsc",
    "decode_side",
    "encode_adv",
    "encode_control",
    "encode_format",
    "encode_imu_packet",
    "encode_rsc",
    "encode_side",
    "kind_from_services",
    "samples_per_packet",
]
