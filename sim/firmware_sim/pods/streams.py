"""Deterministic IMU streams for exact end-to-end checks of the link.

:class:`CounterStream` implements :class:`firmware_sim.pod_source.PodStream` with values that
encode the sample index, so a receiver can tell exactly which sample it got, whether one is
missing or repeated, and what its true time was.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from firmware_sim.pod_source import PodSamples
from gaitcoach.footpod.profile import acc_lsb_mps2, gyr_lsb_radps
from gaitcoach.types import Foot

FOOT_TAG = {Foot.LEFT: 1, Foot.RIGHT: 2, Foot.UNKNOWN: 3}


def counter_counts(
    index: npt.NDArray[np.int64], foot: Foot
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int16]]:
    """Acc and gyr counts of samples ``index``: acc x/y hold the index (low/high 16 bits),
    acc z tags the foot, gyr are ramps derived from the index."""
    idx = index.astype(np.int64)
    acc = np.empty((idx.shape[0], 3), dtype=np.int16)
    acc[:, 0] = ((idx & 0xFFFF) - 0x8000).astype(np.int16)
    acc[:, 1] = ((idx >> 16) & 0x7FFF).astype(np.int16)
    acc[:, 2] = (FOOT_TAG[foot] * 1000 + idx % 7).astype(np.int16)
    gyr = np.empty((idx.shape[0], 3), dtype=np.int16)
    gyr[:, 0] = ((idx * 3) % 60000 - 30000).astype(np.int16)
    gyr[:, 1] = (-(idx % 20000)).astype(np.int16)
    gyr[:, 2] = ((idx * 7) % 511).astype(np.int16)
    return acc, gyr


def index_from_counts(acc_counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Inverse of :func:`counter_counts` for the index (from acc x and y)."""
    a = np.asarray(acc_counts, dtype=np.int64)
    return (a[:, 0] + 0x8000) | (a[:, 1] << 16)


class CounterStream:
    """A :class:`~firmware_sim.pod_source.PodStream` whose values encode the sample index.

    Sample ``i`` is at true time ``i / rate_hz``; the sensor clock reads
    ``clock_offset_s + t_true * (1 + drift_ppm * 1e-6)``.
    """

    def __init__(
        self,
        foot: Foot,
        rate_hz: float = 208.0,
        drift_ppm: float = 0.0,
        clock_offset_s: float = 0.0,
        acc_range_g: int = 16,
        gyr_range_dps: int = 2000,
    ) -> None:
        self.foot = foot
        self.rate_hz = rate_hz
        self.drift_ppm = drift_ppm
        self.clock_offset_s = clock_offset_s
        self.acc_lsb_mps2 = acc_lsb_mps2(acc_range_g)
        self.gyr_lsb_radps = gyr_lsb_radps(gyr_range_dps)
        self._next = 0

    def read(self, n: int) -> PodSamples:
        if n < 1:
            raise ValueError(f"read(n) needs n >= 1, got {n}")
        idx = np.arange(self._next, self._next + n, dtype=np.int64)
        self._next += n
        t_true = idx / self.rate_hz
        t_sensor = self.clock_offset_s + t_true * (1.0 + self.drift_ppm * 1e-6)
        acc, gyr = counter_counts(idx, self.foot)
        return PodSamples(t_true, t_sensor, acc, gyr)
