"""The analysis chain of the service, without I/O: samples in, strides and cues out.

``ImuChunk``/``Gap`` -> :class:`~gaitcoach.gait.GaitAnalyzer` -> ``StrideRecord`` ->
:class:`~gaitcoach.coach.Coach` (rolling metrics, cue policy) -> ``Cue``. The asyncio service,
the replay and the benchmarks drive the same object, so the live and offline paths agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gaitcoach.coach import Coach
from gaitcoach.gait import GaitAnalyzer
from gaitcoach.service.config import ServiceConfig
from gaitcoach.types import Activity, Cue, GaitMetrics, Gap, ImuChunk, StrideRecord


@dataclass
class Outputs:
    """What one input produced."""

    strides: list[StrideRecord] = field(default_factory=list)
    cues: list[Cue] = field(default_factory=list)


class Pipeline:
    """Gait engine and coach for one runner.

    Parameters
    ----------
    config
        The service configuration (``[gait]``, ``[runner]``, ``[coach]`` are used).
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.analyzer = self._new_analyzer()
        self.coach = Coach(config.runner, config.coach)
        self.counts: Counter[str] = Counter()

    def _new_analyzer(self) -> GaitAnalyzer:
        leg = self.config.runner.leg_length_or_estimate_m
        return GaitAnalyzer(self.config.gait, leg_length_m=leg)

    def new_engine(self) -> None:
        """A fresh gait engine for a new session: nothing it learnt from samples before the
        session (held strides, the sensor alignment) may shape its strides, or a replay of
        the session's own samples would not give them."""
        self.analyzer = self._new_analyzer()

    def _after(self, strides: list[StrideRecord]) -> Outputs:
        out = Outputs(strides=strides)
        for stride in strides:
            out.cues.extend(self.coach.on_stride(stride))
        self.counts["strides"] += len(strides)
        self.counts["cues"] += len(out.cues)
        return out

    def on_chunk(self, chunk: ImuChunk) -> Outputs:
        self.counts["chunks"] += 1
        self.counts["samples"] += len(chunk)
        return self._after(self.analyzer.push(chunk))

    def on_gap(self, gap: Gap) -> Outputs:
        self.counts["gaps"] += 1
        self.counts["lost_samples"] += gap.lost_samples
        return self._after(self.analyzer.push_gap(gap))

    def tick(self, now_s: float) -> list[Cue]:
        """Time passes without strides (standing, a lost pod): the coach may still speak."""
        cues = self.coach.tick(now_s)
        self.counts["cues"] += len(cues)
        return cues

    def metrics(self, now_s: float) -> GaitMetrics:
        """Rolling metrics as of the last :meth:`tick` (the coach's windows)."""
        m = self.coach.metrics_
        return (
            m if m is not None else GaitMetrics(t_s=now_s, activity=Activity.STANDING, n_strides=0)
        )

    def finish(self) -> Outputs:
        """Flush strides completed by the end of the data."""
        return self._after(self.analyzer.finish())
