"""Virtual footpod firmware: GATT database, streaming, DIS, Battery, RSC, Movesense GSP,
and fault injection. One :class:`VirtualPod` is one shoe-mounted sensor.

Each pod runs its IMU in (scaled) real time from power-on whether or not a client is
connected: :meth:`VirtualPod.run` reads the pod's :class:`PodStream` batch by batch and
sleeps until the batch's last sample is due at ``h0 + t_true / speed`` on the host's
monotonic clock, then sends it if a client subscribed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from firmware_sim.bluez.peripheral import (
    ATT_VALUE_NOT_ALLOWED,
    Advertisement,
    AttError,
    Central,
    CharSpec,
    ServiceSpec,
)
from firmware_sim.pod_source import PodSamples, PodStream
from firmware_sim.pods import wire
from firmware_sim.pods.faults import LossModel, malformed
from gaitcoach.footpod import profile as P
from gaitcoach.footpod.rsc import RscMeasurement
from gaitcoach.types import Foot

log = logging.getLogger(__name__)

StreamFactory = Callable[[Foot, int], PodStream]
"""Makes the pod's IMU stream for a foot at a rate (Hz)."""

MOVESENSE_BATCH = 8
"""Samples per Movesense notification (the reference client reads 8 per IMU9 notification
at 104 Hz); fewer when three data parts at the negotiated MTU cannot carry 8."""
MOVESENSE_MAX_SUBSCRIPTIONS = 4
"""Subscription slots of the reference sample (it answers 507 when all are taken)."""
RSC_INTERVAL_S = 1.0
FINE_WAIT_S = 0.0015
IDLE_BATCH_S = 0.05
"""Batch length while no client is connected (nothing is sent, the IMU keeps time)."""
MOVESENSE_MANUFACTURER_PAYLOAD = bytes(17)
"""Manufacturer data after company 0x009F: the length seen in a public advertisement dump;
its content is not interpreted by anyone here."""


class RscSource(Protocol):
    """The pod firmware's own speed/cadence/stride estimate (fed every batch it samples)."""

    def update(self, foot: Foot, samples: PodSamples, acc_lsb: float, gyr_lsb: float) -> None: ...

    def measurement(self, t_true_s: float) -> RscMeasurement: ...


@dataclass(slots=True)
class PodConfig:
    """Identity and behaviour of one virtual pod."""

    address: str
    side: Foot
    kind: P.PodKind = P.PodKind.FOOTPOD
    name: str = ""
    speed: float = 1.0
    """Stream seconds per host second (> 1 runs faster than real time)."""
    rate_hz: int = 208
    battery_pct: int = 90
    advertise_side: bool = True
    serial: str = "0000"
    rsc_interval_s: float = RSC_INTERVAL_S
    att_mtu_max: int = 0
    """Largest ATT MTU the pod accepts (0: 161 for a Movesense, 517 otherwise)."""

    def __post_init__(self) -> None:
        if not self.name:
            tag = {Foot.LEFT: "L", Foot.RIGHT: "R", Foot.UNKNOWN: "?"}[self.side]
            self.name = {
                P.PodKind.FOOTPOD: f"GaitPod {tag}",
                P.PodKind.RSC: f"StridePod {tag}",
                # What the Movesense firmware advertises: "Movesense <serial number>".
                P.PodKind.MOVESENSE: f"Movesense {self.serial}",
            }[self.kind]
        if not self.att_mtu_max:
            movesense = self.kind is P.PodKind.MOVESENSE
            self.att_mtu_max = P.MOVESENSE_MAX_ATT_MTU if movesense else 517
        if self.speed <= 0:
            raise ValueError(f"speed must be > 0, got {self.speed}")


@dataclass(slots=True)
class PodStats:
    batches: int = 0
    packets_sent: int = 0
    packets_lost: int = 0
    malformed_sent: int = 0
    restarts: int = 0
    dropouts: int = 0


