"""One pod's link: find it, connect, subscribe, decode, and reconnect forever."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak_retry_connector import establish_connection

from gaitcoach.footpod import movesense as gsp
from gaitcoach.footpod import profile as P
from gaitcoach.footpod.codec import (
    ControlCommand,
    ControlOp,
    PacketError,
    decode_battery,
    decode_format,
    decode_side,
    encode_control,
)
from gaitcoach.footpod.rsc import RscMeasurement, decode_rsc
from gaitcoach.link.clock import SensorClock
from gaitcoach.link.config import FoundPod, LinkConfig, PodSelector
from gaitcoach.link.discovery import Discovery
from gaitcoach.link.tracker import (
    DUPLICATE_WINDOW_S,
    RESTART_TOLERANCE_S,
    SETTLE_TOLERANCE_S,
    ImuTracker,
    MovesenseTracker,
    StreamCounters,
)
from gaitcoach.types import Foot, Gap, ImuChunk, LinkEvent, LinkState

log = logging.getLogger(__name__)

GSP_REF = 99


@dataclass(frozen=True, slots=True)
class RscReading:
    """An RSC Measurement from a pod, stamped with host time on arrival."""

    foot: Foot
    t_s: float
    measurement: RscMeasurement


LinkItem = ImuChunk | Gap | LinkEvent | RscReading
"""What the link delivers to its consumer."""


@dataclass(slots=True)
class PodStatus:
    """Live state of one pod link (see :meth:`gaitcoach.link.FootpodLink.status`)."""

    selector: PodSelector
    state: LinkState = LinkState.SCANNING
    address: str = ""
    name: str = ""
    kind: P.PodKind | None = None
    foot: Foot = Foot.UNKNOWN
    rssi_dbm: int | None = None
    battery_pct: int | None = None
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    rsc_malformed: int = 0
    counters: StreamCounters = field(default_factory=StreamCounters)


def _setter(event: asyncio.Event) -> Callable[[BleakClient], None]:
    return lambda _client: event.set()


class PodLink:
    """Runs one pod's link forever: scan -> connect -> stream -> (lost) -> back off -> ...

    ``sink`` receives every item; it is called from bleak's notification callback and must
    not block (the facade puts items on a bounded queue).
    """

    def __init__(
        self,
        selector: PodSelector,
        config: LinkConfig,
        discovery: Discovery,
        sink: Callable[[LinkItem], None],
    ) -> None:
        self.selector = selector
        self.config = config
        self.discovery = discovery
        self.sink = sink
        self.status = PodStatus(selector, foot=selector.foot or selector.side or Foot.UNKNOWN)
        self._tracker: ImuTracker | None = None

    def now(self) -> float:
        return time.monotonic() * self.config.time_scale

    def _event(self, state: LinkState, detail: str = "") -> None:
        self.status.state = state
        self.sink(
            LinkEvent(
                self.now(),
                self.status.foot,
                self.status.address,
                state,
                detail,
                self.status.rssi_dbm,
                self.status.battery_pct,
            )
        )

    def _counters_detail(self) -> str:
        c = self.status.counters
        return (
            f"samples={c.samples} lost={c.lost_samples} gaps={c.gaps} malformed={c.malformed} "
            f"duplicates={c.duplicates} restarts={c.restarts}"
        )

    async def run(self) -> None:
        backoff = self.config.backoff_initial_s
        while True:
            self._event(LinkState.SCANNING)
            hit = await self.discovery.find(self.selector.matches, self.config.scan_timeout_s)
            if hit is None:
                continue
            pod, device = hit
            self.status.address, self.status.name, self.status.kind = (
                pod.address,
                pod.name,
                pod.kind,
            )
            self.status.rssi_dbm = pod.rssi_dbm
            if pod.battery_pct is not None:
                self.status.battery_pct = pod.battery_pct
            self.status.foot = self.selector.resolve_foot(pod.side)
            self._event(LinkState.CONNECTING)
            streamed = False
            lost = asyncio.Event()
            try:
                client = await establish_connection(
                    BleakClient,
                    device,
                    pod.name or pod.address,
                    disconnected_callback=_setter(lost),
                    max_attempts=self.config.connect_attempts,
                )
            except Exception as exc:  # any connect failure: back off and scan again
                self.status.connect_failures += 1
                log.info("%s: connect failed: %s", pod.address, exc)
                self.discovery.release(pod.address)
                self._event(LinkState.DISCONNECTED, f"connect failed: {exc}")
            else:
                self.status.connects += 1
                reason = "link lost"
                try:
                    streamed = await self._session(client, pod, lost)
                except Exception as exc:  # a pod that misbehaves: drop the link and retry
                    reason = f"session failed: {exc}"
                    log.info("%s: %s", pod.address, reason)
                finally:
                    with contextlib.suppress(Exception):
                        await client.disconnect()
                    self.discovery.release(pod.address)
                    self.status.disconnects += 1
                    if self._tracker is not None:
                        self._tracker.mark_disconnected()
                    self._event(LinkState.DISCONNECTED, f"{reason}; {self._counters_detail()}")
            if streamed:
                backoff = self.config.backoff_initial_s
            await asyncio.sleep(backoff / self.config.time_scale)
            backoff = min(self.config.backoff_max_s, backoff * 2)

    def _tracker_for(self, foot: Foot) -> ImuTracker:
        if self._tracker is None:
            clock = SensorClock(latency_floor_s=self.config.latency_floor_s)
            # Latency is a real-time effect: settling and the restart test count host seconds.
            scale = max(1.0, self.config.time_scale)
            self._tracker = ImuTracker(
                foot,
                clock,
                settle_s=self.config.settle_s * scale,
                restart_tolerance_s=RESTART_TOLERANCE_S * scale,
                duplicate_window_s=DUPLICATE_WINDOW_S * scale,
                settle_tolerance_s=SETTLE_TOLERANCE_S * scale,
            )
            self.status.counters = self._tracker.counters
        return self._tracker

    def _deliver(self, items: list[ImuChunk | Gap]) -> None:
        for item in items:
            self.sink(item)

    async def _session(self, client: BleakClient, pod: FoundPod, lost: asyncio.Event) -> bool:
        """Subscribe and stream until the link drops (``lost`` is set). True once streaming."""
        services = {s.uuid for s in client.services}
        kind = P.kind_from_services(services) or pod.kind
        self.status.kind = kind
        notify_args = {"bluez": {"use_start_notify": not self.config.use_acquire_notify}}

        battery_char = client.services.get_characteristic(P.BATTERY_LEVEL_CHAR_UUID)
        if battery_char is not None:
            with contextlib.suppress(PacketError):
                self.status.battery_pct = decode_battery(await client.read_gatt_char(battery_char))
            await client.start_notify(battery_char, self._on_battery, **notify_args)  # type: ignore[arg-type]

        if kind is P.PodKind.FOOTPOD:
            side = decode_side(await client.read_gatt_char(P.SIDE_CHAR_UUID))
            self.status.foot = self.selector.resolve_foot(side)
            tracker = self._tracker_for(self.status.foot)
            await client.write_gatt_char(
                P.CONTROL_CHAR_UUID,
                encode_control(ControlCommand(ControlOp.CONFIGURE, self.config.imu_format)),
                response=True,
            )
            info = decode_format(await client.read_gatt_char(P.FORMAT_CHAR_UUID))
            if info.fmt != self.config.imu_format:
                raise PacketError(f"pod kept format {info.fmt}, asked {self.config.imu_format}")

            def on_data(_c: BleakGATTCharacteristic, data: bytearray) -> None:
                self._deliver(tracker.push(data, self.now()))

            await client.start_notify(P.DATA_CHAR_UUID, on_data, **notify_args)  # type: ignore[arg-type]
            await client.write_gatt_char(
                P.CONTROL_CHAR_UUID, encode_control(ControlCommand(ControlOp.START)), response=True
            )
        elif kind is P.PodKind.MOVESENSE:
            tracker = self._tracker_for(self.status.foot)
            ms = MovesenseTracker(tracker, GSP_REF, self.config.rate_hz)

            def on_gsp(_c: BleakGATTCharacteristic, data: bytearray) -> None:
                self._deliver(ms.push(data, self.now()))

            await client.start_notify(P.MOVESENSE_NOTIFY_CHAR_UUID, on_gsp, **notify_args)  # type: ignore[arg-type]
            await client.write_gatt_char(
                P.MOVESENSE_WRITE_CHAR_UUID,
                gsp.encode_request(
                    gsp.GspRequest(
                        gsp.GspCommand.SUBSCRIBE, GSP_REF, gsp.imu6_path(self.config.rate_hz)
                    )
                ),
                response=True,
            )
        if kind is P.PodKind.RSC:
            await client.start_notify(P.RSC_MEASUREMENT_CHAR_UUID, self._on_rsc, **notify_args)  # type: ignore[arg-type]

        self._event(LinkState.STREAMING, f"{kind.value} {self.config.rate_hz} Hz")
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    lost.wait(), self.config.status_interval_s / self.config.time_scale
                )
            if not lost.is_set():
                self._event(LinkState.STREAMING, self._counters_detail())
        return True

    def _on_battery(self, _c: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            pct = decode_battery(data)
        except PacketError:
            return
        if pct != self.status.battery_pct:
            self.status.battery_pct = pct
            self._event(self.status.state, f"battery {pct}%")

    def _on_rsc(self, _c: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            m = decode_rsc(data)
        except PacketError:
            self.status.rsc_malformed += 1
            return
        self.sink(RscReading(self.status.foot, self.now(), m))
