"""Rest (zero-velocity) detection from the stance energy."""

from __future__ import annotations

import numpy as np

from gaitcoach.gait.base import BaseRestDetector
from gaitcoach.gait.kernels import running_max, stance_energy
from gaitcoach.types import FloatArray


class StanceEnergyRest(BaseRestDetector):
    """Zero-velocity samples from the angular rate and the specific force's deviation from g.

    Method
    ------
    The stance energy of a sample is ``max(|gyr| / gyr_scale, ||acc| - g| / acc_scale)``, then
    the running maximum over +-``window_s``; below 1 the foot may rest. It is the "norm"
    family of zero-velocity detectors (Skog et al. 2010 compare it with the SHOE likelihood
    test; gaitmap's ``NormZuptDetector`` is the windowed variant), orientation-free, so it
    works before the sensor alignment is known. Rest *runs* shorter than ``min_rest_s`` are
    not taken as a stance between steps (a slow swing can pass through a brief lull).

    Parameters
    ----------
    gyr_scale_radps
        Angular rate that counts as 1 (rad/s).
    acc_scale_mps2
        Deviation of ``|acc|`` from gravity that counts as 1 (m/s^2).
    window_s
        Half width of the running maximum (s).
    min_rest_s
        Shortest rest run (s).

    Attributes
    ----------
    energy_
        Running-maximum stance energy per sample.
    rest_
        ``energy_ < 1``.
    rest_runs_
        (K, 2) start and one-past-end sample of the rest runs of at least ``min_rest_s``.

    References
    ----------
    .. [1] Skog, I., Händel, P., Nilsson, J.-O., Rantakokko, J. (2010). Zero-velocity
       detection: an algorithm evaluation. IEEE Trans. Biomed. Eng. 57(11), 2657-2666.
    """

    def __init__(
        self,
        gyr_scale_radps: float = 2.5,
        acc_scale_mps2: float = 3.5,
        window_s: float = 0.02,
        min_rest_s: float = 0.25,
    ) -> None:
        self.gyr_scale_radps = gyr_scale_radps
        self.acc_scale_mps2 = acc_scale_mps2
        self.window_s = window_s
        self.min_rest_s = min_rest_s

    energy_: FloatArray
    rest_: np.ndarray
    rest_runs_: np.ndarray

    def detect(
        self, t: FloatArray, acc: FloatArray, gyr: FloatArray, rate_hz: float
    ) -> StanceEnergyRest:
        """Detect rest in one run of samples (time (n,), specific force and rate (n, 3))."""
        n = len(t)
        gn, en, ad, energy = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        stance_energy(
            np.ascontiguousarray(acc, dtype=np.float64),
            np.ascontiguousarray(gyr, dtype=np.float64),
            gn,
            en,
            ad,
            self.gyr_scale_radps,
            self.acc_scale_mps2,
        )
        running_max(en, half_window(self.window_s, rate_hz), 0, n, energy)
        self.energy_ = energy
        self.rest_ = energy < 1.0
        edges = np.flatnonzero(np.diff(np.concatenate(([0], self.rest_.astype(np.int8), [0]))))
        runs = edges.reshape(-1, 2)
        keep = [(a, b) for a, b in runs.tolist() if t[b - 1] - t[a] >= self.min_rest_s]
        self.rest_runs_ = np.array(keep, dtype=np.int64).reshape(-1, 2)
        return self


def half_window(window_s: float, rate_hz: float) -> int:
    """Samples in a half window of ``window_s`` at ``rate_hz`` (at least 1)."""
    return max(1, round(window_s * rate_hz))
