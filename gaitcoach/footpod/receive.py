"""What a liberal receiver skipped, and per-characteristic counters of it.

Receivers follow "strict in what you send, liberal in what you accept": bits that a
specification reserves for future use and octets after the fields a value declares are
ignored (a newer device may send them) but counted, so an odd device shows up in the pod's
status; only a value too short for the fields it declares is refused, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ignored:
    """What one decoded value carried that the receiver skipped."""

    reserved_bits: int = 0
    """Reserved-for-future-use bits that were set (a mask over the value's flag field)."""
    extra_octets: int = 0
    """Octets after the last field the value declares."""
    reserved_values: int = 0
    """Fields holding a value the specification reserves (read as 'unknown')."""

    def __bool__(self) -> bool:
        return bool(self.reserved_bits or self.extra_octets or self.reserved_values)


NOTHING_IGNORED = Ignored()


@dataclass(slots=True)
class ReceiveCounters:
    """Running totals for one characteristic of one pod."""

    values: int = 0
    """Values decoded (with or without something ignored)."""
    refused: int = 0
    """Values refused (truncated or not decodable); ``last_refused`` says why."""
    reserved_bits: int = 0
    """Values with reserved bits set."""
    extra_octets: int = 0
    """Octets ignored after the declared fields, summed over all values."""
    reserved_values: int = 0
    """Fields with a reserved value, summed over all values."""
    last_refused: str = ""

    def accept(self, ignored: Ignored) -> None:
        self.values += 1
        self.reserved_bits += 1 if ignored.reserved_bits else 0
        self.extra_octets += ignored.extra_octets
        self.reserved_values += ignored.reserved_values

    def refuse(self, reason: Exception | str) -> None:
        self.refused += 1
        self.last_refused = str(reason)
