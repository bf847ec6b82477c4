"""What a virtual peripheral tells the virtual BlueZ: its advertisement and GATT database.

The pods' firmware (``firmware_sim.pods``) implements :class:`Peripheral`; the virtual BlueZ
(:mod:`firmware_sim.bluez.server`) turns it into D-Bus objects and hands it a
:class:`Central` (the connected client's side of the link) to notify through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from firmware_sim.bluez.advertising import AdFields, parse_ad

LEGACY_AD_MAX = 31


class AttError(Exception):
    """An ATT error returned to the client (``org.bluez.Error.Failed`` with the code)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


ATT_VALUE_NOT_ALLOWED = 0x13
ATT_APPLICATION_ERROR = 0x80


@dataclass(slots=True)
class CharSpec:
    """One characteristic. ``flags`` are BlueZ's (``read``, ``write``,
    ``write-without-response``, ``notify``, ``indicate``)."""

    uuid: str
    flags: list[str]
    read: Callable[[], bytes] | None = None
    write: Callable[[bytes], None] | None = None
    """Raises :class:`AttError` to refuse the value."""


@dataclass(slots=True)
class ServiceSpec:
    uuid: str
    chars: list[CharSpec] = field(default_factory=list)
    primary: bool = True


@dataclass(frozen=True)
class Advertisement:
    """What a scanning adapter receives: the advertising PDU's data and the scan response's
    (each at most 31 octets of AD structures in a legacy advertisement), plus the RSSI. The
    virtual BlueZ derives the ``Device1`` properties from them as BlueZ does."""

    adv_data: bytes
    scan_response: bytes = b""
    rssi_dbm: int = -60

    def __post_init__(self) -> None:
        for part, data in (
            ("advertising data", self.adv_data),
            ("scan response", self.scan_response),
        ):
            if len(data) > LEGACY_AD_MAX:
                raise ValueError(f"{part} of {len(data)} octets exceeds a legacy PDU's 31")

    @cached_property
    def fields(self) -> AdFields:
        return parse_ad(self.adv_data, self.scan_response)

    @property
    def local_name(self) -> str | None:
        return self.fields.local_name

    @property
    def service_uuids(self) -> list[str]:
        return self.fields.service_uuids

    @property
    def service_data(self) -> dict[str, bytes]:
        return self.fields.service_data

    @property
    def manufacturer_data(self) -> dict[int, bytes]:
        return self.fields.manufacturer_data

    @property
    def tx_power_dbm(self) -> int | None:
        """None unless the advertisement carries a TX Power Level structure."""
        return self.fields.tx_power_dbm


class Central(Protocol):
    """The connected client, as a peripheral sees it."""

    @property
    def mtu(self) -> int: ...

    def notify(self, char_uuid: str, value: bytes) -> bool:
        """Send a notification; False if the client is not subscribed or it was dropped."""
        ...

    def notifying(self, char_uuid: str) -> bool: ...


class Peripheral(Protocol):
    address: str
    att_mtu_max: int
    """Largest ATT MTU the peripheral accepts in an MTU exchange."""

    def advertisement(self) -> Advertisement: ...

    def gatt(self) -> list[ServiceSpec]: ...

    def on_connect(self, central: Central) -> None: ...

    def on_disconnect(self) -> None: ...

    def on_subscribe(self, char_uuid: str, enabled: bool) -> None: ...
