"""Which advertisements are pods, and why: discovery rules for what real devices advertise
(docs/footpod-profile.md, "Discovery"; docs/movesense.md, "Discovery").

An advertisement only makes a device a *candidate* of a kind; the link confirms the kind
from the GATT services after connecting. Every rule that matched is kept as a sentence
(``evidence``) so that ``gaitcoach scan`` can say why it lists a device.

- gaitcoach footpod: the footpod service UUID in the UUID list, or service data under it
  (side, battery, protocol version), which a legacy advertiser carries in the advertising
  data while the UUID list and the name travel in the scan response.
- Movesense: the sensor's firmware does not advertise the GSP service; a real advertisement
  carries the name ``Movesense <serial>``, manufacturer data of company 0x009F (Suunto Oy)
  and the 16-bit service UUID 0xFE06. Any of: the GSP service UUID, the name, or company
  0x009F together with 0xFE06 (each of those two alone is also used by other Suunto
  products and other vendors).
- RSC footpod (Stryd, Polar Stride, ...): the 16-bit Running Speed and Cadence service
  UUID 0x1814 in the UUID list.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gaitcoach.footpod.codec import PacketError, decode_adv
from gaitcoach.footpod.profile import (
    FOOTPOD_SERVICE_UUID,
    MOVESENSE_ADV_UUID,
    MOVESENSE_SERVICE_UUID,
    RSC_SERVICE_UUID,
    SUUNTO_COMPANY_ID,
    PodKind,
)
from gaitcoach.types import Foot

MOVESENSE_NAME = re.compile(r"^Movesense(\s|$)")
"""The name the Movesense firmware advertises: ``Movesense <serial number>``."""


@dataclass(frozen=True, slots=True)
class Classification:
    """What an advertisement says about a device."""

    kind: PodKind
    evidence: tuple[str, ...]
    """Why it is a candidate of ``kind`` (one sentence per matching rule)."""
    side: Foot = Foot.UNKNOWN
    battery_pct: int | None = None
    also: tuple[PodKind, ...] = ()
    """Other kinds it is a candidate of (less preferred)."""


def _evidence(
    name: str,
    uuids: set[str],
    service_data: Mapping[str, bytes],
    manufacturer: Mapping[int, bytes],
) -> dict[PodKind, list[str]]:
    found: dict[PodKind, list[str]] = {}
    if FOOTPOD_SERVICE_UUID in uuids:
        found.setdefault(PodKind.FOOTPOD, []).append("footpod service UUID advertised")
    if FOOTPOD_SERVICE_UUID in service_data:
        found.setdefault(PodKind.FOOTPOD, []).append("footpod service data (side, battery)")
    movesense = []
    if MOVESENSE_SERVICE_UUID in uuids:
        movesense.append("GSP service UUID advertised")
    if MOVESENSE_NAME.match(name):
        movesense.append(f"name {name!r} matches 'Movesense <serial>'")
    if SUUNTO_COMPANY_ID in manufacturer and MOVESENSE_ADV_UUID in uuids:
        movesense.append("manufacturer data of company 0x009F (Suunto) with 16-bit UUID 0xFE06")
    if movesense:
        found[PodKind.MOVESENSE] = movesense
    if RSC_SERVICE_UUID in uuids:
        found[PodKind.RSC] = ["16-bit service UUID 0x1814 (Running Speed and Cadence)"]
    return found


def classify(
    name: str | None,
    service_uuids: Sequence[str],
    service_data: Mapping[str, bytes] | None = None,
    manufacturer_data: Mapping[int, bytes] | None = None,
) -> Classification | None:
    """The preferred pod kind an advertisement is a candidate of (None: not a pod)."""
    uuids = {u.lower() for u in service_uuids}
    data = {k.lower(): bytes(v) for k, v in (service_data or {}).items()}
    found = _evidence(name or "", uuids, data, manufacturer_data or {})
    kinds = [k for k in PodKind if k in found]  # PodKind lists kinds in order of preference
    if not kinds:
        return None
    side, battery = Foot.UNKNOWN, None
    if kinds[0] is PodKind.FOOTPOD and FOOTPOD_SERVICE_UUID in data:
        with contextlib.suppress(PacketError):
            info = decode_adv(data[FOOTPOD_SERVICE_UUID])
            side, battery = info.side, info.battery_pct
    return Classification(kinds[0], tuple(found[kinds[0]]), side, battery, tuple(kinds[1:]))
