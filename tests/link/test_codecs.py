"""Footpod, RSC and Movesense wire formats: the pods' firmware encoders
(``firmware_sim.pods.wire``) against the client's decoders, and property-based fuzzing of
every decoder. Golden vectors from the specifications are in test_receivers.py."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.pods import wire
from gaitcoach.footpod import movesense as gsp
from gaitcoach.footpod.codec import (
    AdvInfo,
    ControlCommand,
    ControlOp,
    ImuFormat,
    PacketError,
    decode_adv,
    decode_format,
    decode_imu_packet,
    decode_side,
    encode_control,
    encode_imu_packet,
    samples_per_packet,
)
from gaitcoach.footpod.profile import ACC_RANGES_G, GYR_RANGES_DPS, RATES_HZ
from gaitcoach.footpod.rsc import decode_rsc, decode_rsc_feature
from gaitcoach.footpod.standard import decode_battery, decode_dis_string
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
def test_imu_packet_firmware_to_client(
    seq: int, t_us: int, fmt: ImuFormat, rows: list[list[int]]
) -> None:
    counts = np.array(rows, dtype=np.int16)
    code = wire.footpod_format_code(fmt.rate_hz, fmt.acc_range_g, fmt.gyr_range_dps)
    sent = wire.pack_data_packet(seq, t_us, code, counts)
    pkt = decode_imu_packet(sent)
    assert (pkt.seq, pkt.t_first_us, pkt.fmt) == (seq, t_us, fmt)
    np.testing.assert_array_equal(pkt.counts, counts)
    # The benches' encoder (gaitcoach side) writes the same octets.
    assert encode_imu_packet(seq, t_us, fmt, counts) == sent


@pytest.mark.parametrize(("mtu", "per"), [(23, 1), (27, 1), (35, 2), (185, 14), (247, 19)])
def test_packets_fit_the_mtu(mtu: int, per: int) -> None:
    assert samples_per_packet(mtu) == per == wire.data_packet_capacity(mtu)
    data = wire.pack_data_packet(0, 0, 0x39, np.zeros((per, 6), np.int16))
    assert len(data) <= mtu - 3


DECODERS = [
    decode_imu_packet,
    decode_format,
    decode_side,
    decode_adv,
    decode_battery,
    decode_dis_string,
    decode_rsc,
    decode_rsc_feature,
    gsp.decode_result,
]


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda f: f.__name__)
@settings(max_examples=300)
@given(data=st.binary(max_size=300))
def test_decoders_raise_only_packet_error(decoder: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(PacketError):
        decoder(data)


@settings(max_examples=300)
@given(data=st.lists(st.binary(max_size=250), max_size=20), cap=st.sampled_from([None, 20, 158]))
def test_gsp_reassembler_survives_anything(data: list[bytes], cap: int | None) -> None:
    r = gsp.GspReassembler(7, lambda: cap)
    for d in data:
        for out in r.feed(d):
            if not isinstance(out, PacketError):
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
        wire.pack_data_packet(s, t, fmt.code, np.ones((3, 6), np.int16))
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


def test_control_format_side_adv_rsc_between_client_and_firmware() -> None:
    fmt = ImuFormat(416, 8, 1000)
    cfg = wire.unpack_control(encode_control(ControlCommand(ControlOp.CONFIGURE, fmt)))
    assert (cfg.op, cfg.rate_hz, cfg.acc_range_g, cfg.gyr_range_dps) == (3, 416, 8, 1000)
    assert wire.unpack_control(encode_control(ControlCommand(ControlOp.START))).op == 1
    for bad in (b"", b"\x04", b"\x01\x00", b"\x03\x64\x00\x10\xd0\x07"):
        with pytest.raises(wire.WriteRefused):
            wire.unpack_control(bad)
    info = decode_format(wire.pack_format_value(416, 8, 1000))
    assert info.fmt == fmt and info.version == 1
    for foot in Foot:
        assert decode_side(wire.pack_side(foot)) is foot
    assert decode_adv(wire.pack_footpod_service_data(Foot.RIGHT, 42)) == AdvInfo(Foot.RIGHT, 42)
    back = decode_rsc(wire.pack_rsc_measurement(3.5, 172, True, 1.23, 4567.8))
    assert back.cadence_spm == 172 and back.running and not back.ignored
    assert back.speed_mps == pytest.approx(3.5, abs=1 / 512)
    assert back.stride_length_m == pytest.approx(1.23)
    assert back.total_distance_m == pytest.approx(4567.8)
    bare = decode_rsc(wire.pack_rsc_measurement(2.0, 150, False, None, None))
    assert bare.stride_length_m is None and bare.total_distance_m is None and not bare.running
    feature = decode_rsc_feature(wire.pack_rsc_feature(True, True, True))
    assert feature.stride_length and feature.total_distance and feature.running_status
    assert not feature.mismatches(back) and not feature.ignored


@given(
    n=st.integers(1, 8),
    mtu=st.sampled_from([23, 50, 100, 161, 247]),
    ts=st.integers(0, 2**32 - 1),
    seed=st.integers(0, 1000),
)
def test_movesense_imu6_parts_firmware_to_client(n: int, mtu: int, ts: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    acc = rng.normal(0, 20, (n, 3)).astype(np.float32)
    gyr = rng.normal(0, 500, (n, 3)).astype(np.float32)
    payload = wire.pack_meas_payload(ts, acc, gyr)
    try:
        parts = wire.gsp_parts(3, payload, mtu - 3)
    except ValueError:
        assert len(payload) > wire.gsp_max_payload(mtu - 3)
        return
    assert all(len(p) <= mtu - 3 for p in parts)
    assert [p[0] for p in parts] == [2, 3, 4][: len(parts)]
    r = gsp.GspReassembler(3, lambda: mtu - 3)
    outs = [r.feed(p) for p in parts]
    done = [o for out in outs for o in out]
    if not done:  # the last part filled a notification: complete when the next DATA begins
        done = r.feed(wire.gsp_parts(3, payload, mtu - 3)[0])
    (data,) = done[:1]
    assert not isinstance(data, PacketError)
    assert data.timestamp_ms == ts
    np.testing.assert_allclose(data.acc_mps2, acc, rtol=1e-6)
    np.testing.assert_allclose(data.gyr_radps, np.deg2rad(gyr.astype(np.float64)), rtol=1e-6)


def test_gsp_commands_client_to_firmware() -> None:
    req = gsp.GspRequest(gsp.GspCommand.SUBSCRIBE, 99, gsp.imu6_path(208))
    assert gsp.encode_request(req) == b"\x01\x63/Meas/IMU6/208"
    cmd = wire.unpack_gsp_command(gsp.encode_request(req))
    assert cmd == wire.GspCommandIn(1, 99, b"/Meas/IMU6/208")
    assert wire.unpack_gsp_command(b"\x00") is None
    assert gsp.parse_imu6_path("/Meas/IMU6/104") == 104
    for bad in ("/Meas/IMU6/100", "/Meas/Acc/104", "/Meas/IMU6/"):
        with pytest.raises(PacketError):
            gsp.parse_imu6_path(bad)
