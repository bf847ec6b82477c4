"""Movesense GATT Sensor Data Protocol (GSP) codec, for ``/Meas/IMU6/<rate>``.

What is verified and what is inferred is in docs/movesense.md. Commands (written to
``34800001-...``): ``[0x00 HELLO, ref]``, ``[0x01 SUBSCRIBE, ref, path ASCII]``,
``[0x02 UNSUBSCRIBE, ref]``. Notifications (``34800002-...``): ``[0x01 COMMAND_RESULT, ref,
u16 status]``, ``[0x02 DATA, ref, payload]`` and ``[0x03 DATA_PART2, ref, rest of payload]``
when a payload does not fit one notification. An IMU6 payload is ``u32 timestamp_ms`` then
``n x float32[3]`` acceleration (m/s^2) then ``n x float32[3]`` angular rate (deg/s).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from gaitcoach.footpod.codec import PacketError
from gaitcoach.footpod.profile import DEG_TO_RAD


class GspCommand(IntEnum):
    HELLO = 0x00
    SUBSCRIBE = 0x01
    UNSUBSCRIBE = 0x02


class GspResponse(IntEnum):
    COMMAND_RESULT = 0x01
    DATA = 0x02
    DATA_PART2 = 0x03


IMU6_RATES_HZ: tuple[int, ...] = (13, 26, 52, 104, 208, 416, 833, 1666)
_IMU6_PATH = re.compile(r"^/Meas/IMU6/(\d+)$")
MAX_PATH_BYTES = 200


@dataclass(frozen=True, slots=True)
class GspRequest:
    command: GspCommand
    ref: int
    path: str = ""


def encode_request(req: GspRequest) -> bytes:
    body = bytes([req.command, req.ref & 0xFF])
    if req.command is GspCommand.SUBSCRIBE:
        body += req.path.encode("ascii")
    return body


def decode_request(data: bytes | bytearray) -> GspRequest:
    raw = bytes(data)
    if len(raw) < 2:
        raise PacketError(f"GSP command too short: {len(raw)} bytes")
    try:
        cmd = GspCommand(raw[0])
    except ValueError:
        raise PacketError(f"unknown GSP command 0x{raw[0]:02x}") from None
    if cmd is GspCommand.SUBSCRIBE:
        if len(raw) < 3 or len(raw) > 2 + MAX_PATH_BYTES:
            raise PacketError("GSP SUBSCRIBE needs a resource path")
        try:
            path = raw[2:].decode("ascii")
        except UnicodeDecodeError:
            raise PacketError("GSP resource path is not ASCII") from None
        return GspRequest(cmd, raw[1], path)
    if len(raw) != 2:
        raise PacketError(f"GSP {cmd.name} takes only a reference byte")
    return GspRequest(cmd, raw[1])


def imu6_path(rate_hz: int) -> str:
    if rate_hz not in IMU6_RATES_HZ:
        raise ValueError(f"Movesense IMU6 rate {rate_hz} Hz not in {IMU6_RATES_HZ}")
    return f"/Meas/IMU6/{rate_hz}"


def parse_imu6_path(path: str) -> int:
    """Rate of an ``/Meas/IMU6/<rate>`` path (raises :class:`PacketError`)."""
    m = _IMU6_PATH.match(path)
    if m is None or int(m.group(1)) not in IMU6_RATES_HZ:
        raise PacketError(f"unsupported Movesense resource {path!r}")
    return int(m.group(1))


def encode_result(ref: int, status: int) -> bytes:
    return struct.pack("<BBH", GspResponse.COMMAND_RESULT, ref & 0xFF, status)


@dataclass(frozen=True, slots=True)
class Imu6Data:
    """One IMU6 notification payload: ``n`` samples starting at ``timestamp_ms``."""

    ref: int
    timestamp_ms: int
    acc_mps2: npt.NDArray[np.float64]
    gyr_radps: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.acc_mps2.shape[0])


SAMPLE_PAIR_BYTES = 24
"""One acc sample (3 x float32) plus one gyro sample (3 x float32)."""


def encode_imu6(
    ref: int, timestamp_ms: int, acc_mps2: npt.ArrayLike, gyr_dps: npt.ArrayLike, mtu: int
) -> list[bytes]:
    """IMU6 data as one DATA notification, plus a DATA_PART2 when it exceeds ``mtu - 3``."""
    acc = np.asarray(acc_mps2, dtype="<f4").reshape(-1, 3)
    gyr = np.asarray(gyr_dps, dtype="<f4").reshape(-1, 3)
    if acc.shape != gyr.shape or acc.shape[0] == 0:
        raise ValueError("acc and gyr need the same non-zero number of samples")
    payload = struct.pack("<I", timestamp_ms % (1 << 32)) + acc.tobytes() + gyr.tobytes()
    room = mtu - 3 - 2
    if len(payload) <= room:
        return [bytes([GspResponse.DATA, ref]) + payload]
    if (room - 4) % SAMPLE_PAIR_BYTES == 0:
        # A first part that looks complete would be decoded on its own: split one byte earlier.
        room -= 1
    if len(payload) > 2 * room:
        raise ValueError(f"{acc.shape[0]} samples do not fit two notifications at MTU {mtu}")
    return [
        bytes([GspResponse.DATA, ref]) + payload[:room],
        bytes([GspResponse.DATA_PART2, ref]) + payload[room:],
    ]


def decode_imu6_payload(ref: int, payload: bytes) -> Imu6Data:
    if len(payload) < 4 + SAMPLE_PAIR_BYTES or (len(payload) - 4) % SAMPLE_PAIR_BYTES:
        raise PacketError(f"IMU6 payload of {len(payload)} bytes is not 4 + n x 24")
    n = (len(payload) - 4) // SAMPLE_PAIR_BYTES
    ts = struct.unpack_from("<I", payload)[0]
    values = np.frombuffer(payload, dtype="<f4", offset=4).astype(np.float64)
    acc = values[: 3 * n].reshape(n, 3)
    gyr = values[3 * n :].reshape(n, 3) * DEG_TO_RAD
    if not (np.isfinite(acc).all() and np.isfinite(gyr).all()):
        raise PacketError("IMU6 payload contains non-finite values")
    return Imu6Data(ref, ts, acc, gyr)


class GspReassembler:
    """Joins DATA + DATA_PART2 notifications into IMU6 payloads for one subscription.

    ``feed`` returns a decoded payload when one is complete, ``None`` while waiting for a
    second part, and raises :class:`PacketError` for anything malformed (a pending first part
    is then discarded, so one bad notification never poisons the next).
    """

    def __init__(self, ref: int) -> None:
        self.ref = ref
        self._pending: bytes | None = None

    def feed(self, data: bytes | bytearray) -> Imu6Data | None:
        raw = bytes(data)
        if len(raw) < 2:
            self._pending = None
            raise PacketError(f"GSP notification too short: {len(raw)} bytes")
        kind, ref = raw[0], raw[1]
        if kind == GspResponse.COMMAND_RESULT:
            if len(raw) != 4:
                raise PacketError("GSP command result must be 4 bytes")
            status = struct.unpack_from("<H", raw, 2)[0]
            if status >= 300:
                raise PacketError(f"Movesense refused the command: status {status}")
            return None
        if ref != self.ref:
            self._pending = None
            raise PacketError(f"GSP data for reference {ref}, subscribed as {self.ref}")
        if kind == GspResponse.DATA:
            payload = raw[2:]
            if len(payload) < 4:
                self._pending = None
                raise PacketError("GSP DATA without a timestamp")
            if (len(payload) - 4) % SAMPLE_PAIR_BYTES == 0:
                self._pending = None
                return decode_imu6_payload(ref, payload)
            self._pending = payload
            return None
        if kind == GspResponse.DATA_PART2:
            if self._pending is None:
                raise PacketError("GSP DATA_PART2 without a first part")
            payload, self._pending = self._pending + raw[2:], None
            return decode_imu6_payload(ref, payload)
        self._pending = None
        raise PacketError(f"unknown GSP notification type 0x{kind:02x}")
