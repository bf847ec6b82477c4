"""The gaitcoach footpod GATT profile: UUIDs, codes and limits (docs/footpod-profile.md).

Pure constants shared by the pods' firmware (``firmware_sim.pods``) and the client
(``gaitcoach.link``).
"""

from __future__ import annotations

from enum import StrEnum

from gaitcoach.frames import G_MPS2
from gaitcoach.types import Foot

PROTOCOL_VERSION = 1
"""Version of the raw IMU streaming protocol (format characteristic, byte 0)."""


def _custom(short: int) -> str:
    return f"6a7e{short:04x}-3b8f-4c1d-9e2a-5f0c8d41b7e3"


FOOTPOD_SERVICE_UUID = _custom(0x0001)
"""Custom 128-bit service for raw IMU streaming."""
DATA_CHAR_UUID = _custom(0x0002)
"""Notify: batches of samples (see :mod:`gaitcoach.footpod.codec`)."""
CONTROL_CHAR_UUID = _custom(0x0003)
"""Write with response: start, stop, configure (rate, ranges)."""
SIDE_CHAR_UUID = _custom(0x0004)
"""Read: which shoe the pod is on."""
FORMAT_CHAR_UUID = _custom(0x0005)
"""Read: protocol version and the current sample format and scales."""


def sig_uuid(short: int) -> str:
    """Full 128-bit form of a Bluetooth SIG 16-bit UUID (lower case, as bleak reports it)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


DIS_SERVICE_UUID = sig_uuid(0x180A)
MANUFACTURER_CHAR_UUID = sig_uuid(0x2A29)
MODEL_CHAR_UUID = sig_uuid(0x2A24)
SERIAL_CHAR_UUID = sig_uuid(0x2A25)
HARDWARE_REV_CHAR_UUID = sig_uuid(0x2A27)
FIRMWARE_REV_CHAR_UUID = sig_uuid(0x2A26)
BATTERY_SERVICE_UUID = sig_uuid(0x180F)
BATTERY_LEVEL_CHAR_UUID = sig_uuid(0x2A19)
RSC_SERVICE_UUID = sig_uuid(0x1814)
RSC_MEASUREMENT_CHAR_UUID = sig_uuid(0x2A53)
RSC_FEATURE_CHAR_UUID = sig_uuid(0x2A54)
SENSOR_LOCATION_CHAR_UUID = sig_uuid(0x2A5D)

SC_CONTROL_POINT_CHAR_UUID = sig_uuid(0x2A55)

MOVESENSE_SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
MOVESENSE_WRITE_CHAR_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
MOVESENSE_NOTIFY_CHAR_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"
MOVESENSE_ADV_UUID = sig_uuid(0xFE06)
"""16-bit service UUID in a real Movesense advertisement (not a GATT service of it)."""
SUUNTO_COMPANY_ID = 0x009F
"""Bluetooth SIG company identifier of Suunto Oy (Movesense manufacturer data)."""
MOVESENSE_MAX_ATT_MTU = 161
"""Largest ATT MTU a Movesense negotiates (the reference sample's path buffer says so)."""

DEFAULT_ATT_MTU = 23
"""ATT MTU before any exchange; a notification carries at most ``MTU - 3`` bytes."""
ATT_NOTIFY_OVERHEAD = 3


class PodKind(StrEnum):
    """What a pod speaks, in order of preference when a pod offers several."""

    FOOTPOD = "footpod"
    """The gaitcoach raw IMU profile."""
    MOVESENSE = "movesense"
    """Movesense GATT Sensor Data Protocol (IMU6)."""
    RSC = "rsc"
    """Only the standard Running Speed and Cadence service: reduced metrics."""


KIND_BY_SERVICE: dict[str, PodKind] = {
    FOOTPOD_SERVICE_UUID: PodKind.FOOTPOD,
    MOVESENSE_SERVICE_UUID: PodKind.MOVESENSE,
    RSC_SERVICE_UUID: PodKind.RSC,
}
SERVICE_BY_KIND: dict[PodKind, str] = {kind: uuid for uuid, kind in KIND_BY_SERVICE.items()}


def kind_from_services(uuids: list[str] | set[str] | tuple[str, ...]) -> PodKind | None:
    """The preferred kind among a connected device's GATT service UUIDs (None: not a pod).
    Advertisements are classified by :func:`gaitcoach.footpod.advert.classify`."""
    lowered = {u.lower() for u in uuids}
    for uuid, kind in KIND_BY_SERVICE.items():
        if uuid in lowered:
            return kind
    return None


RATES_HZ: tuple[int, ...] = (104, 208, 416)
"""Output data rates the pod's IMU supports (index = rate code)."""
ACC_RANGES_G: tuple[int, ...] = (2, 4, 8, 16)
"""Accelerometer full-scale ranges (index = range code)."""
GYR_RANGES_DPS: tuple[int, ...] = (125, 250, 500, 1000, 2000)
"""Gyroscope full-scale ranges (index = range code)."""

DEG_TO_RAD = 3.141592653589793 / 180.0


def acc_lsb_mps2(range_g: float) -> float:
    """Accelerometer scale: one int16 count in m/s^2 for a +-``range_g`` full scale."""
    return range_g * G_MPS2 / 32768.0


def gyr_lsb_radps(range_dps: float) -> float:
    """Gyroscope scale: one int16 count in rad/s for a +-``range_dps`` full scale."""
    return range_dps * DEG_TO_RAD / 32768.0


SIDE_CODES: dict[int, Foot] = {0: Foot.UNKNOWN, 1: Foot.LEFT, 2: Foot.RIGHT}
SIDE_BY_FOOT: dict[Foot, int] = {v: k for k, v in SIDE_CODES.items()}
