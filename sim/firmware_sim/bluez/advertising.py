"""How BlueZ turns a device's advertising data and scan response into ``Device1``
properties: the AD structures (Core Specification Supplement, Part A) of both PDUs, merged.

Only what ``Device1`` exposes is kept: the local name (complete before shortened), service
UUIDs (16-, 32- and 128-bit, as full 128-bit strings), service data, manufacturer data
(keyed by company identifier) and the TX power level, which is absent unless advertised.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

SIG_BASE = "-0000-1000-8000-00805f9b34fb"
_UUID_LISTS = {0x02: 2, 0x03: 2, 0x04: 4, 0x05: 4, 0x06: 16, 0x07: 16}
_SERVICE_DATA = {0x16: 2, 0x20: 4, 0x21: 16}


def _uuid(raw_le: bytes) -> str:
    if len(raw_le) == 16:
        return str(uuid.UUID(bytes=raw_le[::-1]))
    return f"{int.from_bytes(raw_le, 'little'):08x}{SIG_BASE}"


@dataclass(frozen=True, slots=True)
class AdFields:
    local_name: str | None = None
    service_uuids: list[str] = field(default_factory=list)
    service_data: dict[str, bytes] = field(default_factory=dict)
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    tx_power_dbm: int | None = None


def parse_ad(*payloads: bytes) -> AdFields:
    """Merge the AD structures of ``payloads`` (advertising data, then scan response).
    Malformed structures are skipped, as BlueZ does."""
    names: dict[int, str] = {}
    uuids: list[str] = []
    service_data: dict[str, bytes] = {}
    manufacturer: dict[int, bytes] = {}
    tx_power: int | None = None
    for data in payloads:
        pos = 0
        while pos < len(data):
            length = data[pos]
            if length == 0:
                break  # the rest is padding
            body = data[pos + 2 : pos + 1 + length]
            ad_type = data[pos + 1] if pos + 1 < len(data) else 0
            pos += 1 + length
            if len(body) != length - 1:
                break  # truncated structure
            if ad_type in (0x08, 0x09):
                names[ad_type] = body.decode("utf-8", errors="replace")
            elif ad_type in _UUID_LISTS:
                size = _UUID_LISTS[ad_type]
                uuids += [_uuid(body[i : i + size]) for i in range(0, len(body) - size + 1, size)]
            elif ad_type in _SERVICE_DATA and len(body) >= _SERVICE_DATA[ad_type]:
                size = _SERVICE_DATA[ad_type]
                service_data[_uuid(body[:size])] = body[size:]
            elif ad_type == 0xFF and len(body) >= 2:
                manufacturer[int.from_bytes(body[:2], "little")] = body[2:]
            elif ad_type == 0x0A and len(body) == 1:
                tx_power = int.from_bytes(body, "little", signed=True)
    name = names.get(0x09, names.get(0x08))
    return AdFields(name, list(dict.fromkeys(uuids)), service_data, manufacturer, tx_power)
