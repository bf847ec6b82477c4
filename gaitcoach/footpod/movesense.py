"""Movesense GATT SensorData Protocol (GSP): the client's side (docs/movesense.md).

Layout as documented by the Movesense reference (the ``gatt_sensordata_app`` sample and its
Python client): commands written to ``34800001-...`` are ``[command, reference, data]`` with
HELLO = 0, SUBSCRIBE = 1 (data: the resource path as text), UNSUBSCRIBE = 2. Notifications on
``34800002-...`` are ``[response, reference, data]``:

- COMMAND_RESULT = 1: data is a 2-octet HTTP-like status, most significant octet first
  (the sample answers "no free subscription slot" with ``01 fb`` = 507); HELLO is answered
  with the text ``Hello`` instead.
- DATA = 2: the start of a subscription's payload; DATA_PART2 = 3 and DATA_PART3 = 4 carry
  its continuation when it does not fit one notification (each with its own 2-octet header,
  the data appended to the part before).

An ``/Meas/IMU6/<rate>`` payload is ``u32 timestamp (ms)``, then ``n x float32[3]``
acceleration (m/s^2), then ``n x float32[3]`` angular rate (deg/s), little-endian.

The pods' side (command decoder, payload encoders, splitting into parts) is
``firmware_sim.pods.wire``.
"""

from __future__ import annotations

import re
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from gaitcoach.footpod.codec import PacketError
from gaitcoach.footpod.profile import DEG_TO_RAD
from gaitcoach.footpod.receive import NOTHING_IGNORED, Ignored


class GspCommand(IntEnum):
    HELLO = 0x00
    SUBSCRIBE = 0x01
    UNSUBSCRIBE = 0x02


class GspResponse(IntEnum):
    COMMAND_RESULT = 0x01
    DATA = 0x02
    DATA_PART2 = 0x03
    DATA_PART3 = 0x04


PART_NUMBER: dict[int, int] = {
    GspResponse.DATA: 1,
    GspResponse.DATA_PART2: 2,
    GspResponse.DATA_PART3: 3,
}
LAST_PART = 3
"""The reference defines parts up to DATA_PART3."""

IMU6_RATES_HZ: tuple[int, ...] = (13, 26, 52, 104, 208, 416, 833, 1666)
_IMU6_PATH = re.compile(r"^/Meas/IMU6/(\d+)$")

SAMPLE_PAIR_BYTES = 24
"""One acc sample (3 x float32) plus one gyro sample (3 x float32)."""
RESULTS_KEPT = 32
"""COMMAND_RESULTs a connection's :class:`GspStats` keeps (the latest; all are counted)."""


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


@dataclass(frozen=True, slots=True)
class GspResult:
    """A COMMAND_RESULT: an HTTP-like ``status``, or the ``text`` of a HELLO reply."""

    ref: int
    status: int | None
    text: str | None = None
    ignored: Ignored = field(default=NOTHING_IGNORED, compare=False)

    @property
    def ok(self) -> bool:
        return self.status is None or self.status < 300


def decode_result(data: bytes | bytearray | memoryview) -> GspResult:
    """A COMMAND_RESULT notification (raises :class:`PacketError` when truncated)."""
    raw = bytes(data)
    if len(raw) < 3:
        raise PacketError(f"GSP command result truncated: {len(raw)} octets, at least 3 needed")
    ref, body = raw[1], raw[2:]
    if body.isascii() and body.isalpha():
        return GspResult(ref, None, body.decode("ascii"))  # HELLO's "Hello"
    if len(body) == 1:
        return GspResult(ref, body[0])  # a one-octet status (the sample's INIT_OFFLINE reply)
    status = int.from_bytes(body[:2], "big")
    return GspResult(ref, status, ignored=Ignored(extra_octets=len(body) - 2))


@dataclass(frozen=True, slots=True)
class Imu6Data:
    """One IMU6 payload: ``n`` samples starting at ``timestamp_ms``."""

    ref: int
    timestamp_ms: int
    acc_mps2: npt.NDArray[np.float64]
    gyr_radps: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.acc_mps2.shape[0])


