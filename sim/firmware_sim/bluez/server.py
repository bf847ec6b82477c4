"""A virtual BlueZ: the parts of ``org.bluez`` that bleak's BlueZ backend uses.

Serves ObjectManager, ``Adapter1`` (discovery and its filter), ``Device1`` (connect,
disconnect, pairing, advertised UUIDs, RSSI), ``GattService1``, ``GattCharacteristic1``
(read, write, StartNotify with PropertiesChanged, AcquireNotify/AcquireWrite over a socket)
and ``GattDescriptor1``, with BlueZ's object paths and signal order
(see /work/shared/notes/virtual-bluez.md and docs/footpod-profile.md).
"""

# No ``from __future__ import annotations``: dbus-fast reads the D-Bus signatures from the
# evaluated annotations.

import asyncio
import contextlib
import logging
import os
import socket
from types import TracebackType
from typing import Annotated

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusByte,
    DBusBytes,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt16,
)
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_method, dbus_property

from firmware_sim.bluez.peripheral import AttError, CharSpec, Peripheral, ServiceSpec

log = logging.getLogger(__name__)

BLUEZ = "org.bluez"
ADAPTER_PATH = "/org/bluez/hci0"
CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusManufacturer = Annotated[dict[int, Variant], DBusSignature("a{qv}")]


def _err(name: str, text: str) -> DBusError:
    return DBusError(f"org.bluez.Error.{name}", text)


def device_path(address: str) -> str:
    return f"{ADAPTER_PATH}/dev_{address.upper().replace(':', '_')}"


class Adapter1(ServiceInterface):
    def __init__(self, server: "VirtualBluez") -> None:
        super().__init__("org.bluez.Adapter1")
        self._server = server
        self.discovering = False
        self.filter_uuids: set[str] = set()

    @dbus_method()
    def SetDiscoveryFilter(self, props: DBusDict) -> None:
        # Only the UUID filter is applied (as BlueZ does: a device is reported when it
        # advertises one of them in its UUID list or service data); the rest is accepted.
        uuids = props.get("UUIDs")
        self.filter_uuids = {str(u).lower() for u in uuids.value} if uuids is not None else set()

    @dbus_method()
    def StartDiscovery(self) -> None:
        if not self.discovering:
            self.discovering = True
            self.emit_properties_changed({"Discovering": True})
        self._server.discovery_changed()

    @dbus_method()
    def StopDiscovery(self) -> None:
        if self.discovering:
            self.discovering = False
            self.emit_properties_changed({"Discovering": False})

    @dbus_method()
    async def RemoveDevice(self, path: DBusObjectPath) -> None:
        dev = self._server.device_by_path(path)
        if dev is None:
            raise _err("DoesNotExist", "Does Not Exist")
        await dev.disconnect("removed")
        dev.paired = False

    @dbus_method()
    def GetDiscoveryFilters(self) -> DBusStrList:
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable"]

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self._server.adapter_address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return "virtual-hci0"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return "virtual-hci0"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self.discovering

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return []


