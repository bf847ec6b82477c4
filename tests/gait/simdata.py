"""Shared test data for the gait engine: cached simulator recordings and real-data paths."""

from __future__ import annotations

import itertools
from functools import lru_cache
from pathlib import Path

import numpy as np

from firmware_sim.params import Mounting
from firmware_sim.recording import Recording, record
from gaitcoach.types import Foot, ImuChunk

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
"""``../shared/data`` beside the clone (CI has it there too)."""


@lru_cache(maxsize=32)
def recording(
    profile: str,
    minutes: float = 1.0,
    rate_hz: float = 208.0,
    seed: int = 0,
    noise: bool = True,
    mounting: Mounting | None = None,
) -> Recording:
    return record(profile, minutes, rate_hz, seed, noise=noise, mounting=mounting)


def chunks_of(chunk: ImuChunk, sizes: np.ndarray) -> list[ImuChunk]:
    """Split a chunk at the cumulative ``sizes`` (the last piece takes the rest)."""
    cuts = np.cumsum(sizes)
    cuts = cuts[cuts < len(chunk)]
    bounds = [0, *cuts.tolist(), len(chunk)]
    return [
        ImuChunk(chunk.foot, chunk.t_s[a:b], chunk.acc_mps2[a:b], chunk.gyr_radps[a:b])
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]


def interleaved(imu: dict[Foot, ImuChunk], seed: int, max_size: int) -> list[ImuChunk]:
    """Both feet cut in independent random chunk sizes (1..max_size), interleaved at random."""
    rng = np.random.default_rng(seed)
    queues = {
        foot: chunks_of(c, rng.integers(1, max_size + 1, size=len(c))) for foot, c in imu.items()
    }
    out: list[ImuChunk] = []
    while any(queues.values()):
        feet = [f for f, q in queues.items() if q]
        foot = feet[int(rng.integers(len(feet)))]
        out.append(queues[foot].pop(0))
    return out
