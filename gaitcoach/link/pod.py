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
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from gaitcoach.footpod import movesense as gsp
from gaitcoach.footpod import profile as P
from gaitcoach.footpod.codec import (
    ControlCommand,
    ControlOp,
    PacketError,
    decode_format,
    decode_side,
    encode_control,
)
from gaitcoach.footpod.receive import ReceiveCounters
from gaitcoach.footpod.rsc import RscFeature, RscMeasurement, decode_rsc, decode_rsc_feature
from gaitcoach.footpod.standard import DeviceInfo, decode_battery, decode_dis_string
from gaitcoach.link.adapter import BluezBattery
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
DIS_CHARS = {
    "manufacturer": P.MANUFACTURER_CHAR_UUID,
    "model": P.MODEL_CHAR_UUID,
    "serial": P.SERIAL_CHAR_UUID,
    "firmware": P.FIRMWARE_REV_CHAR_UUID,
    "hardware": P.HARDWARE_REV_CHAR_UUID,
}
GATT_KINDS = ", ".join(f"{k.value} ({u})" for k, u in P.SERVICE_BY_KIND.items())


class NotAPod(Exception):
    """Connected, but the GATT services do not confirm the advertised kind."""


class ServicesUnconfirmed(Exception):
    """The GATT services seen on this connection do not (yet) confirm the advertised kind."""


def _confirms(advertised: P.PodKind, gatt: P.PodKind | None) -> bool:
    """Whether the GATT services offer the advertised kind (or one preferred to it)."""
    order = list(P.PodKind)
    return gatt is not None and order.index(gatt) <= order.index(advertised)


class NoData(Exception):
    """Connected and subscribed, but no data notification for ``data_timeout_s``."""


