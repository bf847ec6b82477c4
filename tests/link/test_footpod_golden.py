"""Golden vectors of the gaitcoach footpod profile (docs/footpod-profile.md): octets written
by hand from the documented layout, with the values they mean. Neither the client's nor the
pods' encoder is involved (test_receivers.py does the same for RSC, battery, DIS and
Movesense)."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
)
from gaitcoach.types import Foot

# seq 0x0102, t_first_us 1 000 000, fmt 0x4d = 208 Hz (code 1) | 16 g (3 << 2) | 2000 dps
# (4 << 4), n = 2, then two samples of six int16.
IMU_PACKET = (
    "02 01  40 42 0f 00  4d  02"
    "  01 00 ff ff 00 08 00 00 ff 7f 00 80"
    "  00 00 00 00 00 f8 0a 00 f6 ff 00 00"
)


def test_imu_packet() -> None:
    pkt = decode_imu_packet(bytes.fromhex(IMU_PACKET))
    assert (pkt.seq, pkt.t_first_us, len(pkt)) == (0x0102, 1_000_000, 2)
    assert pkt.fmt == ImuFormat(208, 16, 2000)
    np.testing.assert_array_equal(
        pkt.counts, [[1, -1, 2048, 0, 32767, -32768], [0, 0, -2048, 10, -10, 0]]
    )
    # The scales: 16 g and 2000 dps over 32768 counts.
    assert pkt.fmt.acc_lsb_mps2 == pytest.approx(16 * 9.80665 / 32768)
    assert pkt.fmt.gyr_lsb_radps == pytest.approx(2000 * math.pi / 180 / 32768)
    # 2048 counts at 16 g are 1 g.
    assert 2048 * pkt.fmt.acc_lsb_mps2 == pytest.approx(9.80665)


@pytest.mark.parametrize(
    ("code", "fmt"),
    [
        ("00", ImuFormat(104, 2, 125)),
        ("4d", ImuFormat(208, 16, 2000)),
        ("26", ImuFormat(416, 4, 500)),
        ("39", ImuFormat(208, 8, 1000)),
    ],
)
def test_format_codes(code: str, fmt: ImuFormat) -> None:
    packet = bytes.fromhex(f"00 00 00 00 00 00 {code} 01" + " 00" * 12)
    assert decode_imu_packet(packet).fmt == fmt


@pytest.mark.parametrize(
    ("octets", "why"),
    [
        ("02 01 40 42 0f 00 4d 00" + " 00" * 12, "zero samples"),
        ("02 01 40 42 0f 00 4d 02" + " 00" * 12, "does not match 2 samples"),
        ("02 01 40 42 0f 00 cd 01" + " 00" * 12, "unknown sample format code 0xcd"),
        ("02 01 40 42 0f 00 03 01" + " 00" * 12, "unknown sample format code 0x03"),
        ("02 01 40 42 0f 00 4d", "too short"),
    ],
)
def test_bad_imu_packets_are_refused(octets: str, why: str) -> None:
    with pytest.raises(PacketError, match=why):
        decode_imu_packet(bytes.fromhex(octets))


def test_format_characteristic() -> None:
    # u8 version 1, u8 fmt 0x4d, u16 rate 208, f32 acc_lsb, f32 gyr_lsb (IEEE 754 LE):
    # 16 * 9.80665 / 32768 = 0.0047884 -> 0x3b9ce80a; 2000 deg/s -> 0.0010653 -> 0x3a8ba058
    info = decode_format(bytes.fromhex("01 4d d0 00 0a e8 9c 3b 58 a0 8b 3a"))
    assert (info.version, info.fmt) == (1, ImuFormat(208, 16, 2000))
    with pytest.raises(PacketError, match="says 208 Hz, rate field says 104 Hz"):
        decode_format(bytes.fromhex("01 4d 68 00 0a e8 9c 3b 58 a0 8b 3a"))
    with pytest.raises(PacketError, match="version 2"):
        decode_format(bytes.fromhex("02 4d d0 00 0a e8 9c 3b 58 a0 8b 3a"))


@pytest.mark.parametrize(
    ("octets", "foot"), [("00", Foot.UNKNOWN), ("01", Foot.LEFT), ("02", Foot.RIGHT)]
)
def test_side(octets: str, foot: Foot) -> None:
    assert decode_side(bytes.fromhex(octets)) is foot


def test_side_out_of_range() -> None:
    with pytest.raises(PacketError):
        decode_side(bytes.fromhex("03"))


def test_advertised_service_data() -> None:
    # u8 side (2 right), u8 battery 87 %, u8 protocol version 1
    assert decode_adv(bytes.fromhex("02 57 01")) == AdvInfo(Foot.RIGHT, 87, 1)
    with pytest.raises(PacketError, match="out of range"):
        decode_adv(bytes.fromhex("01 65 01"))  # 101 %


def test_control_point_writes() -> None:
    assert encode_control(ControlCommand(ControlOp.START)) == bytes.fromhex("01")
    assert encode_control(ControlCommand(ControlOp.STOP)) == bytes.fromhex("02")
    # The documented example: 208 Hz, 16 g, 2000 dps.
    configure = ControlCommand(ControlOp.CONFIGURE, ImuFormat(208, 16, 2000))
    assert encode_control(configure) == bytes.fromhex("03 d0 00 10 d0 07")
