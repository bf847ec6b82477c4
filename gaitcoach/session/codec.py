"""Compact, lossless encoding of raw IMU chunks for the session store (pure, no I/O).

A chunk is stored as three compressed blocks: timestamps, accelerometer, gyroscope.

* Timestamps: the float64 bit patterns, delta-of-delta coded as int64 (a regular clock gives
  near-zero second differences), byte-shuffled and zlib-compressed. Exact to the last bit.
* Samples: int16 counts times a per-chunk scale (the pod's LSB) when that reproduces every
  float64 value *exactly*; otherwise float32 when exact, else float64. Counts are first-order
  delta coded (wrapping int16), byte-shuffled and compressed.

Exactness is what lets ``gaitcoach replay`` reproduce the live stride records bit for bit.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gaitcoach.footpod.profile import ACC_RANGES_G, GYR_RANGES_DPS, acc_lsb_mps2, gyr_lsb_radps
from gaitcoach.types import FloatArray

ENC_COUNTS = "i16"
ENC_F32 = "f32"
ENC_F64 = "f64"
_ZLEVEL = 6


class CodecError(ValueError):
    """A stored chunk cannot be decoded (corrupt or truncated payload)."""


@dataclass(frozen=True, slots=True)
class EncodedBlock:
    """One encoded (n, 3) sample block: its encoding, scale (for counts) and bytes."""

    encoding: str
    scale: float
    payload: bytes


def _shuffle(a: npt.NDArray[np.generic]) -> bytes:
    # Byte shuffle: group the k-th byte of every value together; the high bytes of slowly
    # varying values are then long runs that zlib compresses well.
    raw = np.ascontiguousarray(a).view(np.uint8).reshape(-1, a.dtype.itemsize)
    return zlib.compress(np.ascontiguousarray(raw.T).tobytes(), _ZLEVEL)


def _unshuffle(payload: bytes, dtype: npt.DTypeLike, count: int) -> npt.NDArray[np.generic]:
    dt = np.dtype(dtype)
    expected = dt.itemsize * count
    # Never inflate more than the block can hold (plus one byte to tell "too long"): a
    # corrupt or hostile payload of a few hundred kB can inflate to gigabytes.
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload, expected + 1)
    except zlib.error as exc:
        raise CodecError(f"corrupt chunk payload: {exc}") from exc
    if len(raw) > expected:
        raise CodecError(f"chunk payload inflates to more than the expected {expected} bytes")
    if not inflater.eof:
        raise CodecError("corrupt chunk payload: incomplete or truncated stream")
    if len(raw) != expected:
        raise CodecError(f"chunk payload has {len(raw)} bytes, expected {expected}")
    grid = np.frombuffer(raw, dtype=np.uint8).reshape(dt.itemsize, count)
    return np.ascontiguousarray(grid.T).view(dt).reshape(count)


def encode_times(t_s: FloatArray) -> bytes:
    """Lossless encoding of float64 timestamps."""
    bits = np.ascontiguousarray(t_s, dtype=np.float64).view(np.int64)
    with np.errstate(over="ignore"):
        coded = np.diff(bits, n=1, prepend=np.int64(0))
        coded[2:] = np.diff(coded[1:])
    return _shuffle(coded)


def decode_times(payload: bytes, n: int) -> FloatArray:
    coded = _unshuffle(payload, np.int64, n).astype(np.int64)
    with np.errstate(over="ignore"):
        if n > 2:
            coded[1:] = np.cumsum(coded[1:], dtype=np.int64)
        bits = np.cumsum(coded, dtype=np.int64)
    return bits.view(np.float64)


def _exact_counts(values: FloatArray, scale: float) -> npt.NDArray[np.int16] | None:
    if not np.isfinite(scale) or scale <= 0 or not np.all(np.isfinite(values)):
        return None
    counts = np.round(values / scale)
    if counts.size and (counts.min() < -32768 or counts.max() > 32767):
        return None
    c16 = counts.astype(np.int16)
    if not np.array_equal(c16.astype(np.float64) * scale, values):
        return None
    return c16


def infer_scale(values: FloatArray) -> float | None:
    """Guess the LSB of values that are integer counts times one scale, else ``None``.

    The smallest step between distinct values is the LSB or a small multiple of it (few
    samples rarely show two values one count apart); each divisor of it, refined on the largest
    value, is tried until one reproduces every value exactly.
    """
    finite = values[np.isfinite(values)]
    uniq = np.unique(np.abs(finite))
    uniq = uniq[uniq > 0]
    if uniq.size < 2:
        return float(uniq[0]) if uniq.size == 1 else None
    step = min(float(np.min(np.diff(uniq))), float(uniq[0]))
    if step <= 0:
        return None
    top = float(uniq[-1])
    for divisor in range(1, 17):
        k = round(top / (step / divisor))
        if k > 0 and _exact_counts(finite, top / k) is not None:
            return top / k
    return None


# The footpod profile's LSBs: tried before inference, which cannot find the LSB of a short
# block whose values lie many counts apart.
PROFILE_LSBS = tuple(acc_lsb_mps2(r) for r in ACC_RANGES_G) + tuple(
    gyr_lsb_radps(r) for r in GYR_RANGES_DPS
)


def _scale_candidates(values: FloatArray, scale: float | None) -> Iterator[float | None]:
    yield scale
    yield from PROFILE_LSBS
    # Inference is the costly step: only reached when nothing cheaper fits.
    yield infer_scale(values) if values.size else None


def encode_samples(values: FloatArray, scale: float | None = None) -> EncodedBlock:
    """Encode an (n, 3) float64 block losslessly, as int16 counts when a scale fits: the given
    one, one of the footpod profile's, or one inferred from the values."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    for candidate in _scale_candidates(values, scale):
        if candidate is None:
            continue
        counts = _exact_counts(values, candidate)
        if counts is not None:
            with np.errstate(over="ignore"):
                delta = np.diff(counts, axis=0, prepend=np.zeros((1, 3), np.int16))
            return EncodedBlock(ENC_COUNTS, float(candidate), _shuffle(delta.astype(np.int16)))
    f32 = values.astype(np.float32)
    if np.array_equal(f32.astype(np.float64), values, equal_nan=True):
        return EncodedBlock(ENC_F32, 1.0, _shuffle(f32))
    return EncodedBlock(ENC_F64, 1.0, _shuffle(values))


