"""Sensor -> host time mapping and stream tracking, without BLE (pure and fast)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from firmware_sim.pods import wire
from firmware_sim.pods.streams import counter_counts
from gaitcoach.footpod.codec import ImuFormat, encode_imu_packet, samples_per_packet
from gaitcoach.link.clock import SensorClock
from gaitcoach.link.tracker import ImuTracker, MovesenseTracker
from gaitcoach.types import Foot, Gap, ImuChunk

RATE = 208
FMT = ImuFormat(RATE)


def ble_arrivals(
    t_true_last: np.ndarray, rng: np.random.Generator, floor_s: float = 0.0075
) -> np.ndarray:
    """Arrival of each notification: connection-interval quantisation (7.5 ms), exponential
    jitter, and 1% of packets retried one to four intervals later."""
    interval = 0.0075
    t = np.ceil(t_true_last / interval) * interval + floor_s
    t += rng.exponential(0.003, t.shape)
    retry = rng.random(t.shape) < 0.01
    t[retry] += interval * rng.integers(1, 5, int(retry.sum()))
    return t


class PodModel:
    """A footpod's packets: sensor clock with offset and drift, restarts, dropouts."""

    def __init__(self, drift_ppm: float, offset_s: float, mtu: int = 23) -> None:
        self.drift = drift_ppm * 1e-6
        self.offset = offset_s
        self.per = samples_per_packet(mtu)

    def packets(
        self,
        minutes: float,
        restart_at_s: float | None = None,
        dropout: tuple[float, float] | None = None,
    ) -> list[tuple[bytes, float, np.ndarray]]:
        """(payload, t_true of last sample, indices) for every packet sent."""
        n = int(minutes * 60 * RATE)
        out = []
        seq = 0
        clock_zero = 0.0
        for i0 in range(0, n - self.per, self.per):
            idx = np.arange(i0, i0 + self.per)
            t_true = idx / RATE
            if dropout and dropout[0] <= t_true[0] < dropout[1]:
                continue
            if restart_at_s is not None and clock_zero == 0.0 and t_true[0] >= restart_at_s:
                clock_zero, seq = t_true[0] + 0.3, 0
                continue  # this packet is lost while booting
            t_sensor = self.offset + (t_true[0] - clock_zero) * (1 + self.drift)
            if clock_zero:
                t_sensor = (t_true[0] - clock_zero) * (1 + self.drift)
            acc, gyr = counter_counts(idx, Foot.LEFT)
            counts = np.hstack([acc, gyr])
            out.append(
                (encode_imu_packet(seq, round(t_sensor * 1e6), FMT, counts), t_true[-1], idx)
            )
            seq = (seq + 1) & 0xFFFF
        return out


def run_tracker(pkts, arrivals, tracker: ImuTracker) -> tuple[list[ImuChunk], list[Gap]]:
    chunks: list[ImuChunk] = []
    gaps: list[Gap] = []
    for (payload, _, _), t_arr in zip(pkts, arrivals, strict=True):
        for item in tracker.push(payload, float(t_arr)):
            if isinstance(item, ImuChunk):
                chunks.append(item)
            else:
                gaps.append(item)
    return chunks, gaps


@pytest.mark.parametrize("drift_ppm", [-90.0])
def test_one_hour_within_2ms_of_truth(drift_ppm: float) -> None:
    rng = np.random.default_rng(1)
    pod = PodModel(drift_ppm, offset_s=12345.678, mtu=247)
    pkts = pod.packets(60.0)
    t_last = np.array([p[1] for p in pkts])
    host_offset = 5000.0
    arrivals = host_offset + ble_arrivals(t_last, rng)
    floor = 0.0075
    tracker = ImuTracker(Foot.LEFT, SensorClock(latency_floor_s=floor))
    chunks, gaps = run_tracker(pkts, arrivals, tracker)
    t = np.concatenate([c.t_s for c in chunks])
    idx = np.concatenate([p[2] for p in pkts])
    assert t.shape == idx.shape and not gaps
    err = t - (host_offset + idx / RATE)
    assert np.max(np.abs(err)) < 2e-3, f"max error {np.max(np.abs(err)) * 1e3:.2f} ms"
    assert np.all(np.diff(t) > 0)
    # A sensor clock running fast means fewer host seconds per sensor second.
    assert tracker.clock.drift_ppm_ == pytest.approx(-drift_ppm, abs=5)