class Device1(ServiceInterface):
    def __init__(self, dev: "VirtualDevice") -> None:
        super().__init__("org.bluez.Device1")
        self._dev = dev

    @dbus_method()
    async def Connect(self) -> None:
        await self._dev.connect()

    @dbus_method()
    async def Disconnect(self) -> None:
        await self._dev.disconnect("local")

    @dbus_method()
    async def Pair(self) -> None:
        if not self._dev.present:
            raise _err("AuthenticationFailed", "Authentication Failed")
        if self._dev.paired:
            raise _err("AlreadyExists", "Already Exists")
        if not self._dev.connected:
            await self._dev.connect()
        self._dev.paired = True
        self.emit_properties_changed({"Paired": True, "Bonded": True})

    @dbus_method()
    def CancelPairing(self) -> None:
        pass

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self._dev.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "random"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self._dev.peripheral.advertisement().local_name or ""

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        name = self._dev.peripheral.advertisement().local_name
        return name or self._dev.address.replace(":", "-")

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return ADAPTER_PATH

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> DBusBool:
        return self._dev.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> DBusBool:
        return self._dev.services_resolved

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> DBusBool:
        return self._dev.paired

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> DBusBool:
        return self._dev.paired

    @dbus_property()
    def Trusted(self) -> DBusBool:
        return self._dev.trusted

    @Trusted.setter  # type: ignore[no-redef]
    def Trusted(self, value: DBusBool) -> None:
        self._dev.trusted = bool(value)

    @dbus_property(access=PropertyAccess.READ)
    def Blocked(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def LegacyPairing(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        # As BlueZ: the advertised UUIDs, and the GATT services' once they are resolved.
        uuids = list(self._dev.peripheral.advertisement().service_uuids)
        if self._dev.services_resolved:
            uuids += [s.uuid for s in self._dev.peripheral.gatt() if s.uuid not in uuids]
        return uuids

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> DBusInt16:
        return self._dev.rssi_dbm

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> DBusDict:
        data = self._dev.peripheral.advertisement().service_data
        return {k: Variant("ay", v) for k, v in data.items()}

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> DBusManufacturer:
        data = self._dev.peripheral.advertisement().manufacturer_data
        return {k: Variant("ay", v) for k, v in data.items()}


class Device1TxPower(Device1):
    """``Device1`` of a device whose advertisement carries a TX Power Level: BlueZ exposes
    ``TxPower`` only then."""

    @dbus_property(access=PropertyAccess.READ)
    def TxPower(self) -> DBusInt16:
        return self._dev.peripheral.advertisement().tx_power_dbm or 0


class Battery1(ServiceInterface):
    """``org.bluez.Battery1`` of bluetoothd's battery plugin (loaded by default since BlueZ
    5.48): it claims a connected device's Battery Service, so the service is not exported to
    GATT clients, and publishes the Battery Level here, updated from its notifications."""

    def __init__(self, percentage: int) -> None:
        super().__init__("org.bluez.Battery1")
        self.percentage = percentage

    @dbus_property(access=PropertyAccess.READ)
    def Percentage(self) -> DBusByte:
        return self.percentage

    @dbus_property(access=PropertyAccess.READ)
    def Source(self) -> DBusStr:
        return "GATT Battery Service"

    def update(self, percentage: int) -> None:
        if percentage != self.percentage:
            self.percentage = percentage
            self.emit_properties_changed({"Percentage": percentage})


class GattService1(ServiceInterface):
    def __init__(self, spec: ServiceSpec, dev_path: str) -> None:
        super().__init__("org.bluez.GattService1")
        self.spec = spec
        self._dev_path = dev_path

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.spec.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> DBusObjectPath:
        return self._dev_path

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return self.spec.primary


class GattCharacteristic1(ServiceInterface):
    def __init__(self, spec: CharSpec, svc_path: str, dev: "VirtualDevice") -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.spec = spec
        self._svc_path = svc_path
        self._dev = dev
        self.value = b""
        self.notifying = False
        self.notify_sock: socket.socket | None = None
        self._client_fds: list[int] = []
        self.notify_client: str | None = None
        """Unique bus name of the client whose StartNotify session this is (BlueZ ends a
        session when its client leaves the bus; the connection itself stays up)."""

    def _read(self) -> bytes:
        if "read" not in self.spec.flags or self.spec.read is None:
            raise _err("NotPermitted", "Read not permitted")
        try:
            return self.spec.read()
        except AttError as exc:
            raise _err("Failed", f"Operation failed with ATT error: 0x{exc.code:02x}") from exc

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        self._dev.require_connected()
        value = self._read()
        self.value = value
        self.emit_properties_changed({"Value": value})
        return value

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        self._dev.require_connected()
        kind = options.get("type", Variant("s", "request")).value
        allowed = "write" if kind == "request" else "write-without-response"
        if allowed not in self.spec.flags and "write" not in self.spec.flags:
            raise _err("NotPermitted", "Write not permitted")
        if self.spec.write is None:
            raise _err("NotPermitted", "Write not permitted")
        try:
            self.spec.write(bytes(value))
        except AttError as exc:
            raise _err("Failed", f"Operation failed with ATT error: 0x{exc.code:02x}") from exc

    @dbus_method()
    def StartNotify(self) -> None:
        self._dev.require_connected()
        if "notify" not in self.spec.flags and "indicate" not in self.spec.flags:
            raise _err("NotSupported", "Operation is not supported")
        if self.notifying:
            return
        self.notifying = True
        self.emit_properties_changed({"Notifying": True})
        self._dev.peripheral.on_subscribe(self.spec.uuid, True)

    @dbus_method()
    def StopNotify(self) -> None:
        self.notify_client = None
        if self.notifying and self.notify_sock is None:
            self.notifying = False
            self.emit_properties_changed({"Notifying": False})
            self._dev.peripheral.on_subscribe(self.spec.uuid, False)

    def _socket_pair(self) -> tuple[socket.socket, int]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        fd = theirs.detach()
        # Our copy of the client's end stays open until the link ends (dbus-fast sends the fd
        # asynchronously, so it must remain valid after the method returns).
        self._client_fds.append(fd)
        return ours, fd

    @dbus_method()
    def AcquireNotify(self, options: DBusDict) -> Annotated[tuple[int, int], DBusSignature("hq")]:
        self._dev.require_connected()
        if "notify" not in self.spec.flags:
            raise _err("NotSupported", "Operation is not supported")
        if self.notifying:
            raise _err("InProgress", "Notify already acquired")
        ours, fd = self._socket_pair()
        self.notify_sock = ours
        self.notifying = True
        asyncio.get_running_loop().add_reader(ours.fileno(), self._on_sock_event)
        self.emit_properties_changed({"NotifyAcquired": True, "Notifying": True})
        self._dev.peripheral.on_subscribe(self.spec.uuid, True)
        return (fd, self._dev.mtu)

    @dbus_method()
    def AcquireWrite(self, options: DBusDict) -> Annotated[tuple[int, int], DBusSignature("hq")]:
        self._dev.require_connected()
        if "write-without-response" not in self.spec.flags:
            raise _err("NotSupported", "Operation is not supported")
        ours, fd = self._socket_pair()
        ours.close()  # bleak only asks for the MTU
        return (fd, self._dev.mtu)

    def _on_sock_event(self) -> None:
        # The client closed its end (stop_notify or disconnect): stop notifying.
        sock = self.notify_sock
        if sock is None:
            return
        try:
            data = sock.recv(1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.release()
            self._dev.peripheral.on_subscribe(self.spec.uuid, False)

    def release(self) -> None:
        if self.notify_sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.notify_sock.fileno())
            self.notify_sock.close()
            self.notify_sock = None
        for fd in self._client_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._client_fds.clear()
        self.notifying = False

    def send(self, value: bytes) -> bool:
        if not self.notifying:
            return False
        if self.notify_sock is not None:
            try:
                self.notify_sock.send(value)
            except (BlockingIOError, OSError):
                return False  # like a full controller buffer: the notification is lost
            return True
        self.value = value
        self.emit_properties_changed({"Value": value})
        return True

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.spec.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self._svc_path

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self.notifying

    @dbus_property(access=PropertyAccess.READ)
    def NotifyAcquired(self) -> DBusBool:
        return self.notify_sock is not None

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return list(self.spec.flags)

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> DBusUInt16:
        return self._dev.mtu


class GattDescriptor1(ServiceInterface):
    def __init__(self, uuid: str, char: GattCharacteristic1, char_path: str) -> None:
        super().__init__("org.bluez.GattDescriptor1")
        self._uuid = uuid
        self._char = char
        self._char_path = char_path

    def _value(self) -> bytes:
        return bytes([1 if self._char.notifying else 0, 0])

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        return self._value()

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        # BlueZ refuses CCCD writes from clients (notifications go through StartNotify).
        raise _err("NotPermitted", "Write not permitted")

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Characteristic(self) -> DBusObjectPath:
        return self._char_path

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self._value()


class VirtualDevice:
    """One peripheral on the virtual adapter: presence, connection and GATT objects."""

    def __init__(self, server: "VirtualBluez", peripheral: Peripheral) -> None:
        self.server = server
        self.peripheral = peripheral
        self.address = peripheral.address
        self.path = device_path(peripheral.address)
        adv = peripheral.advertisement()
        self.iface = Device1TxPower(self) if adv.tx_power_dbm is not None else Device1(self)
        self.present = False
        self.connected = False
        self.services_resolved = False
        self.paired = False
        self.trusted = False
        self.rssi_dbm = adv.rssi_dbm
        # The MTU exchange settles on the smaller of both sides' maximum.
        self.mtu = min(server.mtu, peripheral.att_mtu_max)
        self._exported: list[str] = []
        self._chars: dict[str, GattCharacteristic1] = {}
        self._char_paths: dict[str, GattCharacteristic1] = {}
        self._battery: Battery1 | None = None
        self._lock = asyncio.Lock()

    # -- presence (advertising range) --------------------------------------------------------
    def appear(self) -> None:
        if not self.present:
            self.present = True
            self.server.bus.export(self.path, self.iface)

    async def vanish(self) -> None:
        """Out of range: the link drops and BlueZ forgets the device."""
        if self.present:
            await self.disconnect("out of range")
            self.present = False
            self.server.bus.unexport(self.path)

    def advertise(self) -> None:
        """One advertising event seen by a scanning adapter: refresh RSSI and service data."""
        if not self.present or self.connected:
            return
        adv = self.peripheral.advertisement()
        wanted = self.server.filter_uuids
        if wanted and not wanted & {*adv.service_uuids, *adv.service_data}:
            return  # BlueZ's discovery filter: not reported to this scan
        self.rssi_dbm = adv.rssi_dbm
        self.iface.emit_properties_changed(
            {
                "RSSI": self.rssi_dbm,
                "ServiceData": {k: Variant("ay", v) for k, v in adv.service_data.items()},
            }
        )

    # -- connection ------------------------------------------------------------------------
    def require_connected(self) -> None:
        if not self.connected:
            raise _err("NotConnected", "Not Connected")

    async def connect(self) -> None:
        async with self._lock:
            if not self.present:
                raise _err("Failed", "Software caused connection abort")
            if self.connected:
                return
            self.connected = True
            self.iface.emit_properties_changed({"Connected": True})
            self._export_gatt()
            self.services_resolved = True
            self.iface.emit_properties_changed({"ServicesResolved": True})
            self._claim_battery()
        self.peripheral.on_connect(_CentralLink(self))

    def _claim_battery(self) -> None:
        """The battery plugin, once connected: it reads the Battery Level and registers
        ``Battery1`` (after ``ServicesResolved``, as the plugin's read completes later)."""
        if not self.server.battery_plugin:
            return
        level = next(
            (
                c
                for s in self.peripheral.gatt()
                if s.uuid == BATTERY_SERVICE_UUID
                for c in s.chars
                if c.uuid == BATTERY_LEVEL_UUID and c.read is not None
            ),
            None,
        )
        if level is not None and level.read is not None:
            self._battery = Battery1(level.read()[0])
            self.server.bus.export(self.path, self._battery)

    async def disconnect(self, reason: str) -> None:
        async with self._lock:
            if not self.connected:
                return
            log.info("%s disconnected (%s)", self.address, reason)
            self.peripheral.on_disconnect()
            for char in self._chars.values():
                char.release()
            if self._battery is not None:
                self.server.bus.unexport(self.path, self._battery)
                self._battery = None
            self.services_resolved = False
            self.iface.emit_properties_changed({"ServicesResolved": False})
            self.connected = False
            self.iface.emit_properties_changed({"Connected": False})
            self._unexport_gatt()

    def _export_gatt(self) -> None:
        handle = 0x000A
        for spec in self.peripheral.gatt():
            if self.server.battery_plugin and spec.uuid == BATTERY_SERVICE_UUID:
                continue  # claimed by the battery plugin: not exported (see Battery1)
            svc_path = f"{self.path}/service{handle:04x}"
            handle += 1
            self._export(svc_path, GattService1(spec, self.path))
            for cspec in spec.chars:
                char_path = f"{svc_path}/char{handle:04x}"
                handle += 2
                char = GattCharacteristic1(cspec, svc_path, self)
                self._chars[cspec.uuid] = char
                self._char_paths[char_path] = char
                self._export(char_path, char)
                if "notify" in cspec.flags or "indicate" in cspec.flags:
                    desc_path = f"{char_path}/desc{handle:04x}"
                    handle += 1
                    self._export(desc_path, GattDescriptor1(CCCD_UUID, char, char_path))

    def _export(self, path: str, iface: ServiceInterface) -> None:
        self.server.bus.export(path, iface)
        self._exported.append(path)

    def _unexport_gatt(self) -> None:
        for path in reversed(self._exported):
            self.server.bus.unexport(path)
        self._exported.clear()
        self._chars.clear()
        self._char_paths.clear()

    def notify(self, char_uuid: str, value: bytes) -> bool:
        if char_uuid == BATTERY_LEVEL_UUID and self._battery is not None and value:
            self._battery.update(value[0])  # the plugin subscribed to it
            return True
        char = self._chars.get(char_uuid)
        return False if char is None or not self.connected else char.send(value)

    def chars(self) -> list[GattCharacteristic1]:
        return list(self._chars.values())

    def char_at(self, path: str) -> GattCharacteristic1 | None:
        return self._char_paths.get(path)

    def notifying(self, char_uuid: str) -> bool:
        char = self._chars.get(char_uuid)
        return char is not None and char.notifying


class _CentralLink:
    """The :class:`~firmware_sim.bluez.peripheral.Central` handed to a connected peripheral."""

    def __init__(self, dev: VirtualDevice) -> None:
        self._dev = dev

    @property
    def mtu(self) -> int:
        return self._dev.mtu

    def notify(self, char_uuid: str, value: bytes) -> bool:
        return self._dev.notify(char_uuid, value)

    def notifying(self, char_uuid: str) -> bool:
        return self._dev.notifying(char_uuid)


class VirtualBluez:
    """Owns ``org.bluez`` on a bus and serves virtual peripherals (async context manager).

    Parameters
    ----------
    bus_address
        D-Bus address of the (private) system bus; ``None`` uses ``DBUS_SYSTEM_BUS_ADDRESS``.
    mtu
        ATT MTU every connection negotiates (23 = no exchange; 247 is common on phones).
    battery_plugin
        Behave like a bluetoothd with its battery plugin (the default build since 5.48):
        Battery Services are hidden from GATT clients and exported as ``Battery1`` instead.
        Off by default, so that tests read the Battery Service over GATT.
    advertise_interval_s
        How often present, unconnected devices refresh RSSI while discovery runs (bleak
        reports devices known before the scan only on such property changes).
    """

    def __init__(
        self,
        bus_address: str | None = None,
        mtu: int = 247,
        battery_plugin: bool = False,
        advertise_interval_s: float = 0.1,
        adapter_address: str = "02:00:00:00:00:01",
    ) -> None:
        if not 23 <= mtu <= 517:
            raise ValueError(f"mtu must be 23..517, got {mtu}")
        self.bus_address = bus_address
        self.mtu = mtu
        self.battery_plugin = battery_plugin
        self.advertise_interval_s = advertise_interval_s
        self.adapter_address = adapter_address
        self.devices: dict[str, VirtualDevice] = {}
        self.gone_clients = 0
        """Clients that left the bus (crashed or exited) while the server ran."""
        self._bus: MessageBus | None = None
        self._adapter: Adapter1 | None = None
        self._adv_task: asyncio.Task[None] | None = None

    @property
    def bus(self) -> MessageBus:
        if self._bus is None:
            raise RuntimeError("VirtualBluez is not running")
        return self._bus

    async def __aenter__(self) -> "VirtualBluez":
        bus = MessageBus(
            bus_address=self.bus_address, bus_type=BusType.SYSTEM, negotiate_unix_fd=True
        )
        await bus.connect()
        self._bus = bus
        self._adapter = Adapter1(self)
        bus.export(ADAPTER_PATH, self._adapter)
        reply = await bus.request_name(BLUEZ)
        log.debug("request_name %s: %s", BLUEZ, reply)
        # Like bluetoothd: notice clients leaving the bus (a killed process included).
        bus.add_message_handler(self._on_message)
        await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[
                    "type='signal',sender='org.freedesktop.DBus',"
                    "interface='org.freedesktop.DBus',member='NameOwnerChanged'"
                ],
            )
        )
        self._adv_task = asyncio.create_task(self._advertise_loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._adv_task is not None:
            self._adv_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._adv_task
        for dev in list(self.devices.values()):
            with contextlib.suppress(Exception):
                await dev.disconnect("shutdown")
        if self._bus is not None:
            self._bus.disconnect()
            with contextlib.suppress(Exception):
                await self._bus.wait_for_disconnect()
            self._bus = None

    def _on_message(self, msg: Message) -> None:
        """Sees every message before dispatch (never handles one): remembers who started
        each notify session and ends the sessions of a client that left the bus. As in
        BlueZ, the device stays connected (to nobody): it does not advertise until
        someone disconnects it (Device1.Disconnect) or it goes out of range."""
        if (
            msg.message_type is MessageType.METHOD_CALL
            and msg.member == "StartNotify"
            and msg.interface == "org.bluez.GattCharacteristic1"
        ):
            path = msg.path or ""
            dev = next((d for d in self.devices.values() if path.startswith(d.path)), None)
            char = dev.char_at(path) if dev is not None else None
            if char is not None:
                char.notify_client = msg.sender
        elif (
            msg.message_type is MessageType.SIGNAL
            and msg.member == "NameOwnerChanged"
            and msg.sender == "org.freedesktop.DBus"
        ):
            name, _old, new = msg.body
            if name.startswith(":") and not new:
                self._client_gone(name)

    def _client_gone(self, name: str) -> None:
        self.gone_clients += 1
        for dev in self.devices.values():
            for char in dev.chars():
                if char.notify_client == name:
                    log.info("%s: notify session of %s ended (client gone)", dev.address, name)
                    char.notify_client = None
                    char.StopNotify()

    def add(self, peripheral: Peripheral, present: bool = True) -> VirtualDevice:
        dev = VirtualDevice(self, peripheral)
        self.devices[dev.address] = dev
        if present:
            dev.appear()
        return dev

    def device_by_path(self, path: str) -> VirtualDevice | None:
        return next((d for d in self.devices.values() if d.path == path), None)

    @property
    def filter_uuids(self) -> set[str]:
        return self._adapter.filter_uuids if self._adapter is not None else set()

    @property
    def discovering(self) -> bool:
        return self._adapter is not None and self._adapter.discovering

    def discovery_changed(self) -> None:
        for dev in self.devices.values():
            dev.advertise()

    async def _advertise_loop(self) -> None:
        while True:
            await asyncio.sleep(self.advertise_interval_s)
            if self.discovering:
                for dev in self.devices.values():
                    dev.advertise()
