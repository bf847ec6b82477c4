"""The footpod BLE profile (docs/footpod-profile.md): UUIDs, the client's packet decoders,
the standard RSC, Battery and Device Information receivers, the Movesense GATT SensorData
Protocol (docs/movesense.md) and the discovery rules for real advertisements."""

from gaitcoach.footpod.advert import Classification, classify
from gaitcoach.footpod.codec import (
    AdvInfo,
    ControlCommand,
    ControlOp,
    FormatInfo,
    ImuFormat,
    ImuPacket,
    PacketError,
    decode_adv,
    decode_format,
    decode_imu_packet,
    decode_side,
    encode_control,
    encode_imu_packet,
    samples_per_packet,
)
from gaitcoach.footpod.profile import PodKind, kind_from_services
from gaitcoach.footpod.receive import Ignored, ReceiveCounters
from gaitcoach.footpod.rsc import RscFeature, RscMeasurement, decode_rsc, decode_rsc_feature
from gaitcoach.footpod.standard import BatteryLevel, DeviceInfo, decode_battery, decode_dis_string

__all__ = [
    "AdvInfo",
    "BatteryLevel",
    "Classification",
    "ControlCommand",
    "ControlOp",
    "DeviceInfo",
    "FormatInfo",
    "Ignored",
    "ImuFormat",
    "ImuPacket",
    "PacketError",
    "PodKind",
    "ReceiveCounters",
    "RscFeature",
    "RscMeasurement",
    "classify",
    "decode_adv",
    "decode_battery",
    "decode_dis_string",
    "decode_format",
    "decode_imu_packet",
    "decode_rsc",
    "decode_rsc_feature",
    "decode_side",
    "encode_control",
    "encode_imu_packet",
    "kind_from_services",
    "samples_per_packet",
]
