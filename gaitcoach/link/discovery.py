"""Scanning for pods: one shared bleak scanner that pod links wait on, and a one-shot scan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from gaitcoach.footpod.codec import PacketError, decode_adv
from gaitcoach.footpod.profile import FOOTPOD_SERVICE_UUID, KIND_BY_SERVICE, kind_from_services
from gaitcoach.link.config import FoundPod
from gaitcoach.types import Foot

SCAN_UUIDS = list(KIND_BY_SERVICE)


def found_from_adv(device: BLEDevice, adv: AdvertisementData) -> FoundPod | None:
    """A :class:`FoundPod` from one advertisement (None when it is not a pod)."""
    kind = kind_from_services(adv.service_uuids)
    if kind is None:
        return None
    side, battery = Foot.UNKNOWN, None
    data = adv.service_data.get(FOOTPOD_SERVICE_UUID)
    if data is not None:
        with contextlib.suppress(PacketError):
            info = decode_adv(data)
            side, battery = info.side, info.battery_pct
    name = adv.local_name or device.name or ""
    return FoundPod(device.address, name, kind, side, adv.rssi, battery)


class Discovery:
    """One active scan shared by every pod link (async context manager).

    :meth:`find` waits until a pod matching a predicate is seen; the scanner runs only while
    someone waits. Addresses handed out are *claimed* until released, so two links never pick
    the same pod.
    """

    def __init__(self, adapter: str | None = None) -> None:
        self.adapter = adapter
        self._waiters: list[
            tuple[Callable[[FoundPod], bool], asyncio.Future[tuple[FoundPod, BLEDevice]]]
        ] = []
        self._claimed: set[str] = set()
        self._scanner: BleakScanner | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Discovery:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for _, fut in self._waiters:
            fut.cancel()
        self._waiters.clear()
        await self._stop()

    def release(self, address: str) -> None:
        self._claimed.discard(address.upper())

    def _on_adv(self, device: BLEDevice, adv: AdvertisementData) -> None:
        pod = found_from_adv(device, adv)
        if pod is None:
            return
        if pod.address.upper() in self._claimed:
            return
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(pod):
                self._claimed.add(pod.address.upper())
                fut.set_result((pod, device))
                break

    async def _start(self) -> None:
        async with self._lock:
            if self._scanner is None:
                kwargs = {"bluez": {"adapter": self.adapter}} if self.adapter else {}
                scanner = BleakScanner(self._on_adv, service_uuids=SCAN_UUIDS, **kwargs)  # type: ignore[arg-type]
                await scanner.start()
                self._scanner = scanner

    async def _stop(self) -> None:
        async with self._lock:
            if self._scanner is not None:
                scanner, self._scanner = self._scanner, None
                with contextlib.suppress(Exception):
                    await scanner.stop()

    async def find(
        self, pred: Callable[[FoundPod], bool], timeout_s: float
    ) -> tuple[FoundPod, BLEDevice] | None:
        """The first unclaimed pod matching ``pred`` within ``timeout_s`` (None: not seen)."""
        fut: asyncio.Future[tuple[FoundPod, BLEDevice]] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiters.append(entry)
        try:
            await self._start()
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._waiters.remove(entry)
            if not self._waiters:
                await self._stop()


async def scan(timeout_s: float = 5.0, adapter: str | None = None) -> list[FoundPod]:
    """Every pod (footpod, Movesense, RSC) advertising within ``timeout_s``, by RSSI."""
    found: dict[str, FoundPod] = {}

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        pod = found_from_adv(device, adv)
        if pod is not None:
            found[pod.address] = pod

    kwargs = {"bluez": {"adapter": adapter}} if adapter else {}
    async with BleakScanner(on_adv, service_uuids=SCAN_UUIDS, **kwargs):  # type: ignore[arg-type]
        await asyncio.sleep(timeout_s)
    return sorted(found.values(), key=lambda p: -(p.rssi_dbm if p.rssi_dbm is not None else -999))
