"""What a footpod's firmware reads from its IMU: the contract between the gait model and the
virtual pods (``firmware_sim.simulation.Simulation.pod(foot)`` implements it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gaitcoach.types import Foot, ImuChunk


@dataclass(frozen=True, slots=True)
class PodSamples:
    """The next ``n`` samples of one pod's IMU."""

    t_true_s: npt.NDArray[np.float64]
    """True instant of each sample (simulation time, s)."""
    t_sensor_s: npt.NDArray[np.float64]
    """The sensor's own clock (offset, drift in ppm, reset when the pod restarts)."""
    acc_counts: npt.NDArray[np.int16]
    """Accelerometer, int16 counts, shape (n, 3), sensor frame; times ``acc_lsb_mps2``."""
    gyr_counts: npt.NDArray[np.int16]
    """Gyroscope, int16 counts, shape (n, 3), sensor frame; times ``gyr_lsb_radps``."""

    def to_chunk(self, foot: Foot, acc_lsb_mps2: float, gyr_lsb_radps: float) -> ImuChunk:
        """These samples in SI units at true time."""
        return ImuChunk(
            foot,
            np.asarray(self.t_true_s, dtype=np.float64),
            self.acc_counts.astype(np.float64) * acc_lsb_mps2,
            self.gyr_counts.astype(np.float64) * gyr_lsb_radps,
        )


class PodStream(Protocol):
    """An endless stream of one pod's IMU samples."""

    foot: Foot
    rate_hz: float
    acc_lsb_mps2: float
    gyr_lsb_radps: float

    def read(self, n: int) -> PodSamples:
        """The next ``n`` samples (n >= 1)."""
        ...