@dataclass(slots=True)
class _DataWatch:
    """When a streaming pod's data notification counter last moved (host seconds)."""

    counters: StreamCounters
    timeout_s: float
    seen: int
    since: float

    def left_s(self, now: float) -> float:
        """Seconds until the pod has been silent for ``timeout_s`` (<= 0: it has)."""
        if self.counters.notifications != self.seen:
            self.seen, self.since = self.counters.notifications, now
        return self.since + self.timeout_s - now


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
    counters: StreamCounters = field(default_factory=StreamCounters)
    evidence: tuple[str, ...] = ()
    """Why the advertisement made it a candidate (see :class:`FoundPod`)."""
    confirmed_by: str = ""
    """The GATT service that confirmed the kind after connecting."""
    device_info: DeviceInfo | None = None
    rsc_feature: RscFeature | None = None
    receivers: dict[str, ReceiveCounters] = field(default_factory=dict)
    """Per characteristic (``battery_level``, ``rsc_measurement``, ``rsc_feature``,
    ``device_information``, ``gsp_result``): values decoded, refused, and what was ignored
    (reserved bits, trailing octets)."""
    rsc_feature_mismatches: int = 0
    """RSC measurements carrying a field the RSC Feature value does not declare."""
    gsp: gsp.GspStats | None = None

    def receiver(self, name: str) -> ReceiveCounters:
        return self.receivers.setdefault(name, ReceiveCounters())


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
        self._failure = ""
        self._rechecked = ""
        """Address whose services did not confirm its advertised kind on the last connection."""
        self._bluez_battery: BluezBattery | None = None
        """The connected pod's battery as BlueZ publishes it, when GATT does not offer it."""

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
            hit = await self.discovery.find(
                self.selector.matches, self.config.scan_timeout_s, self.selector.address
            )
            if hit is None:
                continue
            pod, device = hit
            self.status.address, self.status.name, self.status.kind = (
                pod.address,
                pod.name,
                pod.kind,
            )
            self.status.rssi_dbm = pod.rssi_dbm
            self.status.evidence = pod.evidence
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
                path = device.details.get("path") if isinstance(device.details, dict) else None
                try:
                    streamed = await self._session(client, pod, lost, path)
                except ServicesUnconfirmed as exc:
                    reason = f"services unconfirmed: {exc}"  # not rejected: connect again
                    log.info("%s: %s", pod.address, reason)
                except NotAPod as exc:
                    reason = f"not a pod: {exc}"
                    self.discovery.reject(pod.address)
                    log.info("%s: %s", pod.address, reason)
                except Exception as exc:  # a pod that misbehaves: drop the link and retry
                    reason = f"session failed: {exc}"
                    log.info("%s: %s", pod.address, reason)
                finally:
                    if self._bluez_battery is not None:
                        self._bluez_battery.close()
                        self._bluez_battery = None
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

    async def _session(
        self, client: BleakClient, pod: FoundPod, lost: asyncio.Event, path: str | None = None
    ) -> bool:
        """Subscribe and stream until the link drops (``lost`` is set). True when it streamed
        for ``backoff_max_s`` (the backoff starts again from ``backoff_initial_s``).
        ``path`` is the device's BlueZ object path (for its ``Battery1``)."""
        self._failure = ""  # set by a callback (a refused subscription), which also sets lost
        services = {s.uuid for s in client.services}
        kind = P.kind_from_services(services)
        if not _confirms(pod.kind, kind) and self._rechecked != pod.address:
            # BlueZ can signal ServicesResolved before it has exported every service
            # (bluez/bluez#1489, hbldh/bleak#1806): a footpod would be streamed as RSC-only, a
            # Movesense rejected. Once, connect again (which resolves them) before believing it.
            self._rechecked = pod.address
            seen = kind.value if kind is not None else "none of the pod services"
            raise ServicesUnconfirmed(f"advertised as {pod.kind.value}, GATT lists {seen}")
        self._rechecked = ""
        if kind is None:
            raise NotAPod(
                f"advertised as {pod.kind.value} ({'; '.join(pod.evidence)}), but its GATT "
                f"services include none of {GATT_KINDS}"
            )
        self.status.kind = kind
        self.status.confirmed_by = f"GATT service {P.SERVICE_BY_KIND[kind]}"
        notify_args = {"bluez": {"use_start_notify": not self.config.use_acquire_notify}}
        self.status.device_info = await self._read_device_info(client)

        battery_char = client.services.get_characteristic(P.BATTERY_LEVEL_CHAR_UUID)
        if battery_char is not None:
            pct = self._battery_value(await client.read_gatt_char(battery_char))
            if pct is not None:
                self.status.battery_pct = pct
            # The Battery Service makes Notify optional (read-only Battery Levels are common,
            # e.g. Nordic's BAS with notifications off): StartNotify on one fails with
            # NotSupported, which would end every session. Then the level read here is all.
            if "notify" in battery_char.properties:
                await client.start_notify(battery_char, self._on_battery, **notify_args)  # type: ignore[arg-type]
        elif path is not None:
            # No Battery Level over GATT: with BlueZ's battery plugin (its default) a Battery
            # Service is never listed; the level is on the device object, read every status
            # interval (the plugin registers it only after its own read, maybe after this).
            self._bluez_battery = BluezBattery(path)
            pct = await self._bluez_battery.percentage()
            if pct is not None:
                self.status.battery_pct = pct

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
            tracker.fmt = info.fmt  # a notification in another format is malformed

            def on_data(_c: BleakGATTCharacteristic, data: bytearray) -> None:
                self._deliver(tracker.push(data, self.now()))

            await client.start_notify(P.DATA_CHAR_UUID, on_data, **notify_args)  # type: ignore[arg-type]
            await client.write_gatt_char(
                P.CONTROL_CHAR_UUID, encode_control(ControlCommand(ControlOp.START)), response=True
            )
        elif kind is P.PodKind.MOVESENSE:
            tracker = self._tracker_for(self.status.foot)
            notify_char = client.services.get_characteristic(P.MOVESENSE_NOTIFY_CHAR_UUID)
            if notify_char is None:
                raise NotAPod("GSP service without its notify characteristic")
            # Largest notification (ATT MTU - 3, from BlueZ's MTU property): where the
            # sensor splits a payload into parts.
            ms = MovesenseTracker(
                tracker,
                GSP_REF,
                self.config.rate_hz,
                capacity=lambda: notify_char.max_write_without_response_size,
            )
            self.status.gsp = ms.gsp.stats
            path = gsp.imu6_path(self.config.rate_hz)

            def on_gsp(_c: BleakGATTCharacteristic, data: bytearray) -> None:
                self._deliver(ms.push(data, self.now()))
                self._check_gsp_results(ms, path, lost)

            await client.start_notify(notify_char, on_gsp, **notify_args)  # type: ignore[arg-type]
            # Like the reference client: a successful subscribe gets no reply, a refused one a
            # COMMAND_RESULT with an HTTP-like status (checked in on_gsp).
            await client.write_gatt_char(
                P.MOVESENSE_WRITE_CHAR_UUID,
                gsp.encode_request(gsp.GspRequest(gsp.GspCommand.SUBSCRIBE, GSP_REF, path)),
                response=True,
            )
        if kind is P.PodKind.RSC:
            feature_char = client.services.get_characteristic(P.RSC_FEATURE_CHAR_UUID)
            if feature_char is not None:
                counters = self.status.receiver("rsc_feature")
                try:
                    feature = decode_rsc_feature(await client.read_gatt_char(feature_char))
                except PacketError as exc:
                    counters.refuse(exc)
                else:
                    counters.accept(feature.ignored)
                    self.status.rsc_feature = feature
            await client.start_notify(P.RSC_MEASUREMENT_CHAR_UUID, self._on_rsc, **notify_args)  # type: ignore[arg-type]

        self._event(LinkState.STREAMING, f"{kind.value} {self.config.rate_hz} Hz")
        streaming_since = time.monotonic()
        # A pod can stay connected and send nothing: a Movesense that dropped the subscription
        # without a COMMAND_RESULT, a firmware that hung. Only the missing data tells; BLE's
        # supervision timeout never fires. An IMU pod streams without pause, so silence ends
        # the session and the pod is connected again (with backoff).
        interval = self.config.status_interval_s / self.config.time_scale
        next_status = time.monotonic() + interval
        watch = None
        if kind is not P.PodKind.RSC:
            stream = self.status.counters
            watch = _DataWatch(
                stream, self.config.data_timeout_s, stream.notifications, time.monotonic()
            )
        while not lost.is_set():
            now = time.monotonic()
            wait = next_status - now if watch is None else min(next_status - now, watch.left_s(now))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), max(0.0, wait))
            if lost.is_set():
                break
            now = time.monotonic()
            if watch is not None and watch.left_s(now) <= 0:
                raise NoData(f"no data for {self.config.data_timeout_s} s")
            if now >= next_status:
                next_status = now + interval
                if self._bluez_battery is not None:
                    self._battery_changed(await self._bluez_battery.percentage())
                self._event(LinkState.STREAMING, self._counters_detail())
        if self._failure:
            raise PacketError(self._failure)
        # A link lost moments after streaming began (a pod browning out as it starts, at the
        # edge of range) is no reason to start the backoff again: it would reconnect every
        # backoff_initial_s forever.
        streamed_s = (time.monotonic() - streaming_since) * self.config.time_scale
        return streamed_s >= self.config.backoff_max_s

    def _check_gsp_results(self, ms: MovesenseTracker, path: str, lost: asyncio.Event) -> None:
        # The results of this connection's tracker: a refusal on any connection is seen
        # (the status counter below counts over all connections and cannot index them).
        counters = self.status.receiver("gsp_result")
        for result in ms.new_results():
            counters.accept(result.ignored)
            if result.ref == GSP_REF and not result.ok:
                # Nothing will come: end the session (the link backs off and tries again).
                self._failure = f"Movesense refused {path}: status {result.status}"
                lost.set()

    async def _read_device_info(self, client: BleakClient) -> DeviceInfo | None:
        """The Device Information strings the pod offers (absent ones stay None)."""
        counters = self.status.receiver("device_information")
        values: dict[str, str] = {}
        for key, uuid in DIS_CHARS.items():
            char = client.services.get_characteristic(uuid)
            if char is None:
                continue
            try:
                s = decode_dis_string(await client.read_gatt_char(char))
            except BleakError as exc:
                # Optional and only descriptive: a string the pod will not give (one that
                # needs pairing, say) is counted, not a reason to end the session.
                counters.refuse(exc)
                continue
            counters.accept(s.ignored)
            values[key] = s.text
        return DeviceInfo(**values) if values else None

    def _battery_value(self, data: bytes | bytearray) -> int | None:
        counters = self.status.receiver("battery_level")
        try:
            level = decode_battery(data)
        except PacketError as exc:
            counters.refuse(exc)
            return None
        counters.accept(level.ignored)
        return level.pct

    def _on_battery(self, _c: BleakGATTCharacteristic, data: bytearray) -> None:
        self._battery_changed(self._battery_value(data))

    def _battery_changed(self, pct: int | None) -> None:
        if pct is not None and pct != self.status.battery_pct:
            self.status.battery_pct = pct
            self._event(self.status.state, f"battery {pct}%")

    def _on_rsc(self, _c: BleakGATTCharacteristic, data: bytearray) -> None:
        counters = self.status.receiver("rsc_measurement")
        try:
            m = decode_rsc(data)
        except PacketError as exc:
            counters.refuse(exc)
            return
        counters.accept(m.ignored)
        feature = self.status.rsc_feature
        if feature is not None:
            if feature.mismatches(m):
                self.status.rsc_feature_mismatches += 1  # used all the same (liberal receiver)
            m = feature.interpret(m)
        self.sink(RscReading(self.status.foot, self.now(), m))
