"""Per-pod stream tracking: decoded batches -> host-timed :class:`ImuChunk` and :class:`Gap`.

Pure (no asyncio, no bleak): the BLE callback feeds notification bytes and their arrival time;
the tracker decodes, drops duplicates and malformed packets (counting them), detects lost
samples and pod restarts, maps sensor time to host time (:class:`SensorClock`) and returns
what the gait engine consumes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gaitcoach.footpod.codec import U32_SPAN, ImuFormat, PacketError, decode_imu_packet
from gaitcoach.footpod.movesense import GspReassembler, GspResult
from gaitcoach.link.clock import SensorClock
from gaitcoach.types import FloatArray, Foot, Gap, ImuChunk

RECENT_BATCHES = 256
"""Batch identities remembered to recognise repeated notifications."""
RESTART_TOLERANCE_S = 2.0
DUPLICATE_WINDOW_S = 0.5
SETTLE_TOLERANCE_S = 0.5e-3
"""Defaults of :class:`ImuTracker` (the link scales them with ``time_scale``)."""


@dataclass(slots=True)
class StreamCounters:
    """Running totals for one pod (never reset by reconnects)."""

    notifications: int = 0
    batches: int = 0
    """Notifications (or reassembled Movesense payloads) accepted as new samples."""
    samples: int = 0
    malformed: int = 0
    duplicates: int = 0
    lost_samples: int = 0
    lost_packets: int = 0
    gaps: int = 0
    restarts: int = 0
    last_error: str = ""


@dataclass(slots=True)
class _Held:
    t_sensor_s: FloatArray
    acc: FloatArray
    gyr: FloatArray
    gap_before: tuple[str, int | None] | None
    """(reason, lost samples or None when only host time can tell) of a gap before it."""


class ImuTracker:
    """Turns one pod's sample batches into host-timed chunks and gaps.

    Gaps are reported for lost samples (sequence or timestamp jump), disconnect periods and
    pod restarts. A :class:`Gap`'s ``start_s`` is the last sample delivered before it and
    ``end_s`` the first sample after it; ``lost_samples`` are the samples in between.

    Parameters
    ----------
    foot
        Foot stamped on every output.
    clock
        Sensor -> host mapping (a fresh :class:`SensorClock` by default).
    settle_s, settle_batches, settle_tolerance_s
        At the start and after a restart, samples are held until this much sensor time and
        this many batches have arrived and the offset estimate improved by less than
        ``settle_tolerance_s`` over the last half of that span (at most ``10 * settle_s``),
        so that the first timestamps already use a filtered offset (the first notifications
        after connecting often arrive late, as a backlog drains).
    duplicate_window_s
        A batch identical (sequence number and timestamp) to one received less than this
        long ago is a duplicate and dropped.
    restart_tolerance_s
        A batch whose sensor time disagrees with the host clock by more than this (or goes
        back in time without being a duplicate) means the pod restarted.
    fmt
        The sample format negotiated at connect (footpod profile, :meth:`push`): a data
        notification with another format code is malformed (counted and dropped), not read
        at its own rate and scales. None (benches, tests) takes each notification's own.
    """

    def __init__(
        self,
        foot: Foot,
        clock: SensorClock | None = None,
        settle_s: float = 3.0,
        restart_tolerance_s: float = RESTART_TOLERANCE_S,
        settle_batches: int = 16,
        duplicate_window_s: float = DUPLICATE_WINDOW_S,
        settle_tolerance_s: float = SETTLE_TOLERANCE_S,
        fmt: ImuFormat | None = None,
    ) -> None:
        self.foot = foot
        self.fmt = fmt
        self.clock = clock if clock is not None else SensorClock()
        self.settle_s = settle_s
        self.restart_tolerance_s = restart_tolerance_s
        self.settle_batches = settle_batches
        self.duplicate_window_s = duplicate_window_s
        self.settle_tolerance_s = settle_tolerance_s
        self._offset_marks: list[tuple[float, float]] = []
        self.counters = StreamCounters()
        self._next_t: float | None = None
        """Sensor time expected for the next batch's first sample."""
        self._last_seq: int | None = None
        self._recent: OrderedDict[tuple[int | None, int], float] = OrderedDict()
        self._epoch_start_t = 0.0
        self._last_out_s: float | None = None
        self._held: list[_Held] = []
        self._settled = False
        self._disconnected = False

    def mark_disconnected(self) -> None:
        """The link dropped: the next gap (if any) is reported as a disconnect."""
        self._disconnected = True

    # -- footpod profile -------------------------------------------------------------------
    def push(self, data: bytes | bytearray, t_host_s: float) -> list[ImuChunk | Gap]:
        """One data notification of the footpod profile, arrived at ``t_host_s``."""
        self.counters.notifications += 1
        try:
            pkt = decode_imu_packet(data)
        except PacketError as exc:
            return self._malformed(exc)
        if self.fmt is not None and pkt.fmt != self.fmt:
            return self._malformed(
                PacketError(
                    f"data packet in format {_describe(pkt.fmt)}, "
                    f"not the negotiated {_describe(self.fmt)}"
                )
            )
        # One allocation each (no float64 copy of the counts first); same values.
        acc = np.multiply(pkt.counts[:, :3], pkt.fmt.acc_lsb_mps2, dtype=np.float64)
        gyr = np.multiply(pkt.counts[:, 3:], pkt.fmt.gyr_lsb_radps, dtype=np.float64)
        return self.push_batch(pkt.seq, pkt.t_first_us, 1e-6, pkt.fmt.rate_hz, acc, gyr, t_host_s)

    def _malformed(self, exc: Exception) -> list[ImuChunk | Gap]:
        self.counters.malformed += 1
        self.counters.last_error = str(exc)
        return []

    # -- any batch source ------------------------------------------------------------------
    def push_batch(
        self,
        seq: int | None,
        t_first_ticks: int,
        tick_s: float,
        rate_hz: float,
        acc_mps2: FloatArray,
        gyr_radps: FloatArray,
        t_host_s: float,
    ) -> list[ImuChunk | Gap]:
        """A batch of consecutive samples whose first sample has sensor time
        ``t_first_ticks * tick_s`` (the tick counter is unsigned 32-bit and may wrap)."""
        n = acc_mps2.shape[0]
        if n == 0 or rate_hz <= 0:
            return self._malformed(PacketError("empty batch or invalid rate"))
        dt = 1.0 / rate_hz
        span_s = U32_SPAN * tick_s
        raw_s = t_first_ticks * tick_s
        out: list[ImuChunk | Gap] = []
        restart = False
        gap: tuple[str, int | None] | None = None
        if self._next_t is None:
            t_first = raw_s
            self._epoch_start_t = t_first
        else:
            t_first = raw_s + span_s * round((self._next_t - raw_s) / span_s)
            seen_at = self._recent.get((seq, t_first_ticks))
            if seen_at is not None and t_host_s - seen_at < self.duplicate_window_s:
                # Already delivered moments ago: a repeated notification. (A restarted pod
                # sends the same sequence and time again, but not this soon.)
                self.counters.duplicates += 1
                return []
            # The next sample time (and, where the protocol has one, the next sequence number)
            # is the same stream. A Movesense has no sequence number: its next timestamp alone
            # says so (a restarted sensor's clock starts again near 0, far from it).
            continues = abs(t_first - self._next_t) < dt / 2 and (
                seq is None
                or (self._last_seq is not None and (seq - self._last_seq) % 0x10000 == 1)
            )
            if t_first < self._next_t - dt / 2:
                restart = True
            elif self.clock.ready and not continues:
                # Only the host clock can tell a restart whose sensor time happens to fit.
                # The next sequence number at the next sample time is the same stream, however
                # late it arrives (a host that stalled for seconds is no pod restart).
                t_last = t_first + (n - 1) * dt
                if abs(self.clock.to_sensor(t_host_s) - t_last) > self.restart_tolerance_s:
                    restart = True
        if restart:
            if self._held and self.clock.ready:
                out += self._emit(dt)  # samples of the old epoch, with the old epoch's clock
            self._held.clear()
            self.counters.restarts += 1
            self._recent.clear()
            self.clock.rebase()
            self._offset_marks.clear()
            self._epoch_start_t = t_first
            self._settled = False
            gap = ("pod restart", None)
        elif self._next_t is not None:
            lost = round((t_first - self._next_t) * rate_hz)
            self.counters.lost_packets += _lost_packets(seq, self._last_seq, max(lost, 0), n)
            if lost > 0:
                gap = ("disconnected" if self._disconnected else "packet loss", lost)
        self._disconnected = False
        self._last_seq = seq
        self._recent[(seq, t_first_ticks)] = t_host_s
        if len(self._recent) > RECENT_BATCHES:
            self._recent.popitem(last=False)
        self._next_t = t_first + n * dt
        t_sensor: FloatArray = t_first + np.arange(n, dtype=np.float64) * dt
        self.clock.observe(float(t_sensor[-1]), t_host_s)
        self.counters.samples += n
        self.counters.batches += 1
        self._held.append(
            _Held(
                t_sensor,
                np.asarray(acc_mps2, np.float64),
                np.asarray(gyr_radps, np.float64),
                gap,
            )
        )
        if not self._settled and not self._settle_done(float(t_sensor[-1])):
            return out
        self._settled = True
        return out + self._emit(dt)

    def _settle_done(self, t_sensor_s: float) -> bool:
        """Hold the first batches of an epoch until the offset estimate is stable: enough
        time and batches, and no further improvement over the last half of the held span (a
        draining backlog after connecting keeps improving it)."""
        assert self.clock.offset_s_ is not None
        self._offset_marks.append((t_sensor_s, self.clock.offset_s_))
        span = t_sensor_s - self._epoch_start_t
        if span < self.settle_s or len(self._held) < self.settle_batches:
            return False
        if span >= 10 * self.settle_s:
            return True
        half = t_sensor_s - span / 2
        before = next(off for t, off in self._offset_marks if t >= half)
        return before - self.clock.offset_s_ < self.settle_tolerance_s

    def _emit(self, dt: float) -> list[ImuChunk | Gap]:
        self._offset_marks.clear()
        out: list[ImuChunk | Gap] = []
        held, self._held = self._held, []
        for h in held:
            t = self.clock.to_host(h.t_sensor_s)
            if self._last_out_s is not None:
                # Keep time strictly increasing when an offset correction steps backwards.
                floor = self._last_out_s + 0.5 * dt * (1 + np.arange(t.shape[0]))
                t = np.maximum(t, floor)
                if h.gap_before is not None:
                    reason, known = h.gap_before
                    if known is None:
                        lost = max(0, round((t[0] - self._last_out_s) / dt) - 1)
                    else:
                        lost = known
                    self.counters.lost_samples += lost
                    out.append(Gap(self.foot, self._last_out_s, float(t[0]), lost, reason))
                    self.counters.gaps += 1
            out.append(ImuChunk(self.foot, t, h.acc, h.gyr))
            self._last_out_s = float(t[-1])
        return out


