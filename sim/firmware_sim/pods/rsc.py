"""Where a pod's firmware gets the speed, cadence and stride length it reports over RSC."""

from __future__ import annotations

import logging
from typing import Any

from firmware_sim.pod_source import PodSamples
from gaitcoach.footpod.rsc import RscMeasurement
from gaitcoach.types import Foot

log = logging.getLogger(__name__)


def counter_rsc(k: int) -> RscMeasurement:
    """The ``k``-th RSC value of :class:`CounterRsc` (known values for exact checks); every
    field the pod's RSC Feature declares is present, total distance included."""
    speed = 2.5 + 0.125 * (k % 12)
    cadence = 160 + k % 20
    return RscMeasurement(
        speed_mps=speed,
        cadence_spm=cadence,
        running=True,
        stride_length_m=round(2 * speed * 60 / cadence, 2),
        total_distance_m=round(3.0 * k, 1),
    )


class CounterRsc:
    """Deterministic RSC values: the ``k``-th measurement sent is ``counter_rsc(k)``."""

    def __init__(self) -> None:
        self._k = 0

    def update(self, foot: Foot, samples: PodSamples, acc_lsb: float, gyr_lsb: float) -> None:
        pass

    def measurement(self, t_true_s: float) -> RscMeasurement:
        self._k += 1
        return counter_rsc(self._k - 1)


class GaitEngineRsc:
    """RSC from the pod's own IMU data through the gait engine (``gaitcoach.gait``).

    The firmware runs ``FootAnalyzer(foot).push(ImuChunk) -> list[StrideRecord]`` on what it
    samples and reports the latest stride's speed, cadence and length. Until the gait engine
    exists (it is being written concurrently) this reports "not running" with zero values:
    the seam is :meth:`_make_analyzer`.
    """

    def __init__(self) -> None:
        self._analyzer: Any = None
        self._ready = False
        self._distance_m = 0.0
        self._last: Any = None

    def _make_analyzer(self, foot: Foot) -> Any:
        try:
            from gaitcoach.gait import FootAnalyzer  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            log.warning("gaitcoach.gait not available: RSC values stay at zero")
            return None
        return FootAnalyzer(foot)

    def update(self, foot: Foot, samples: PodSamples, acc_lsb: float, gyr_lsb: float) -> None:
        if not self._ready:
            self._analyzer, self._ready = self._make_analyzer(foot), True
        if self._analyzer is None:
            return
        for stride in self._analyzer.push(samples.to_chunk(foot, acc_lsb, gyr_lsb)):
            self._last = stride
            if stride.stride_length_m is not None:
                self._distance_m += stride.stride_length_m

    def measurement(self, t_true_s: float) -> RscMeasurement:
        s = self._last
        if s is None or t_true_s - s.end_ic_s > 3.0:
            return RscMeasurement(0.0, 0, False, None, self._distance_m)
        return RscMeasurement(
            speed_mps=s.speed_mps or 0.0,
            cadence_spm=round(s.cadence_spm),
            running=str(s.activity) == "running",
            stride_length_m=s.stride_length_m,
            total_distance_m=self._distance_m,
        )
