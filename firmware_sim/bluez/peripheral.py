"""What a virtual peripheral tells the virtual BlueZ: its advertisement and GATT database.

The pods' firmware (``firmware_sim.pods``) implements :class:`Peripheral`; the virtual BlueZ
(:mod:`firmware_sim.bluez.server`) turns it into D-Bus objects and hands it a
:class:`Central` (the connected client's side of the link) to notify through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


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


@dataclass(slots=True)
class Advertisement:
    local_name: str
    service_uuids: list[str]
    service_data: dict[str, bytes] = field(default_factory=dict)
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    tx_power_dbm: int = 0
    rssi_dbm: int = -60


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

    def advertisement(self) -> Advertisement: ...

    def gatt(self) -> list[ServiceSpec]: ...

    def on_connect(self, central: Central) -> None: ...

    def on_disconnect(self) -> None: ...

    def on_subscribe(self, char_uuid: str, enabled: bool) -> None: ...
