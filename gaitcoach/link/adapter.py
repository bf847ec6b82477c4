"""The Bluetooth adapter before any pod: is there one, and which pods are still connected to
it (a previous run killed with SIGKILL leaves them connected in BlueZ, and a connected pod
does not advertise, so scanning would never find it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bleak import BleakAdapter
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from gaitcoach.footpod.profile import (
    KIND_BY_SERVICE,
    MOVESENSE_ADV_UUID,
    PodKind,
    kind_from_services,
)
from gaitcoach.link.config import FoundPod, PodSelector
from gaitcoach.types import Foot

log = logging.getLogger(__name__)

POD_UUIDS = [*KIND_BY_SERVICE, MOVESENSE_ADV_UUID]
"""Service UUIDs (GATT or advertised; BlueZ lists both in ``Device1.UUIDs``) of the kinds
of pod the link speaks to."""


BATTERY_CALL_TIMEOUT_S = 2.0
"""Longest wait for bluetoothd to answer a ``Battery1`` read (host seconds)."""


class AdapterError(Exception):
    """No usable Bluetooth adapter (one line for the user)."""


async def open_adapter(adapter: str | None = None) -> BleakAdapter:
    """The configured (or default) adapter; :class:`AdapterError` when there is none, it is
    off, or BlueZ cannot be reached."""
    kwargs = {"bluez": {"adapter": adapter}} if adapter else {}
    try:
        return await BleakAdapter.get(**kwargs)  # type: ignore[arg-type]
    except OSError as exc:  # no system bus at all (no BlueZ, a container)
        reason = exc.strerror or str(exc)
        raise AdapterError(
            f"no Bluetooth adapter: the system D-Bus is not reachable ({reason})"
        ) from None
    except (BleakError, EOFError) as exc:
        detail = str(exc) or type(exc).__name__
        raise AdapterError(f"no Bluetooth adapter: {detail}") from None
    except Exception as exc:  # dbus-fast's errors have no common base: one line all the same
        raise AdapterError(f"no Bluetooth adapter: {type(exc).__name__}: {exc}") from None


class BluezBattery:
    """The ``org.bluez.Battery1`` level of one connected device.

    bluetoothd's battery plugin (loaded by default since BlueZ 5.48) claims a device's
    Battery Service: the service is not exported to GATT clients, so bleak never lists it,
    and the level is published as ``Battery1.Percentage`` on the device object instead
    (hbldh/bleak#393). Read on demand over a system bus connection of its own; never raises.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._bus: MessageBus | None = None

    async def percentage(self) -> int | None:
        """The level BlueZ publishes (None: no ``Battery1``, or D-Bus not reachable)."""
        try:
            if self._bus is None:
                self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            get = Message(
                destination="org.bluez",
                path=self.path,
                interface="org.freedesktop.DBus.Properties",
                member="Get",
                signature="ss",
                body=["org.bluez.Battery1", "Percentage"],
            )
            # The pod's session waits on this: a bluetoothd that never answers must not stall it.
            reply = await asyncio.wait_for(self._bus.call(get), BATTERY_CALL_TIMEOUT_S)
        except Exception as exc:  # dbus-fast's errors have no common base
            log.debug("%s: Battery1 not readable: %s", self.path, exc)
            return None
        if reply is None or reply.message_type != MessageType.METHOD_RETURN:
            return None  # no Battery1 (yet): the plugin registers it once it read the level
        return int(reply.body[0].value)

    def close(self) -> None:
        if self._bus is not None:
            with contextlib.suppress(Exception):
                self._bus.disconnect()
            self._bus = None


def _found(device: BLEDevice) -> FoundPod | None:
    props = device.details.get("props", {}) if isinstance(device.details, dict) else {}
    uuids = [u.lower() for u in props.get("UUIDs", [])]
    kind = kind_from_services(uuids)
    if kind is None and MOVESENSE_ADV_UUID in uuids:
        kind = PodKind.MOVESENSE
    if kind is None:
        return None
    return FoundPod(device.address, device.name or "", kind, Foot.UNKNOWN, None, None)


def claims(selector: PodSelector, pod: FoundPod) -> bool:
    """Whether a selector may own a connected pod: by address or name when it names one;
    a side-only selector claims any pod (the side is only known once connected)."""
    if selector.address is not None and pod.address.upper() != selector.address.upper():
        return False
    return selector.name is None or pod.name == selector.name


async def release_connected(
    selectors: tuple[PodSelector, ...], adapter: str | None = None
) -> list[str]:
    """Disconnect pods this service is configured for that BlueZ still holds connected
    (to a client that is gone); returns their addresses. Once disconnected they advertise
    again and the normal scan finds them."""
    dev = await open_adapter(adapter)
    connected = await dev.get_connected_devices(POD_UUIDS)
    mine = []
    for device in connected:
        pod = _found(device)
        if pod is not None and any(claims(s, pod) for s in selectors):
            mine.append(device)
    if not mine:
        return []
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    try:
        for device in mine:
            reply = await bus.call(
                Message(
                    destination="org.bluez",
                    path=device.details["path"],
                    interface="org.bluez.Device1",
                    member="Disconnect",
                )
            )
            if reply is not None and reply.message_type == MessageType.ERROR:
                log.warning("could not disconnect %s: %s", device.address, reply.body)
            else:
                log.info("disconnected %s, left connected by an earlier run", device.address)
    finally:
        with contextlib.suppress(Exception):
            bus.disconnect()
    return [d.address for d in mine]