def test_restart_and_dropout_without_time_jump() -> None:
    rng = np.random.default_rng(2)
    pod = PodModel(60.0, offset_s=77.0, mtu=247)
    pkts = pod.packets(5.0, restart_at_s=150.0, dropout=(60.0, 65.0))
    t_last = np.array([p[1] for p in pkts])
    arrivals = 100.0 + ble_arrivals(t_last, rng)
    tracker = ImuTracker(Foot.LEFT, SensorClock(latency_floor_s=0.0075))
    chunks, gaps = run_tracker(pkts, arrivals, tracker)
    t = np.concatenate([c.t_s for c in chunks])
    idx = np.concatenate([p[2] for p in pkts])
    err = np.abs(t - (100.0 + idx / RATE))
    # Within 2 ms, except while the offset of the restarted clock is re-learned from its
    # first seconds of notifications (a few ms for a few seconds; no jump).
    after_restart = (idx / RATE >= 150.0) & (idx / RATE < 155.0)
    assert np.max(err[~after_restart]) < 2e-3
    assert np.max(err[after_restart]) < 3e-3
    assert [g.reason for g in gaps] == ["packet loss", "pod restart"]
    drop, restart = gaps
    jumps = np.diff(idx)
    assert drop.lost_samples == jumps[jumps > 1][0] - 1 >= 5.0 * RATE
    assert drop.start_s == pytest.approx(100 + 60 - 1 / RATE, abs=0.02)
    assert restart.end_s - restart.start_s == pytest.approx(pod.per / RATE + 1 / RATE, abs=2e-3)
    assert tracker.counters.restarts == 1


def test_duplicates_and_malformed_are_counted_and_dropped() -> None:
    pod = PodModel(0.0, offset_s=1.0)
    pkts = pod.packets(0.2)
    tracker = ImuTracker(Foot.RIGHT, settle_s=0.0, settle_batches=1)
    got = []
    t0 = 10.0
    for k, (payload, t_last, _) in enumerate(pkts):
        for data in (payload, payload, payload[:-3], b"\x00", payload + b"\x01"):
            got += tracker.push(data, t0 + t_last + 0.001 * (k % 3))
    chunks = [c for c in got if isinstance(c, ImuChunk)]
    assert sum(len(c) for c in chunks) == len(pkts) * pod.per
    c = tracker.counters
    assert c.duplicates == len(pkts) and c.malformed == 3 * len(pkts) and c.gaps == 0


def test_a_notification_in_another_format_is_malformed_not_a_pod_restart() -> None:
    """The format is negotiated at connect: a notification whose format code says another
    rate or range is counted as malformed and dropped. (Read at its own rate, one in
    another rate made the next packet look like a pod restart, clock rebased.)"""
    per, dt_us = 8, 1e6 / RATE
    tracker = ImuTracker(Foot.LEFT, settle_s=0.2, settle_batches=2, fmt=FMT)
    others = {100: ImuFormat(104), 150: ImuFormat(RATE, acc_range_g=8)}
    counts = np.zeros((per, 6), np.int16)
    out = []
    for k in range(200):
        t_us = round(1e6 + k * per * dt_us)
        arrival = 3.0 + (k + 1) * per * dt_us * 1e-6 + 0.008
        if k in others:  # an extra notification: this packet again, in another format
            out += tracker.push(encode_imu_packet(k, t_us, others[k], counts), arrival)
        out += tracker.push(encode_imu_packet(k, t_us, FMT, counts), arrival)
    c = tracker.counters
    assert (c.malformed, c.restarts, c.gaps, c.duplicates, c.lost_samples) == (2, 0, 0, 0, 0), c
    assert c.last_error == (
        "data packet in format 0x49 (208 Hz, 8 g, 2000 dps), "
        "not the negotiated 0x4d (208 Hz, 16 g, 2000 dps)"
    )
    chunks = [x for x in out if isinstance(x, ImuChunk)]
    assert not [x for x in out if isinstance(x, Gap)]
    t = np.concatenate([x.t_s for x in chunks])
    assert len(t) == 200 * per and np.allclose(np.diff(t), 1 / RATE, atol=1e-4)
    # Without a negotiated format (benches), each notification is read in its own.
    free = ImuTracker(Foot.LEFT, settle_s=0.0, settle_batches=1)
    free.push(encode_imu_packet(0, 0, ImuFormat(104), counts), 1.0)
    assert free.counters.malformed == 0 and free.counters.samples == per