@dataclass(slots=True)
class _Fault:
    loss: LossModel = field(default_factory=LossModel)
    extra_drift_ppm: float = 0.0
    malformed_queue: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Format:
    """The footpod's configured sample format (rate and full-scale ranges)."""

    rate_hz: int
    acc_range_g: int = 16
    gyr_range_dps: int = 2000

    @property
    def code(self) -> int:
        return wire.footpod_format_code(self.rate_hz, self.acc_range_g, self.gyr_range_dps)

    @property
    def acc_lsb_mps2(self) -> float:
        return P.acc_lsb_mps2(self.acc_range_g)

    @property
    def gyr_lsb_radps(self) -> float:
        return P.gyr_lsb_radps(self.gyr_range_dps)


@dataclass(frozen=True, slots=True)
class _GspSubscription:
    """A Movesense ``/Meas/<kind>/<rate>`` subscription of one client reference."""

    kind: str
    rate_hz: int

    @property
    def sample_bytes(self) -> int:
        return 24 if self.kind == "IMU6" else 12


_GSP_PATH = re.compile(r"^/Meas/(IMU6|Acc|Gyro)/(\d+)$")
MOVESENSE_RATES_HZ = (13, 26, 52, 104, 208, 416, 833, 1666)


class Radio(Protocol):
    """What the pod needs from the virtual BlueZ's device entry."""

    def appear(self) -> None: ...

    async def vanish(self) -> None: ...


