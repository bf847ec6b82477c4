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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from firmware_sim.bluez.peripheral import (
    ATT_APPLICATION_ERROR,
    ATT_VALUE_NOT_ALLOWED,
    Advertisement,
    AttError,
    Central,
    CharSpec,
    ServiceSpec,
)
from firmware_sim.pod_source import PodSamples, PodStream
from firmware_sim.pods.faults import LossModel, malformed
from gaitcoach.footpod import movesense as gsp
from gaitcoach.footpod import profile as P
from gaitcoach.footpod.codec import (
    AdvInfo,
    ControlOp,
    ImuFormat,
    PacketError,
    decode_control,
    encode_adv,
    encode_format,
    encode_imu_packet,
    encode_side,
    samples_per_packet,
)
from gaitcoach.footpod.rsc import (
    FEATURE_RUN_STATUS,
    FEATURE_STRIDE,
    SENSOR_LOCATION_IN_SHOE,
    RscMeasurement,
    encode_rsc,
    encode_rsc_feature,
)
from gaitcoach.types import Foot

log = logging.getLogger(__name__)

StreamFactory = Callable[[Foot, int], PodStream]
"""Makes the pod's IMU stream for a foot at a rate (Hz)."""

MOVESENSE_BATCH = 8
"""Samples per Movesense IMU6 notification (inferred; see docs/movesense.md)."""
RSC_INTERVAL_S = 1.0
FINE_WAIT_S = 0.0015
IDLE_BATCH_S = 0.05
"""Batch length while no client is connected (nothing is sent, the IMU keeps time)."""


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

    def __post_init__(self) -> None:
        if not self.name:
            tag = {Foot.LEFT: "L", Foot.RIGHT: "R", Foot.UNKNOWN: "?"}[self.side]
            base = {
                P.PodKind.FOOTPOD: "GaitPod",
                P.PodKind.RSC: "StridePod",
                P.PodKind.MOVESENSE: "Movesense",
            }[self.kind]
            self.name = (
                f"{base} {tag} {self.serial}"
                if self.kind is P.PodKind.MOVESENSE
                else f"{base} {tag}"
            )
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
        self._streams = streams
        self._rsc = rsc
        self.fmt = ImuFormat(cfg.rate_hz)
        self.stream = streams(cfg.side, cfg.rate_hz)
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
        self._gsp_ref: int | None = None
        self._last_packet = b""
        self._next_rsc_s = 0.0
        self._down_until_s = -math.inf
        self._pending: list[PodSamples] = []

    # -- Peripheral --------------------------------------------------------------------------
    def advertisement(self) -> Advertisement:
        service = P.SERVICE_BY_KIND[self.cfg.kind]
        data: dict[str, bytes] = {}
        if self.cfg.kind is P.PodKind.FOOTPOD:
            side = self.cfg.side if self.cfg.advertise_side else Foot.UNKNOWN
            data[service] = encode_adv(AdvInfo(side, self.battery_pct))
        return Advertisement(self.cfg.name, [service], data, rssi_dbm=self._rssi())

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
        rsc = ServiceSpec(
            P.RSC_SERVICE_UUID,
            [
                CharSpec(P.RSC_MEASUREMENT_CHAR_UUID, ["notify"]),
                CharSpec(
                    P.RSC_FEATURE_CHAR_UUID,
                    ["read"],
                    lambda: encode_rsc_feature(FEATURE_STRIDE | FEATURE_RUN_STATUS),
                ),
                CharSpec(
                    P.SENSOR_LOCATION_CHAR_UUID, ["read"], lambda: bytes([SENSOR_LOCATION_IN_SHOE])
                ),
            ],
        )
        if self.cfg.kind is P.PodKind.RSC:
            return [dis, battery, rsc]
        if self.cfg.kind is P.PodKind.MOVESENSE:
            ms = ServiceSpec(
                P.MOVESENSE_SERVICE_UUID,
                [
                    CharSpec(
                        P.MOVESENSE_WRITE_CHAR_UUID,
                        ["write", "write-without-response"],
                        write=self._gsp_write,
                    ),
                    CharSpec(P.MOVESENSE_NOTIFY_CHAR_UUID, ["notify"]),
                ],
            )
            return [dis, battery, ms]
        imu = ServiceSpec(
            P.FOOTPOD_SERVICE_UUID,
            [
                CharSpec(P.DATA_CHAR_UUID, ["notify"]),
                CharSpec(P.CONTROL_CHAR_UUID, ["write"], write=self._control_write),
                CharSpec(P.SIDE_CHAR_UUID, ["read"], lambda: encode_side(self.cfg.side)),
                CharSpec(P.FORMAT_CHAR_UUID, ["read"], lambda: encode_format(self.fmt)),
            ],
        )
        return [dis, battery, rsc, imu]

    def on_connect(self, central: Central) -> None:
        self.central = central

    def on_disconnect(self) -> None:
        self.central = None
        self._streaming = False
        self._gsp_ref = None

    def on_subscribe(self, char_uuid: str, enabled: bool) -> None:
        log.debug("%s: notify %s %s", self.cfg.name, char_uuid, enabled)

    def _read_battery(self) -> bytes:
        return bytes([self.battery_pct])

    # -- control ---------------------------------------------------------------------------
    def _control_write(self, value: bytes) -> None:
        try:
            cmd = decode_control(value)
        except PacketError as exc:
            raise AttError(ATT_VALUE_NOT_ALLOWED, str(exc)) from exc
        if cmd.op is ControlOp.START:
            self._streaming = True
        elif cmd.op is ControlOp.STOP:
            self._streaming = False
        else:
            assert cmd.fmt is not None
            if cmd.fmt.rate_hz != self.fmt.rate_hz:
                self._change_rate(cmd.fmt.rate_hz)
            self.fmt = cmd.fmt

    def _change_rate(self, rate_hz: int) -> None:
        # The IMU restarts at the new rate, aligned to the current true time.
        stream = self._streams(self.cfg.side, rate_hz)
        skip = int(self.t_true_s * rate_hz)
        while skip > 0:
            k = min(skip, 4096)
            stream.read(k)
            skip -= k
        self.stream = stream

    def _gsp_write(self, value: bytes) -> None:
        try:
            req = gsp.decode_request(value)
            if req.command is gsp.GspCommand.SUBSCRIBE:
                rate = gsp.parse_imu6_path(req.path)
                if rate != self.stream.rate_hz:
                    self._change_rate(rate)
                self._gsp_ref = req.ref
            elif req.command is gsp.GspCommand.UNSUBSCRIBE:
                self._gsp_ref = None
            status = 200
        except PacketError as exc:
            log.info("%s: GSP command refused: %s", self.cfg.name, exc)
            status, req = (
                404,
                gsp.GspRequest(gsp.GspCommand.HELLO, value[1] if len(value) > 1 else 0),
            )
        if self.central is not None:
            self.central.notify(P.MOVESENSE_NOTIFY_CHAR_UUID, gsp.encode_result(req.ref, status))
        if status >= 300:
            raise AttError(ATT_APPLICATION_ERROR, "unsupported resource")

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
            return max(1, round(self.fmt.rate_hz * IDLE_BATCH_S))
        if self.cfg.kind is P.PodKind.MOVESENSE:
            # At most two notifications (DATA + DATA_PART2) per batch.
            mtu = self.central.mtu
            return max(1, min(MOVESENSE_BATCH, (2 * (mtu - 5) - 5) // gsp.SAMPLE_PAIR_BYTES))
        if self.cfg.kind is P.PodKind.RSC:
            return max(1, int(self.fmt.rate_hz * 0.05))
        return samples_per_packet(self.central.mtu)

    async def run(self) -> None:
        """Sample and stream forever (cancel to stop)."""
        self.h0 = time.monotonic()
        while True:
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
            central.notify(
                P.RSC_MEASUREMENT_CHAR_UUID, encode_rsc(self._rsc.measurement(self.t_true_s))
            )
        if self.cfg.kind is P.PodKind.FOOTPOD and self._streaming:
            self._send_footpod(central, samples)
        elif self.cfg.kind is P.PodKind.MOVESENSE and self._gsp_ref is not None:
            self._send_movesense(central, samples)

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
        per = samples_per_packet(central.mtu)
        for i in range(0, counts.shape[0], per):
            pkt = encode_imu_packet(self._seq, int(t_us[i]), self.fmt, counts[i : i + per])
            self._seq = (self._seq + 1) & 0xFFFF
            self._transmit(central, P.DATA_CHAR_UUID, pkt)

    def _transmit(self, central: Central, char_uuid: str, pkt: bytes) -> None:
        while self.fault.malformed_queue:
            kind = self.fault.malformed_queue.pop(0)
            bad = malformed(kind, self._last_packet or pkt, self._rng)
            central.notify(char_uuid, bad)
            self.stats.malformed_sent += 1
        if self.fault.loss.lose():
            self.stats.packets_lost += 1
        elif central.notify(char_uuid, pkt):
            self.stats.packets_sent += 1
        self._last_packet = pkt

    def _send_movesense(self, central: Central, samples: PodSamples) -> None:
        assert self._gsp_ref is not None
        acc = samples.acc_counts * self.stream.acc_lsb_mps2
        gyr_dps = samples.gyr_counts * (self.stream.gyr_lsb_radps / P.DEG_TO_RAD)
        t_ms = round(float(self._sensor_time(samples)[0]) * 1e3)
        for part in gsp.encode_imu6(self._gsp_ref, t_ms, acc, gyr_dps, central.mtu):
            self._transmit(central, P.MOVESENSE_NOTIFY_CHAR_UUID, part)
