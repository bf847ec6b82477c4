"""Footpod, RSC and Movesense codecs: round trips and property-based fuzzing of every decoder."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitcoach.footpod import movesense as gsp
from gaitcoach.footpod.codec import (
    AdvInfo,
    ControlCommand,
    ControlOp,
    ImuFormat,
    PacketError,
    decode_adv,
    decode_battery,
    decode_control,
    decode_format,
    decode_imu_packet,
    decode_side,
    encode_adv,
    encode_control,
    encode_format,
    encode_imu_packet,
    encode_side,
    samples_per_packet,
)
from gaitcoach.footpod.profile import ACC_RANGES_G, GYR_RANGES_DPS, RATES_HZ
from gaitcoach.footpod.rsc import RscMeasurement, decode_rsc, decode_rsc_feature, encode_rsc
from gaitcoach.link.tracker import ImuTracker, MovesenseTracker
from gaitcoach.types import Foot

formats = st.builds(
    ImuFormat,
    st.sampled_from(RATES_HZ),
    st.sampled_from(ACC_RANGES_G),
    st.sampled_from(GYR_RANGES_DPS),
)
int16 = st.integers(-32768, 32767)


@given(
    seq=st.integers(0, 0xFFFF),
    t_us=st.integers(0, 2**32 - 1),
    fmt=formats,
    rows=st.lists(st.lists(int16, min_size=6, max_size=6), min_size=1, max_size=40),
)
def test_imu_packet_round_trip(seq: int, t_us: int, fmt: ImuFormat, rows: list[list[int]]) -> None:
    counts = np.array(rows, dtype=np.int16)
    pkt = decode_imu_packet(encode_imu_packet(seq, t_us, fmt, counts))
    assert (pkt.seq, pkt.t_first_us, pkt.fmt) == (seq, t_us, fmt)
    np.testing.assert_array_equal(pkt.counts, counts)


@pytest.mark.parametrize(("mtu", "per"), [(23, 1), (27, 1), (35, 2), (185, 14), (247, 19)])
def test_packets_fit_the_mtu(mtu: int, per: int) -> None:
    assert samples_per_packet(mtu) == per
    data = encode_imu_packet(0, 0, ImuFormat(), np.zeros((per, 6), np.int16))
    assert len(data) <= mtu - 3


DECODERS = [
    decode_imu_packet,
    decode_control,
    decode_format,
    decode_side,
    decode_adv,
    decode_battery,
    decode_rsc,
    decode_rsc_feature,
    gsp.decode_request,
]


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda f: f.__name__)
@settings(max_examples=300)
@given(data=st.binary(max_size=300))
def test_decoders_raise_only_packet_error(decoder: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(PacketError):
        decoder(data)


@settings(max_examples=300)
@given(data=st.lists(st.binary(max_size=250), max_size=20))
def test_gsp_reassembler_survives_anything(data: list[bytes]) -> None:
    r = gsp.GspReassembler(7)
    for d in data:
        try:
            out = r.feed(d)
        except PacketError:
            continue
        if out is not None:
            assert out.acc_mps2.shape == out.gyr_radps.shape


@settings(max_examples=200)
@given(
    noise=st.lists(st.binary(max_size=120), max_size=30),
    seqs=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=30),
    times=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=30),
)
def test_tracker_never_crashes_and_keeps_time_increasing(
    noise: list[bytes], seqs: list[int], times: list[int]
) -> None:
    tracker = ImuTracker(Foot.LEFT, settle_s=0.0, settle_batches=1)
    ms = MovesenseTracker(ImuTracker(Foot.RIGHT, settle_s=0.0, settle_batches=1), 7, 104)
    fmt = ImuFormat()
    packets = [
        encode_imu_packet(s, t, fmt, np.ones((3, 6), np.int16))
        for s, t in zip(seqs, times, strict=False)
    ]
    last = -np.inf
    host = 1000.0
    for i, data in enumerate(packets + noise):
        host += 0.01
        for item in tracker.push(data, host):
            if hasattr(item, "t_s"):
                assert item.t_s[0] > last and np.all(np.diff(item.t_s) > 0)
                last = float(item.t_s[-1])
        ms.push(data, host + i)
    c = tracker.counters
    # Every notification is accounted for exactly once: accepted, malformed or duplicate.
    assert c.notifications == len(packets) + len(noise)
    assert c.batches + c.malformed + c.duplicates == c.notifications
    assert ms.counters.batches + ms.counters.malformed + ms.counters.duplicates <= len(
        packets
    ) + len(noise)


def test_control_format_side_adv_rsc_round_trips() -> None:
    fmt = ImuFormat(416, 8, 1000)
    assert decode_control(encode_control(ControlCommand(ControlOp.CONFIGURE, fmt))).fmt == fmt
    assert decode_control(encode_control(ControlCommand(ControlOp.START))).op is ControlOp.START
    info = decode_format(encode_format(fmt))
    assert info.fmt == fmt and info.version == 1
    for foot in Foot:
        assert decode_side(encode_side(foot)) is foot
    assert decode_adv(encode_adv(AdvInfo(Foot.RIGHT, 42))) == AdvInfo(Foot.RIGHT, 42)
    m = RscMeasurement(3.5, 172, True, 1.23, 4567.8)
    back = decode_rsc(encode_rsc(m))
    assert back.cadence_spm == 172 and back.running
    assert back.speed_mps == pytest.approx(3.5, abs=1 / 512)
    assert back.stride_length_m == pytest.approx(1.23) and back.total_distance_m == pytest.approx(
        4567.8
    )
    bare = decode_rsc(encode_rsc(RscMeasurement(2.0, 150, False)))
    assert bare.stride_length_m is None and bare.total_distance_m is None and not bare.running


@given(
    n=st.integers(1, 8),
    mtu=st.sampled_from([23, 100, 185, 247]),
    ts=st.integers(0, 2**32 - 1),
    seed=st.integers(0, 1000),
)
def test_movesense_imu6_round_trip_with_part2(n: int, mtu: int, ts: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    acc = rng.normal(0, 20, (n, 3)).astype(np.float32)
    gyr = rng.normal(0, 500, (n, 3)).astype(np.float32)
    try:
        parts = gsp.encode_imu6(3, ts, acc, gyr, mtu)
    except ValueError:
        assert 4 + 24 * n > 2 * (mtu - 5) - 1
        return
    assert all(len(p) <= mtu - 3 for p in parts)
    r = gsp.GspReassembler(3)
    outs = [r.feed(p) for p in parts]
    assert all(o is None for o in outs[:-1])
    data = outs[-1]
    assert data is not None and data.timestamp_ms == ts
    np.testing.assert_allclose(data.acc_mps2, acc, rtol=1e-6)
    np.testing.assert_allclose(data.gyr_radps, np.deg2rad(gyr.astype(np.float64)), rtol=1e-6)


def test_gsp_commands() -> None:
    req = gsp.GspRequest(gsp.GspCommand.SUBSCRIBE, 99, gsp.imu6_path(208))
    assert gsp.encode_request(req) == b"\x01\x63/Meas/IMU6/208"
    assert gsp.decode_request(gsp.encode_request(req)) == req
    assert gsp.parse_imu6_path("/Meas/IMU6/104") == 104
    for bad in ("/Meas/IMU6/100", "/Meas/Acc/104", "/Meas/IMU6/"):
        with pytest.raises(PacketError):
            gsp.parse_imu6_path(bad)
