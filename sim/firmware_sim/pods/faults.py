"""Fault injection for virtual pods: packet loss (random and bursts), malformed packets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from gaitcoach.footpod.codec import ImuFormat
from gaitcoach.footpod.profile import RATES_HZ

MALFORMED_KINDS = (
    "truncated",
    "oversized",
    "garbage",
    "duplicate",
    "badformat",
    "otherformat",
    "empty",
)
FORMAT_OCTET = 6
"""Offset of a footpod data packet's format code (after u16 seq, u32 t_first_us)."""


@dataclass(slots=True)
class LossModel:
    """Gilbert-style loss: each packet is lost with ``p``; a burst of ``burst_len`` packets
    starts with ``burst_p``."""

    p: float = 0.0
    burst_p: float = 0.0
    burst_len: int = 0
    _burst_left: int = 0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def __post_init__(self) -> None:
        if not (0 <= self.p <= 1 and 0 <= self.burst_p <= 1 and self.burst_len >= 0):
            raise ValueError("loss: 0 <= p, burst_p <= 1 and burst_len >= 0 required")

    def lose(self) -> bool:
        if self._burst_left > 0:
            self._burst_left -= 1
            return True
        if self.burst_p and self.burst_len and self.rng.random() < self.burst_p:
            self._burst_left = self.burst_len - 1
            return True
        return bool(self.p and self.rng.random() < self.p)


def malformed(kind: str, good: bytes, rng: np.random.Generator) -> bytes:
    """A malformed variant of a valid data packet ``good``. ``otherformat`` is ``good`` with a
    valid format code of another rate (a format the client did not configure)."""
    if kind == "truncated":
        return good[: max(1, len(good) - 1 - int(rng.integers(0, len(good) - 1)))]
    if kind == "oversized":
        return good + bytes(rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8))
    if kind == "garbage":
        return bytes(rng.integers(0, 256, int(rng.integers(1, 60)), dtype=np.uint8))
    if kind == "duplicate":
        return good
    if kind == "badformat":
        return good[:FORMAT_OCTET] + b"\xff" + good[FORMAT_OCTET + 1 :]
    if kind == "otherformat":
        fmt = ImuFormat.from_code(good[FORMAT_OCTET])
        rate = RATES_HZ[(RATES_HZ.index(fmt.rate_hz) + 1) % len(RATES_HZ)]
        other = replace(fmt, rate_hz=rate).code
        return good[:FORMAT_OCTET] + bytes([other]) + good[FORMAT_OCTET + 1 :]
    if kind == "empty":
        return b""
    raise ValueError(f"unknown malformed kind {kind!r} (allowed: {', '.join(MALFORMED_KINDS)})")