class VirtualPod:
    """One virtual footpod (a :class:`~firmware_sim.bluez.peripheral.Peripheral`)."""

    def __init__(
        self,
        cfg: PodConfig,
        streams: StreamFactory,
        rsc: RscSource | None = None,
        seed: int = 0,
    ) -> None:
        self.cfg = cfg
        self.address = cfg.address
        self.att_mtu_max = cfg.att_mtu_max
        self._streams = streams
        self._rsc = rsc
        self.fmt = _Format(cfg.rate_hz)
        self.stream = streams(cfg.side, cfg.rate_hz)
        self._stream_gen = 0
        """Bumped when the IMU restarts at another rate: batches read before are dropped."""
        self.stats = PodStats()
        self.fault = _Fault(loss=LossModel(rng=np.random.default_rng(seed)))
        self._rng = np.random.default_rng(seed + 1)
        self.radio: Radio | None = None
        self.central: Central | None = None
        self.battery_pct = cfg.battery_pct
        self.h0: float | None = None
        """Host monotonic time of true time 0 (set when :meth:`run` starts)."""
        self.t_true_s = 0.0
        self._seq = 0
        self._clock_zero_s = 0.0
        self._streaming = False
        self._gsp_subs: dict[int, _GspSubscription] = {}
        self._last_packet = b""
        self._next_rsc_s = 0.0
        self._distance_base_m = 0.0
        """Added to the RSC source's distance (set through Set Cumulative Value)."""
        self._last_source_distance_m = 0.0
        self._down_until_s = -math.inf

    # -- Peripheral --------------------------------------------------------------------------
    def advertisement(self) -> Advertisement:
        """Legacy advertising data and scan response, each within 31 octets."""
        flags = wire.ad_structure(wire.AD_FLAGS, bytes([wire.FLAGS_LE_GENERAL_NO_BREDR]))
        name = wire.ad_structure(wire.AD_NAME_COMPLETE, self.cfg.name.encode())
        kind = self.cfg.kind
        if kind is P.PodKind.FOOTPOD:
            # 53 octets in all: side and battery go first (a passive scan sees only these),
            # the UUID list and the name in the scan response.
            side = self.cfg.side if self.cfg.advertise_side else Foot.UNKNOWN
            service = wire.uuid128_le(P.FOOTPOD_SERVICE_UUID)
            data = wire.pack_footpod_service_data(side, self.battery_pct)
            adv = wire.legacy_payload(
                flags, wire.ad_structure(wire.AD_SERVICE_DATA_UUID128, service + data)
            )
            rsp = wire.legacy_payload(wire.ad_structure(wire.AD_UUID128_COMPLETE, service), name)
        elif kind is P.PodKind.MOVESENSE:
            # As a real Movesense advertises: 0xFE06, the name, Suunto's manufacturer data;
            # the GSP service is not advertised (the firmware only registers it in GATT).
            uuids = wire.ad_structure(wire.AD_UUID16_COMPLETE, wire.uuid16_le(P.MOVESENSE_ADV_UUID))
            company = P.SUUNTO_COMPANY_ID.to_bytes(2, "little")
            adv = wire.legacy_payload(flags, uuids, name)
            rsp = wire.legacy_payload(
                wire.ad_structure(wire.AD_MANUFACTURER, company + MOVESENSE_MANUFACTURER_PAYLOAD)
            )
        else:
            uuids = wire.ad_structure(wire.AD_UUID16_COMPLETE, wire.uuid16_le(P.RSC_SERVICE_UUID))
            adv, rsp = wire.legacy_payload(flags, uuids, name), b""
        return Advertisement(adv, rsp, rssi_dbm=self._rssi())

    def _rssi(self) -> int:
        return int(-55 - 10 * self._rng.random())

    def gatt(self) -> list[ServiceSpec]:
        dis = ServiceSpec(
            P.DIS_SERVICE_UUID,
            [
                CharSpec(P.MANUFACTURER_CHAR_UUID, ["read"], lambda: b"gaitcoach virtual pods"),
                CharSpec(P.MODEL_CHAR_UUID, ["read"], lambda: self.cfg.kind.value.encode()),
                CharSpec(P.SERIAL_CHAR_UUID, ["read"], lambda: self.cfg.serial.encode()),
                CharSpec(P.FIRMWARE_REV_CHAR_UUID, ["read"], lambda: b"1.0.0"),
                CharSpec(P.HARDWARE_REV_CHAR_UUID, ["read"], lambda: b"sim"),
            ],
        )
        battery = ServiceSpec(
            P.BATTERY_SERVICE_UUID,
            [CharSpec(P.BATTERY_LEVEL_CHAR_UUID, ["read", "notify"], self._read_battery)],
        )
        # Every measurement may carry stride length and total distance, so the feature value
        # declares both; declaring total distance makes the SC Control Point mandatory with
        # Set Cumulative Value (RSCS 1.0), served below.
        rsc = ServiceSpec(
            P.RSC_SERVICE_UUID,
            [
                CharSpec(P.RSC_MEASUREMENT_CHAR_UUID, ["notify"]),
                CharSpec(
                    P.RSC_FEATURE_CHAR_UUID,
                    ["read"],
                    lambda: wire.pack_rsc_feature(stride=True, distance=True, running_status=True),
                ),
                CharSpec(P.SENSOR_LOCATION_CHAR_UUID, ["read"], lambda: bytes([2])),  # in shoe
                CharSpec(P.SC_CONTROL_POINT_CHAR_UUID, ["write", "indicate"], write=self._sc_write),
            ],
        )
        if self.cfg.kind is P.PodKind.RSC:
            return [dis, battery, rsc]
        if self.cfg.kind is P.PodKind.MOVESENSE:
            ms = ServiceSpec(
                P.MOVESENSE_SERVICE_UUID,
                [
                    # The reference registers the command characteristic as WRITE only.
                    CharSpec(P.MOVESENSE_WRITE_CHAR_UUID, ["write"], write=self._gsp_write),
                    CharSpec(P.MOVESENSE_NOTIFY_CHAR_UUID, ["notify"]),
                ],
            )
            return [dis, battery, ms]
        imu = ServiceSpec(
            P.FOOTPOD_SERVICE_UUID,
            [
                CharSpec(P.DATA_CHAR_UUID, ["notify"]),
                CharSpec(P.CONTROL_CHAR_UUID, ["write"], write=self._control_write),
                CharSpec(P.SIDE_CHAR_UUID, ["read"], lambda: wire.pack_side(self.cfg.side)),
                CharSpec(
                    P.FORMAT_CHAR_UUID,
                    ["read"],
                    lambda: wire.pack_format_value(
                        self.fmt.rate_hz, self.fmt.acc_range_g, self.fmt.gyr_range_dps
                    ),
                ),
            ],
        )
        return [dis, battery, rsc, imu]

    def on_connect(self, central: Central) -> None:
        self.central = central

    def on_disconnect(self) -> None:
        self.central = None
        self._streaming = False
        self._gsp_subs.clear()  # the reference unsubscribes everything on disconnect

    def on_subscribe(self, char_uuid: str, enabled: bool) -> None:
        log.debug("%s: notify %s %s", self.cfg.name, char_uuid, enabled)

    def _read_battery(self) -> bytes:
        return wire.pack_battery(self.battery_pct)

    # -- control ---------------------------------------------------------------------------
    def _control_write(self, value: bytes) -> None:
        try:
            cmd = wire.unpack_control(value)
        except wire.WriteRefused as exc:
            raise AttError(ATT_VALUE_NOT_ALLOWED, str(exc)) from exc
        if cmd.op == wire.OP_START:
            self._streaming = True
        elif cmd.op == wire.OP_STOP:
            self._streaming = False
        else:
            if cmd.rate_hz != self.stream.rate_hz:
                self._change_rate(cmd.rate_hz)
            self.fmt = _Format(cmd.rate_hz, cmd.acc_range_g, cmd.gyr_range_dps)

    def _change_rate(self, rate_hz: int) -> None:
        # The IMU restarts at the new rate, aligned to the current true time; a batch already
        # read at the old rate is never sent (see run()).
        stream = self._streams(self.cfg.side, rate_hz)
        skip = int(self.t_true_s * rate_hz)
        while skip > 0:
            k = min(skip, 4096)
            stream.read(k)
            skip -= k
        self.stream = stream
        self._stream_gen += 1

    def _sc_write(self, value: bytes) -> None:
        central = self.central
        if central is None or not central.notifying(P.SC_CONTROL_POINT_CHAR_UUID):
            raise AttError(wire.ATT_RSCS_CCCD_IMPROPER, "SC Control Point indications not enabled")
        try:
            reply, distance_m = wire.sc_control_point_reply(value)
        except wire.WriteRefused as exc:
            raise AttError(ATT_VALUE_NOT_ALLOWED, str(exc)) from exc
        if distance_m is not None:
            self._distance_base_m = distance_m - self._last_source_distance_m
        central.notify(P.SC_CONTROL_POINT_CHAR_UUID, reply)

    def _gsp_write(self, value: bytes) -> None:
        # Like the reference: the write itself always succeeds; what the command did comes
        # back (or not) on the notify characteristic.
        cmd = wire.unpack_gsp_command(value)
        if cmd is None or self.central is None:
            return
        reply: bytes | None = None
        if cmd.command == wire.GSP_HELLO:
            reply = wire.gsp_hello_reply(cmd.ref)
        elif cmd.command == wire.GSP_SUBSCRIBE:
            status = self._gsp_subscribe(cmd.ref, cmd.data)
            reply = None if status is None else wire.gsp_result(cmd.ref, status)
        elif cmd.command == wire.GSP_UNSUBSCRIBE:
            self._gsp_subs.pop(cmd.ref, None)
        if reply is not None:
            self.central.notify(P.MOVESENSE_NOTIFY_CHAR_UUID, reply)

    def _gsp_subscribe(self, ref: int, data: bytes) -> int | None:
        """None when subscribed (the reference sends no result then), else a status."""
        if ref not in self._gsp_subs and len(self._gsp_subs) >= MOVESENSE_MAX_SUBSCRIPTIONS:
            return wire.GSP_NO_FREE_SLOT
        m = _GSP_PATH.match(data.rstrip(b"\x00").decode("ascii", errors="replace"))
        if m is None or int(m.group(2)) not in MOVESENSE_RATES_HZ:
            log.info("%s: GSP subscribe to unsupported %r", self.cfg.name, data)
            return wire.GSP_NOT_FOUND
        sub = _GspSubscription(m.group(1), int(m.group(2)))
        others = {s.rate_hz for r, s in self._gsp_subs.items() if r != ref}
        if others and others != {sub.rate_hz}:
            return 400  # one IMU rate at a time in this simulator (a real sensor may differ)
        if sub.rate_hz != self.stream.rate_hz:
            try:
                self._change_rate(sub.rate_hz)
            except ValueError:
                return 400  # the simulated IMU cannot run at that rate
        self._gsp_subs[ref] = sub
        return None

    # -- faults ----------------------------------------------------------------------------
    async def dropout(self, duration_s: float) -> None:
        """Out of range for ``duration_s`` stream seconds: the link drops, the pod vanishes
        from the adapter and reappears (advertising again) afterwards."""
        self.stats.dropouts += 1
        if self.radio is not None:
            await self.radio.vanish()
        await asyncio.sleep(duration_s / self.cfg.speed)
        if self.radio is not None:
            self.radio.appear()

    async def restart(self, downtime_s: float = 0.5, keep_link: bool = False) -> None:
        """Firmware restart: sequence number and sensor clock start again from zero.
        With ``keep_link`` only the IMU task restarts and the BLE link stays up."""
        self.stats.restarts += 1
        if not keep_link and self.radio is not None:
            await self.radio.vanish()
        self._down_until_s = self.t_true_s + downtime_s
        await asyncio.sleep(downtime_s / self.cfg.speed)
        if not keep_link and self.radio is not None:
            self.radio.appear()

    def set_loss(self, p: float, burst_p: float = 0.0, burst_len: int = 0) -> None:
        self.fault.loss = LossModel(p, burst_p, burst_len, rng=self.fault.loss.rng)

    def set_drift(self, extra_ppm: float) -> None:
        self.fault.extra_drift_ppm = extra_ppm

    def set_battery(self, pct: int) -> None:
        if not 0 <= pct <= 100:
            raise ValueError(f"battery must be 0..100 %, got {pct}")
        self.battery_pct = pct
        if self.central is not None:
            self.central.notify(P.BATTERY_LEVEL_CHAR_UUID, bytes([pct]))

    def inject_malformed(self, kind: str, count: int = 1) -> None:
        malformed(kind, b"\x00" * 20, self._rng)  # validates the kind
        self.fault.malformed_queue.extend([kind] * count)

    # -- the IMU and radio loop ------------------------------------------------------------
    def _batch_size(self) -> int:
        if self.central is None:
            return max(1, round(self.stream.rate_hz * IDLE_BATCH_S))
        if self.cfg.kind is P.PodKind.MOVESENSE:
            # As many samples as three data parts carry, at most MOVESENSE_BATCH.
            per = max((s.sample_bytes for s in self._gsp_subs.values()), default=24)
            room = wire.gsp_max_payload(self.central.mtu - 3) - 4
            return max(1, min(MOVESENSE_BATCH, room // per))
        if self.cfg.kind is P.PodKind.RSC:
            return max(1, int(self.stream.rate_hz * 0.05))
        return wire.data_packet_capacity(self.central.mtu)

    async def run(self) -> None:
        """Sample and stream forever (cancel to stop)."""
        self.h0 = time.monotonic()
        while True:
            gen = self._stream_gen
            samples = self.stream.read(self._batch_size())
            self.t_true_s = float(samples.t_true_s[-1])
            due = self.h0 + self.t_true_s / self.cfg.speed
            delay = due - time.monotonic()
            # Always yield, so D-Bus requests are served even when batches are due back to back.
            await asyncio.sleep(max(0.0, delay - FINE_WAIT_S))
            rest = due - time.monotonic()
            if rest > 0:
                # asyncio's timers wake up on millisecond ticks, which would add a latency
                # pattern of up to 1 ms; the last stretch is a precise blocking sleep.
                time.sleep(rest)
            if gen != self._stream_gen:
                continue  # read at the old rate before the IMU restarted: never sent
            self.stats.batches += 1
            self._on_batch(samples)

    def _sensor_time(self, samples: PodSamples) -> np.ndarray:
        t = samples.t_sensor_s - self._clock_zero_s
        return t * (1.0 + self.fault.extra_drift_ppm * 1e-6)

    def _on_batch(self, samples: PodSamples) -> None:
        if samples.t_true_s[0] < self._down_until_s:
            # Booting: these samples are never taken; the clock restarts at the first sample
            # after the boot.
            self._clock_zero_s = float(samples.t_sensor_s[-1]) + 1.0 / self.stream.rate_hz
            self._seq = 0
            return
        central = self.central
        listening = central is not None and central.notifying(P.RSC_MEASUREMENT_CHAR_UUID)
        if self._rsc is not None and (listening or self.cfg.kind is P.PodKind.RSC):
            # An RSC-only pod's firmware runs its estimate from power-on (the gait engine
            # needs the standing start); a footpod's only while someone listens (CPU).
            self._rsc.update(
                self.cfg.side, samples, self.stream.acc_lsb_mps2, self.stream.gyr_lsb_radps
            )
        if central is None:
            return
        if self._rsc is not None and listening and self.t_true_s >= self._next_rsc_s:
            self._next_rsc_s = self.t_true_s + self.cfg.rsc_interval_s
            central.notify(P.RSC_MEASUREMENT_CHAR_UUID, self._rsc_value())
        if self.cfg.kind is P.PodKind.FOOTPOD and self._streaming:
            self._send_footpod(central, samples)
        elif self.cfg.kind is P.PodKind.MOVESENSE and self._gsp_subs:
            self._send_movesense(central, samples)

    def _rsc_value(self) -> bytes:
        assert self._rsc is not None
        m = self._rsc.measurement(self.t_true_s)
        distance = None
        if m.total_distance_m is not None:
            self._last_source_distance_m = m.total_distance_m
            distance = m.total_distance_m + self._distance_base_m
        return wire.pack_rsc_measurement(
            m.speed_mps, m.cadence_spm, bool(m.running), m.stride_length_m, distance
        )

    def _counts(self, samples: PodSamples) -> np.ndarray:
        """Int16 counts at the configured ranges (re-quantised if the IMU's scale differs)."""
        out = np.empty((samples.acc_counts.shape[0], 6), dtype=np.int16)
        for dst, src, have, want in (
            (slice(0, 3), samples.acc_counts, self.stream.acc_lsb_mps2, self.fmt.acc_lsb_mps2),
            (slice(3, 6), samples.gyr_counts, self.stream.gyr_lsb_radps, self.fmt.gyr_lsb_radps),
        ):
            if math.isclose(have, want, rel_tol=1e-9):
                out[:, dst] = src
            else:
                out[:, dst] = np.clip(np.rint(src * (have / want)), -32768, 32767).astype(np.int16)
        return out

    def _send_footpod(self, central: Central, samples: PodSamples) -> None:
        t_us = np.rint(self._sensor_time(samples) * 1e6).astype(np.int64)
        counts = self._counts(samples)
        per = wire.data_packet_capacity(central.mtu)
        for i in range(0, counts.shape[0], per):
            pkt = wire.pack_data_packet(self._seq, int(t_us[i]), self.fmt.code, counts[i : i + per])
            self._seq = (self._seq + 1) & 0xFFFF
            self._transmit(central, P.DATA_CHAR_UUID, pkt)

    def _transmit(self, central: Central, char_uuid: str, pkt: bytes) -> None:
        while self.fault.malformed_queue:
            kind = self.fault.malformed_queue.pop(0)
            # In another format: the packet about to be sent (same sequence number and time,
            # so a client that read it at its own rate would take the real one for a
            # duplicate); the others vary the last packet sent.
            good = pkt if kind == "otherformat" else self._last_packet or pkt
            bad = malformed(kind, good, self._rng)
            central.notify(char_uuid, bad)
            self.stats.malformed_sent += 1
        if self.fault.loss.lose():
            self.stats.packets_lost += 1
        elif central.notify(char_uuid, pkt):
            self.stats.packets_sent += 1
        self._last_packet = pkt

    def _send_movesense(self, central: Central, samples: PodSamples) -> None:
        acc = samples.acc_counts * self.stream.acc_lsb_mps2
        gyr_dps = samples.gyr_counts * (self.stream.gyr_lsb_radps / P.DEG_TO_RAD)
        t_ms = round(float(self._sensor_time(samples)[0]) * 1e3)
        for ref, sub in list(self._gsp_subs.items()):
            arrays = {"IMU6": (acc, gyr_dps), "Acc": (acc,), "Gyro": (gyr_dps,)}[sub.kind]
            payload = wire.pack_meas_payload(t_ms, *arrays)
            for part in wire.gsp_parts(ref, payload, central.mtu - 3):
                self._transmit(central, P.MOVESENSE_NOTIFY_CHAR_UUID, part)