def decode_imu6_payload(ref: int, payload: bytes) -> Imu6Data:
    if len(payload) < 4 + SAMPLE_PAIR_BYTES or (len(payload) - 4) % SAMPLE_PAIR_BYTES:
        raise PacketError(f"IMU6 payload of {len(payload)} octets is not 4 + n x 24")
    n = (len(payload) - 4) // SAMPLE_PAIR_BYTES
    ts = struct.unpack_from("<I", payload)[0]
    raw = np.frombuffer(payload, dtype="<f4", offset=4)
    # Checked before the cast: casting a signalling NaN warns ('invalid value'), which is an
    # exception where warnings are errors; the decoder raises PacketError and nothing else.
    if not np.isfinite(raw).all():
        raise PacketError("IMU6 payload contains non-finite values")
    values = raw.astype(np.float64)
    acc = values[: 3 * n].reshape(n, 3)
    gyr = values[3 * n :].reshape(n, 3) * DEG_TO_RAD
    return Imu6Data(ref, ts, acc, gyr)


def _complete_length(n_octets: int) -> bool:
    return n_octets >= 4 + SAMPLE_PAIR_BYTES and (n_octets - 4) % SAMPLE_PAIR_BYTES == 0


@dataclass(slots=True)
class GspStats:
    """What the reassembler saw besides data (for the pod's status)."""

    results: deque[GspResult] = field(default_factory=lambda: deque(maxlen=RESULTS_KEPT))
    """The latest :data:`RESULTS_KEPT` COMMAND_RESULTs (a sensor may send any number)."""
    result_count: int = 0
    """COMMAND_RESULTs decoded in all, those no longer kept included."""
    other_refs: int = 0
    """DATA for a reference we did not subscribe with (ignored)."""
    unknown_types: int = 0
    """Notifications of a response type the reference does not define (ignored)."""


class GspReassembler:
    """Joins DATA + DATA_PART2 + DATA_PART3 notifications into IMU6 payloads.

    A payload is complete when a part shorter than a full notification arrives (the sender
    continues a payload only after a full one), when the third part arrives, or when the
    next DATA begins. ``capacity`` gives the largest notification (ATT MTU - 3) when known;
    without it a valid ``4 + n x 24`` length completes the payload.

    :meth:`feed` returns the payloads completed by a notification and the
    :class:`PacketError` of any that was malformed (a broken payload is dropped whole, so it
    never poisons the next).
    """

    def __init__(self, ref: int, capacity: Callable[[], int | None] | None = None) -> None:
        self.ref = ref
        self.capacity = capacity or (lambda: None)
        self.stats = GspStats()
        self._pending: bytearray | None = None
        self._part = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[Imu6Data | PacketError]:
        raw = bytes(data)
        if len(raw) < 2:
            return [PacketError(f"GSP notification truncated: {len(raw)} octets, 2 needed")]
        kind, ref = raw[0], raw[1]
        if kind == GspResponse.COMMAND_RESULT:
            try:
                self.stats.results.append(decode_result(raw))
            except PacketError as exc:
                return [exc]
            self.stats.result_count += 1
            return []
        part = PART_NUMBER.get(kind)
        if part is None:
            self.stats.unknown_types += 1
            return []
        if ref != self.ref:
            self.stats.other_refs += 1
            return []
        out: list[Imu6Data | PacketError] = []
        if part == 1:
            out += self._flush()
            self._pending, self._part = bytearray(raw[2:]), 1
        else:
            if self._pending is None or part != self._part + 1:
                had = self._part if self._pending is not None else 0
                self._pending, self._part = None, 0
                return [PacketError(f"GSP data part {part} after part {had}")]
            self._pending += raw[2:]
            self._part = part
        cap = self.capacity()
        pending = self._pending
        assert pending is not None
        # The sender continues a payload only after a full notification.
        done = len(raw) < cap if cap is not None else _complete_length(len(pending))
        if done or part == LAST_PART:
            out += self._flush()
        return out

    def _flush(self) -> list[Imu6Data | PacketError]:
        if self._pending is None:
            return []
        payload, self._pending, self._part = bytes(self._pending), None, 0
        if len(payload) < 4:
            return [PacketError("GSP DATA without a timestamp")]
        try:
            return [decode_imu6_payload(self.ref, payload)]
        except PacketError as exc:
            return [exc]
