"""Golden vectors for the client's receivers: octets written by hand from the Bluetooth SIG
GATT Specification Supplement (RSC Measurement 0x2A53, RSC Feature 0x2A54, Battery Level
0x2A19, Device Information strings) and from the Movesense reference (gatt_sensordata_app
and its Python client), with the values they mean. No encoder of ours is involved.

Receivers are liberal: reserved-for-future-use bits and octets after the declared fields
are ignored and counted; only a value too short for what it declares is refused, with the
reason."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gaitcoach.footpod import movesense as gsp
from gaitcoach.footpod.codec import PacketError
from gaitcoach.footpod.receive import Ignored, ReceiveCounters
from gaitcoach.footpod.rsc import RscFeature, decode_rsc, decode_rsc_feature
from gaitcoach.footpod.standard import decode_battery, decode_dis_string
from gaitcoach.link.tracker import ImuTracker, MovesenseTracker
from gaitcoach.types import Foot

STRYD = "80 07 00 00 00 00 ff ff ff 00 00 00 00"
"""RSC Measurement logged from a real Stryd pod by a third-party app (issue 19)."""

# (octets, speed m/s, cadence 1/min, running, stride m, distance m, reserved bits, extra)
RSC_VECTORS = [
    ("00 00 01 5a", 1.0, 90, False, None, None, 0, 0),
    ("04 80 03 b4", 3.5, 180, True, None, None, 0, 0),
    ("07 00 03 b4 8c 00 10 27 00 00", 3.0, 180, True, 1.40, 1000.0, 0, 0),
    ("02 00 02 a0 e8 03 00 00", 2.0, 160, False, None, 100.0, 0, 0),
    ("01 40 02 a6 f4 01", 2.25, 166, False, 5.0, None, 0, 0),
    ("0d 00 02 a0 64 00", 2.0, 160, True, 1.0, None, 0x08, 0),
    ("04 80 03 b4 00", 3.5, 180, True, None, None, 0, 1),
    (STRYD, 7 / 256, 0, False, None, None, 0x80, 9),
]


@pytest.mark.parametrize("vector", RSC_VECTORS, ids=lambda v: v[0])
def test_rsc_measurement_golden(vector: tuple) -> None:
    octets, speed, cadence, running, stride, distance, reserved, extra = vector
    m = decode_rsc(bytes.fromhex(octets))
    assert m.speed_mps == pytest.approx(speed, abs=1e-12)
    assert (m.cadence_spm, m.running) == (cadence, running)
    assert m.stride_length_m == (None if stride is None else pytest.approx(stride))
    assert m.total_distance_m == (None if distance is None else pytest.approx(distance))
    assert m.ignored == Ignored(reserved_bits=reserved, extra_octets=extra)


def test_stryd_packet_is_accepted_and_what_was_ignored_is_counted() -> None:
    counters = ReceiveCounters()
    m = decode_rsc(bytes.fromhex(STRYD))
    counters.accept(m.ignored)
    assert (counters.values, counters.reserved_bits, counters.extra_octets) == (1, 1, 9)
    assert counters.refused == 0


@pytest.mark.parametrize(
    ("octets", "reason"),
    [
        ("", "0 octets, at least 4 needed"),
        ("04 00", "2 octets, at least 4 needed"),
        ("03 00 01 5a 8c", "flags 0x03 declare 10 octets, got 5"),
        ("02 00 02 a0 e8 03 00", "flags 0x02 declare 8 octets, got 7"),
        ("81 00 02 a0 64", "flags 0x81 declare 6 octets, got 5"),
    ],
)
def test_rsc_measurement_truncated_is_refused_with_the_reason(octets: str, reason: str) -> None:
    with pytest.raises(PacketError, match="RSC measurement truncated: " + reason):
        decode_rsc(bytes.fromhex(octets))


@pytest.mark.parametrize(
    ("octets", "feature", "ignored"),
    [
        ("07 00", RscFeature(True, True, True), Ignored()),
        ("05 00", RscFeature(True, False, True), Ignored()),
        ("1f 00", RscFeature(True, True, True, True, True), Ignored()),
        ("07 80 ff", RscFeature(True, True, True), Ignored(reserved_bits=0x8000, extra_octets=1)),
        ("20 00", RscFeature(False, False, False), Ignored(reserved_bits=0x0020)),
    ],
)
def test_rsc_feature_golden(octets: str, feature: RscFeature, ignored: Ignored) -> None:
    got = decode_rsc_feature(bytes.fromhex(octets))
    assert got == feature and got.ignored == ignored


def test_rsc_feature_truncated_and_mismatch() -> None:
    with pytest.raises(PacketError, match="RSC feature truncated: 1 octets, 2 needed"):
        decode_rsc_feature(b"\x07")
    # 05 00 (no total distance) with a measurement carrying total distance: the mismatch
    # issue 19 found in the virtual RSC pod.
    no_distance = decode_rsc_feature(bytes.fromhex("05 00"))
    m = decode_rsc(bytes.fromhex("07 00 03 b4 8c 00 10 27 00 00"))
    assert no_distance.mismatches(m) == ["total distance sent but not declared in RSC Feature"]


@pytest.mark.parametrize(
    ("octets", "pct", "extra"), [("5a", 90, 0), ("00", 0, 0), ("64", 100, 0), ("4b 00 00", 75, 2)]
)
def test_battery_level_golden(octets: str, pct: int, extra: int) -> None:
    level = decode_battery(bytes.fromhex(octets))
    assert level.pct == pct and level.ignored == Ignored(extra_octets=extra)


@pytest.mark.parametrize(
    ("octets", "reason"),
    [("", "truncated: 0 octets, 1 needed"), ("65", "101 is a reserved value"), ("ff", "255")],
)
def test_battery_level_refused(octets: str, reason: str) -> None:
    with pytest.raises(PacketError, match=reason):
        decode_battery(bytes.fromhex(octets))


@pytest.mark.parametrize(
    ("octets", "text", "ignored"),
    [
        ("4d 6f 76 65 73 65 6e 73 65", "Movesense", Ignored()),
        ("53 75 75 6e 74 6f 00", "Suunto", Ignored(extra_octets=1)),
        ("32 2e 30 00 00 00", "2.0", Ignored(extra_octets=3)),
        ("", "", Ignored()),
        ("c3 a9 74 c3 a9", "été", Ignored()),
        ("41 ff 42", "A\ufffdB", Ignored(reserved_values=1)),
    ],
)
def test_device_information_string_golden(octets: str, text: str, ignored: Ignored) -> None:
    s = decode_dis_string(bytes.fromhex(octets))
    assert s.text == text and s.ignored == ignored


# -- Movesense GATT SensorData Protocol (reference sample and client) -------------------------
@pytest.mark.parametrize(
    ("octets", "ref", "status", "text", "ok"),
    [
        ("01 05 01 fb", 5, 507, None, False),  # the sample's "no free subscription slot"
        ("01 63 48 65 6c 6c 6f", 99, None, "Hello", True),  # its HELLO reply
        ("01 07 c8", 7, 200, None, True),  # its one-octet INIT_OFFLINE reply
        ("01 07 00 c8", 7, 200, None, True),
        ("01 07 01 94", 7, 404, None, False),
        ("01 07 01 94 00", 7, 404, None, False),
    ],
)
def test_gsp_command_result_golden(
    octets: str, ref: int, status: int | None, text: str | None, ok: bool
) -> None:
    r = gsp.decode_result(bytes.fromhex(octets))
    assert (r.ref, r.status, r.text, r.ok) == (ref, status, text, ok)


# One IMU6 sample: timestamp 1000 ms, acc (1, -2, 0.5) m/s^2, gyro (90, 0, -180) deg/s.
IMU6_ONE = (
    "e8 03 00 00"
    + " 00 00 80 3f  00 00 00 c0  00 00 00 3f"
    + " 00 00 b4 42  00 00 00 00  00 00 34 c3"
)


def _check_one(out: list) -> None:
    (data,) = out
    assert not isinstance(data, PacketError)
    assert data.timestamp_ms == 1000 and len(data) == 1
    np.testing.assert_array_equal(data.acc_mps2, [[1.0, -2.0, 0.5]])
    np.testing.assert_allclose(data.gyr_radps, [[math.pi / 2, 0.0, -math.pi]], rtol=1e-7)


def test_gsp_imu6_data_in_one_notification() -> None:
    r = gsp.GspReassembler(99, lambda: 158)
    _check_one(r.feed(bytes.fromhex("02 63" + IMU6_ONE)))


def test_gsp_imu6_data_in_three_parts() -> None:
    # Split as a sensor with 12-octet notifications does: DATA, DATA_PART2, DATA_PART3.
    payload = bytes.fromhex(IMU6_ONE)
    parts = [b"\x02\x63" + payload[:10], b"\x03\x63" + payload[10:20], b"\x04\x63" + payload[20:]]
    r = gsp.GspReassembler(99, lambda: 12)
    assert r.feed(parts[0]) == [] and r.feed(parts[1]) == []
    _check_one(r.feed(parts[2]))


def test_gsp_full_last_part_completes_when_the_next_data_begins() -> None:
    payload = bytes.fromhex(IMU6_ONE)  # 28 octets: 2 parts of 14 fill 16-octet notifications
    r = gsp.GspReassembler(99, lambda: 16)
    assert r.feed(b"\x02\x63" + payload[:14]) == []
    assert r.feed(b"\x03\x63" + payload[14:]) == []
    out = r.feed(b"\x02\x63" + payload[:14])
    _check_one(out)


def test_gsp_liberal_and_refusals() -> None:
    r = gsp.GspReassembler(99, lambda: 158)
    assert r.feed(b"\x05\x63abc") == []  # a response type the reference does not define
    assert r.feed(b"\x02\x07" + bytes.fromhex(IMU6_ONE)) == []  # another subscription's data
    assert (r.stats.unknown_types, r.stats.other_refs) == (1, 1)
    (err,) = r.feed(b"\x03\x63" + b"\x00" * 10)
    assert isinstance(err, PacketError) and "part 2 after part 0" in str(err)
    (err,) = r.feed(b"\x02")
    assert isinstance(err, PacketError) and "truncated" in str(err)
    (err,) = r.feed(b"\x01\x63")
    assert isinstance(err, PacketError) and "command result truncated" in str(err)
    (err,) = r.feed(b"\x02\x63" + bytes.fromhex(IMU6_ONE)[:-1])
    assert isinstance(err, PacketError) and "not 4 + n x 24" in str(err)
    assert r.feed(b"\x01\x63\x01\xfb") == [] and r.stats.results[-1].status == 507
    assert r.stats.result_count == 1  # the truncated one is refused, not counted


@pytest.mark.filterwarnings("error")
def test_gsp_signalling_nan_is_refused_with_packet_error_only() -> None:
    """A float32 signalling NaN (7fa00000) warned 'invalid value encountered in cast' while
    being widened, an exception where warnings are errors, before the finiteness check."""
    payload = (5).to_bytes(4, "little") + bytes.fromhex("0000a07f") * 6
    with pytest.raises(PacketError, match="non-finite"):
        gsp.decode_imu6_payload(99, payload)


def test_gsp_results_are_bounded_and_all_counted() -> None:
    """A sensor may answer with any number of COMMAND_RESULTs over a connection: the latest
    RESULTS_KEPT are kept (every one once was, for the whole connection), all are counted,
    and the link still gets each new one, a refusal after thousands included."""
    ms = MovesenseTracker(ImuTracker(Foot.LEFT), 99, 208)
    n = 10 * gsp.RESULTS_KEPT
    for k in range(n):
        assert ms.push(b"\x01\x55\x00" + bytes([200 + k % 7]), 0.0) == []
        (new,) = ms.new_results()
        assert (new.ref, new.status) == (0x55, 200 + k % 7)
        assert ms.new_results() == []
    stats = ms.gsp.stats
    assert len(stats.results) == gsp.RESULTS_KEPT and stats.result_count == n
    assert [r.status for r in stats.results] == [200 + k % 7 for k in range(n)][
        -len(stats.results) :
    ]
    ms.push(b"\x01\x63\x01\xfb", 0.0)
    (refused,) = ms.new_results()
    assert (refused.ref, refused.status, refused.ok) == (99, 507, False)
    # Read late, after more results than are kept: the latest kept ones.
    for k in range(gsp.RESULTS_KEPT + 5):
        ms.push(b"\x01\x63\x00" + bytes([k]), 0.0)
    late = ms.new_results()
    assert [r.status for r in late] == list(range(5, gsp.RESULTS_KEPT + 5))
    assert ms.new_results() == [] and stats.result_count == n + 1 + gsp.RESULTS_KEPT + 5