def decode_samples(block: EncodedBlock, n: int) -> FloatArray:
    if block.encoding == ENC_COUNTS:
        if not (block.scale > 0 and np.isfinite(block.scale)):
            # A stored scale of 0 would turn every sample into 0 without a word.
            raise CodecError(f"sample scale {block.scale!r} is not a positive number")
        delta = _unshuffle(block.payload, np.int16, 3 * n).reshape(n, 3)
        counts = np.cumsum(delta, axis=0, dtype=np.int16)
        return counts.astype(np.float64) * block.scale
    if block.encoding == ENC_F32:
        return _unshuffle(block.payload, np.float32, 3 * n).reshape(n, 3).astype(np.float64)
    if block.encoding == ENC_F64:
        return _unshuffle(block.payload, np.float64, 3 * n).reshape(n, 3).astype(np.float64)
    raise CodecError(f"unknown sample encoding {block.encoding!r}")


_HEADER = struct.Struct("<4sI")
_MAGIC = b"GCK1"


def pack_blocks(times: bytes, acc: EncodedBlock, gyr: EncodedBlock) -> bytes:
    """One payload for a chunk: header, then three length-prefixed blocks."""
    parts = [_HEADER.pack(_MAGIC, zlib.crc32(times + acc.payload + gyr.payload))]
    for blob in (times, acc.payload, gyr.payload):
        parts.append(struct.pack("<I", len(blob)))
        parts.append(blob)
    return b"".join(parts)


def unpack_blocks(payload: bytes) -> tuple[bytes, bytes, bytes]:
    if len(payload) < _HEADER.size or payload[:4] != _MAGIC:
        raise CodecError("corrupt chunk payload: bad header")
    _, crc = _HEADER.unpack_from(payload)
    pos = _HEADER.size
    blobs: list[bytes] = []
    for _ in range(3):
        if pos + 4 > len(payload):
            raise CodecError("corrupt chunk payload: truncated")
        (size,) = struct.unpack_from("<I", payload, pos)
        pos += 4
        if pos + size > len(payload):
            raise CodecError("corrupt chunk payload: truncated")
        blobs.append(payload[pos : pos + size])
        pos += size
    if zlib.crc32(b"".join(blobs)) != crc:
        raise CodecError("corrupt chunk payload: checksum mismatch")
    return blobs[0], blobs[1], blobs[2]


PARTS_DTYPE = np.dtype([("seq", "<i8"), ("n", "<i4")])
"""A stored block joins consecutive chunks of one foot; ``parts`` keeps each chunk's recording
sequence number and length so replay pushes exactly the chunks that arrived, in order."""


def pack_parts(seqs: list[int], lengths: list[int]) -> bytes:
    parts = np.empty(len(seqs), dtype=PARTS_DTYPE)
    parts["seq"], parts["n"] = seqs, lengths
    return parts.tobytes()


def unpack_parts(blob: bytes, n_total: int) -> tuple[list[int], list[int]]:
    if len(blob) % PARTS_DTYPE.itemsize:
        raise CodecError("corrupt chunk parts: bad length")
    parts = np.frombuffer(blob, dtype=PARTS_DTYPE)
    lengths = [int(x) for x in parts["n"]]
    if sum(lengths) != n_total or any(n <= 0 for n in lengths):
        raise CodecError("corrupt chunk parts: lengths do not add up")
    return [int(x) for x in parts["seq"]], lengths
