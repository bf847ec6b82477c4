"""Scanning for pods: one shared bleak scanner that pod links wait on, and a one-shot scan.

Devices are recognised from what real devices advertise (``gaitcoach.footpod.advert``): the
scanner runs without a service UUID filter, because BlueZ and bleak would otherwise drop a
Movesense (it advertises 0xFE06, not the GSP service) and a footpod whose UUID list is in a
scan response not yet received.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from gaitcoach.footpod.advert import classify
from gaitcoach.footpod.profile import PodKind
from gaitcoach.link.config import FoundPod
from gaitcoach.types import Foot

REJECT_S = 60.0
"""How long a device whose GATT services did not confirm it is not handed out again."""
NAMED_EVIDENCE = "named by address; its advertisement matches no pod rule"


def found_from_adv(device: BLEDevice, adv: AdvertisementData) -> FoundPod | None:
    """A :class:`FoundPod` from one advertisement (None when it is not a pod)."""
    name = adv.local_name or device.name or ""
    c = classify(name, adv.service_uuids, adv.service_data, adv.manufacturer_data)
    if c is None:
        return None
    return FoundPod(device.address, name, c.kind, c.side, adv.rssi, c.battery_pct, c.evidence)


def named_from_adv(device: BLEDevice, adv: AdvertisementData) -> FoundPod:
    """A device a selector names by address although its advertisement matches no rule:
    advertising the service is only recommended (the RSC profile says a sensor *should* list
    0x1814). A candidate of the least preferred kind; its GATT services decide the kind."""
    name = adv.local_name or device.name or ""
    kind = list(PodKind)[-1]
    return FoundPod(device.address, name, kind, Foot.UNKNOWN, adv.rssi, None, (NAMED_EVIDENCE,))


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
        self._named: dict[str, int] = {}
        """Addresses waiters name (upper case), with how many name each."""
        self._claimed: set[str] = set()
        self._rejected: dict[str, float] = {}
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

    def reject(self, address: str, for_s: float = REJECT_S) -> None:
        """The device advertised like a pod but its GATT services say otherwise: skip it for
        ``for_s`` host seconds (its firmware may be updated meanwhile)."""
        self._rejected[address.upper()] = time.monotonic() + for_s

    def _on_adv(self, device: BLEDevice, adv: AdvertisementData) -> None:
        pod = found_from_adv(device, adv)
        if pod is None:
            if device.address.upper() not in self._named:
                return
            pod = named_from_adv(device, adv)
        key = pod.address.upper()
        if key in self._claimed or self._rejected.get(key, 0.0) > time.monotonic():
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
                scanner = BleakScanner(self._on_adv, **kwargs)  # type: ignore[arg-type]
                await scanner.start()
                self._scanner = scanner

    async def _stop(self) -> None:
        async with self._lock:
            if self._scanner is not None:
                scanner, self._scanner = self._scanner, None
                with contextlib.suppress(Exception):
                    await scanner.stop()

    async def find(
        self, pred: Callable[[FoundPod], bool], timeout_s: float, address: str | None = None
    ) -> tuple[FoundPod, BLEDevice] | None:
        """The first unclaimed pod matching ``pred`` within ``timeout_s`` (None: not seen).
        With ``address`` (the selector names one), that device is a candidate whatever it
        advertises."""
        fut: asyncio.Future[tuple[FoundPod, BLEDevice]] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiters.append(entry)
        named = address.upper() if address is not None else None
        if named is not None:
            self._named[named] = self._named.get(named, 0) + 1
        try:
            await self._start()
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._waiters.remove(entry)
            if named is not None:
                self._named[named] -= 1
                if not self._named[named]:
                    del self._named[named]
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
    async with BleakScanner(on_adv, **kwargs):  # type: ignore[arg-type]
        await asyncio.sleep(timeout_s)
    return sorted(found.values(), key=lambda p: -(p.rssi_dbm if p.rssi_dbm is not None else -999))
