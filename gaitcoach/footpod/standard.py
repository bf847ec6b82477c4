"""Liberal receivers for the standard Battery (0x180F) and Device Information (0x180A)
characteristics, from the Bluetooth SIG GATT Specification Supplement.

- Battery Level (0x2A19): ``u8`` percent, 0-100; 101-255 are reserved for future use.
- Device Information strings (0x2A29 manufacturer, 0x2A24 model, 0x2A25 serial,
  0x2A26 firmware, 0x2A27 hardware revision): UTF-8 strings of variable length.

Octets after a declared field are ignored and counted. Real firmware often sends C strings
with a terminating NUL (or a zero-padded buffer); those NULs are ignored and counted too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gaitcoach.footpod.codec import PacketError
from gaitcoach.footpod.receive import NOTHING_IGNORED, Ignored

BATTERY_MAX_PCT = 100


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    pct: int
    ignored: Ignored = field(default=NOTHING_IGNORED, compare=False)


def decode_battery(data: bytes | bytearray | memoryview) -> BatteryLevel:
    """Battery Level: raises :class:`PacketError` when empty or a reserved value (> 100 %,
    which has no meaning to report)."""
    raw = bytes(data)
    if not raw:
        raise PacketError("battery level truncated: 0 octets, 1 needed")
    if raw[0] > BATTERY_MAX_PCT:
        raise PacketError(f"battery level {raw[0]} is a reserved value (0-100 % defined)")
    return BatteryLevel(raw[0], Ignored(extra_octets=len(raw) - 1))


@dataclass(frozen=True, slots=True)
class DisString:
    text: str
    ignored: Ignored = field(default=NOTHING_IGNORED, compare=False)


def decode_dis_string(data: bytes | bytearray | memoryview) -> DisString:
    """A Device Information string. Never raises: invalid UTF-8 is replaced (U+FFFD) and
    counted as a reserved value, trailing NULs are counted as ignored octets."""
    raw = bytes(data)
    text_raw = raw.split(b"\x00", 1)[0]
    try:
        text, bad = text_raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        text = text_raw.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
    return DisString(text, Ignored(extra_octets=len(raw) - len(text_raw), reserved_values=bad))


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a pod's Device Information service says (None: characteristic absent)."""

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    hardware: str | None = None


__all__ = [
    "BatteryLevel",
    "DeviceInfo",
    "DisString",
    "PacketError",
    "decode_battery",
    "decode_dis_string",
]