def test_sequence_gap_counts_lost_samples_exactly() -> None:
    pod = PodModel(0.0, offset_s=1.0)
    pkts = pod.packets(0.5)
    drop = {10, 11, 12, 40}
    tracker = ImuTracker(Foot.LEFT, settle_s=0.0, settle_batches=1)
    gaps = []
    for k, (payload, t_last, _) in enumerate(pkts):
        if k not in drop:
            gaps += [g for g in tracker.push(payload, 5.0 + t_last) if isinstance(g, Gap)]
    assert [g.lost_samples for g in gaps] == [3 * pod.per, pod.per]
    assert tracker.counters.lost_packets == 4


def test_lost_packets_follow_the_missing_samples() -> None:
    """A sequence number that repeats or runs backwards while the samples are all there
    counts no lost packet (once 65 535 each: 40.8 M lost packets for 300 k received)."""
    from gaitcoach.footpod.codec import ImuFormat, encode_imu_packet

    fmt = ImuFormat()
    per, dt_us = 8, 1e6 / fmt.rate_hz
    counts = np.zeros((per, 6), dtype=np.int16)
    tracker = ImuTracker(Foot.LEFT, settle_s=0.0, settle_batches=1)
    seqs = [0, 1, 2, 2, 1, 5, 6, 7, 7, 8]  # repeats and steps back; samples all there
    for k, seq in enumerate(seqs):
        data = encode_imu_packet(seq, round(1e6 + k * per * dt_us), fmt, counts)
        tracker.push(data, 3.0 + (k + 1) * per * dt_us * 1e-6)
    # Then two packets really lost: the sequence and the samples agree.
    data = encode_imu_packet(11, round(1e6 + (len(seqs) + 2) * per * dt_us), fmt, counts)
    tracker.push(data, 3.0 + (len(seqs) + 3) * per * dt_us * 1e-6)
    c = tracker.counters
    assert c.lost_samples == 2 * per and c.lost_packets == 2, c


def stalled_arrival(t_last: float, stall_from: float = 10.0, stall_s: float = 4.0) -> float:
    """Host arrival of a packet whose last sample is at ``t_last``: 8 ms after it, except in
    a host stall of ``stall_s`` from ``stall_from``, whose packets come as a burst after it."""
    if stall_from <= t_last < stall_from + stall_s:
        return 100.0 + stall_from + stall_s + 0.001 * (t_last - stall_from)
    return 100.0 + t_last + 0.008


def samples_in_order(out: list[Any]) -> int:
    """The samples of the chunks handed out, checked to be in time order."""
    chunks = [x for x in out if isinstance(x, ImuChunk)]
    t = np.concatenate([x.t_s for x in chunks])
    assert np.all(np.diff(t) > 0)
    return len(t)


def test_a_host_stall_is_no_pod_restart() -> None:
    """The host stops reading for 4 s (a busy machine), then takes the backlog in a burst:
    the next sequence numbers at the next sample times are the same stream, so no restart,
    no gap and no lost sample (a stall over 2 s once read as a restart with phantom loss)."""
    pod = PodModel(20.0, offset_s=1.0)
    pkts = pod.packets(0.5)
    tracker = ImuTracker(Foot.LEFT, settle_s=0.5, settle_batches=4)
    out = []
    for payload, t_last, _ in pkts:
        out += tracker.push(payload, stalled_arrival(t_last))
    c = tracker.counters
    assert c.restarts == 0 and c.gaps == 0 and c.lost_samples == 0 and c.lost_packets == 0, c
    assert samples_in_order(out) == len(pkts) * pod.per


def test_a_host_stall_is_no_movesense_restart() -> None:
    """The same stall on a Movesense stream, which has no sequence number: the payload whose
    millisecond timestamp is the next sample time continues the stream however late it
    arrives (a 2 s stall once read as a restart, with phantom loss, a new clock epoch and the
    samples of the burst held again)."""
    per, ref = 8, 99
    tracker = ImuTracker(Foot.LEFT, settle_s=0.5, settle_batches=4)
    ms = MovesenseTracker(tracker, ref, RATE, capacity=lambda: 158)
    out = []
    n_payloads = int(30 * RATE / per)
    for k in range(n_payloads):
        idx = np.arange(k * per, (k + 1) * per)
        acc, gyr = counter_counts(idx, Foot.LEFT)
        payload = wire.pack_meas_payload(round(1000 + 1e3 * idx[0] / RATE), acc, gyr)
        arrival = stalled_arrival(idx[-1] / RATE)
        for part in wire.gsp_parts(ref, payload, 158):
            out += ms.push(part, arrival)
    c = tracker.counters
    assert c.restarts == 0 and c.gaps == 0 and c.lost_samples == 0 and c.malformed == 0, c
    assert samples_in_order(out) == c.samples == n_payloads * per