def _describe(fmt: ImuFormat) -> str:
    return f"0x{fmt.code:02x} ({fmt.rate_hz} Hz, {fmt.acc_range_g} g, {fmt.gyr_range_dps} dps)"


def _lost_packets(seq: int | None, last_seq: int | None, lost_samples: int, n: int) -> int:
    """Packets missing before this one: the sequence number's jump when it agrees with the
    samples missing by time (a packet holds ``n``), else what the samples say. A sequence
    number that repeats or runs backwards (a replayed or forged packet) once counted as
    65 535 lost packets: loss is what the samples say is missing."""
    by_time = -(-lost_samples // n)  # ceil
    if seq is None or last_seq is None:
        return by_time
    by_seq = (seq - last_seq - 1) % 0x10000
    return by_seq if abs(by_seq - by_time) <= 1 else by_time


class MovesenseTracker:
    """:class:`ImuTracker` behind a Movesense GSP reassembler (``/Meas/IMU6/<rate>``).

    One per connection (the reassembler and its results are the connection's; the
    :class:`ImuTracker` outlives it). ``capacity`` gives the largest notification (ATT MTU - 3)
    when known, so that data split into parts is joined where the sender split it (see
    :class:`GspReassembler`).
    """

    def __init__(
        self,
        tracker: ImuTracker,
        ref: int,
        rate_hz: float,
        capacity: Callable[[], int | None] | None = None,
    ) -> None:
        self.tracker = tracker
        self.rate_hz = rate_hz
        self.gsp = GspReassembler(ref, capacity)
        self._results_taken = 0

    def new_results(self) -> list[GspResult]:
        """The COMMAND_RESULTs of this connection not returned by an earlier call (of those
        still kept: call it after every :meth:`push`, which adds at most one)."""
        stats = self.gsp.stats
        fresh = min(stats.result_count - self._results_taken, len(stats.results))
        self._results_taken = stats.result_count
        return list(stats.results)[len(stats.results) - fresh :]

    @property
    def counters(self) -> StreamCounters:
        return self.tracker.counters

    def push(self, data: bytes | bytearray, t_host_s: float) -> list[ImuChunk | Gap]:
        self.tracker.counters.notifications += 1
        out: list[ImuChunk | Gap] = []
        for imu in self.gsp.feed(data):
            if isinstance(imu, PacketError):
                out += self.tracker._malformed(imu)
                continue
            out += self.tracker.push_batch(
                None, imu.timestamp_ms, 1e-3, self.rate_hz, imu.acc_mps2, imu.gyr_radps, t_host_s
            )
        return out
