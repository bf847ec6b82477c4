"""Both feet, streaming and batch: the public entry points of the gait engine."""

from __future__ import annotations

import gc
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gaitcoach.gait.bilateral import complete_stride
from gaitcoach.gait.checks import GaitInputError
from gaitcoach.gait.config import DEFAULT_CONFIG, GaitConfig
from gaitcoach.gait.foot import FootAnalyzer
from gaitcoach.types import Foot, Gap, ImuChunk, StrideRecord, SwingRecord

_PAIR = {Foot.LEFT: Foot.RIGHT, Foot.RIGHT: Foot.LEFT}


class GaitAnalyzer:
    """Streaming stride analysis of both feet with bilateral values.

    Method
    ------
    Each foot runs its own :class:`~gaitcoach.gait.foot.FootAnalyzer`. A finished stride is
    held until the other foot's analysis is final past the stride's end, then completed with
    step time and flight time (:func:`~gaitcoach.gait.bilateral.complete_stride`). The
    release rule uses data content only (the other foot's processed time, its gaps, the end
    of data), never arrival timing, so streaming equals :func:`analyze` exactly. At the end
    of data every held stride is released, whatever the other foot did (one foot that never
    aligned holds nothing back). ``GaitConfig.expect_both_feet = False`` releases strides at
    once with one-foot values.

    Attributes
    ----------
    strides_
        The latest ``history_size`` released strides of both feet, in release order.
    gaps_
        The latest gaps of both feet.
    feet_
        The per-foot analyzers (created on first data).
    """

    def __init__(
        self, config: GaitConfig = DEFAULT_CONFIG, leg_length_m: float | None = None
    ) -> None:
        self.config = config
        self.leg_length_m = leg_length_m
        self.feet_: dict[Foot, FootAnalyzer] = {}
        self.strides_: deque[StrideRecord] = deque(maxlen=config.history_size)
        self._held: dict[Foot, list[StrideRecord]] = {}
        self._finished = False

    @property
    def gaps_(self) -> list[Gap]:
        return [g for f in self.feet_.values() for g in f.gaps_]

    def _foot(self, foot: Foot) -> FootAnalyzer:
        if foot not in self.feet_:
            self.feet_[foot] = FootAnalyzer(foot, self.config, self.leg_length_m)
            self._held[foot] = []
        return self.feet_[foot]

    def push(self, chunk: ImuChunk) -> list[StrideRecord]:
        """Route a chunk to its foot; return the strides released by it (either foot)."""
        if self._finished:
            raise GaitInputError("push after finish()")
        new = self._foot(chunk.foot).push(chunk)
        self._held[chunk.foot].extend(new)
        return self._release()

    def push_gap(self, gap: Gap) -> list[StrideRecord]:
        """Report lost samples of one foot; return strides this releases."""
        new = self._foot(gap.foot).push_gap(gap)
        self._held[gap.foot].extend(new)
        return self._release()

    def finish(self) -> list[StrideRecord]:
        """End of data: release every held stride (with what the other foot provided)."""
        for foot, f in self.feet_.items():
            self._held[foot].extend(f.finish())
        self._finished = True
        return self._release()

    def take_swings(self) -> list[SwingRecord]:
        """Swing records of both feet found since the last call (the event stream)."""
        return [s for f in self.feet_.values() for s in f.take_swings()]

    def _release(self) -> list[StrideRecord]:
        out: list[StrideRecord] = []
        for foot in sorted(self._held):
            held = self._held[foot]
            if not held:
                continue
            other = _PAIR.get(foot)
            partner = self.feet_.get(other) if other is not None else None
            if not self.config.expect_both_feet or other is None:
                out.extend(held)
                self._held[foot] = []
            elif partner is None:
                if self._finished:
                    out.extend(held)  # the other foot never streamed
                    self._held[foot] = []
            else:
                horizon = math.inf if self._finished else partner.horizon_s_
                ready = [s for s in held if horizon >= s.end_ic_s]
                if ready:
                    ics, gaps, max_s = partner.ic_times(), partner.gaps_, self.config.max_stride_s
                    out.extend(complete_stride(s, ics, list(gaps), max_s) for s in ready)
                    self._held[foot] = held[len(ready) :]
        self._prune()
        self.strides_.extend(out)
        return out

    def _prune(self) -> None:
        """Forget contacts no held or future stride of the other foot can need."""
        for foot, fa in self.feet_.items():
            other = _PAIR.get(foot)
            if not self.config.expect_both_feet or other is None:
                # No stride is ever completed from this foot's contacts (one-foot mode, a
                # foot without a pair): keeping them grew the list by every stride of a run.
                fa.prune_ics(math.inf)
                continue
            if other not in self.feet_:
                continue  # the other foot may still come (batch feeds the feet one by one)
            partner = self.feet_[other]
            held = self._held.get(other, [])
            need = min([s.ic_s for s in held] + [partner.horizon_s_])
            fa.prune_ics(need - 2 * self.config.max_stride_s)


@dataclass(frozen=True, slots=True)
class GaitResult:
    """Everything a batch analysis found."""

    strides: list[StrideRecord]
    """Sorted by (initial contact, foot)."""
    swings: list[SwingRecord]
    """Every swing of both feet, sorted by (mid-swing, foot)."""
    analyzer: GaitAnalyzer
    """The analyzer after ``finish()`` (alignment, rejects, gaps per foot)."""


def analyze_all(
    chunks: Mapping[Foot, ImuChunk],
    gaps: Sequence[Gap] = (),
    config: GaitConfig = DEFAULT_CONFIG,
    leg_length_m: float | None = None,
) -> GaitResult:
    """Batch analysis of whole recordings: the streaming code fed everything at once.

    Gaps are applied in time order between the samples around them.
    """
    return _batch(chunks, gaps, config, leg_length_m, swings=True)


def _batch(
    chunks: Mapping[Foot, ImuChunk],
    gaps: Sequence[Gap],
    config: GaitConfig,
    leg_length_m: float | None,
    swings: bool,
) -> GaitResult:
    # The engine makes no reference cycles, so the cyclic garbage collector's passes over
    # the many small result objects of a long recording are pure overhead: paused for the
    # call, restored after.
    enabled = gc.isenabled()
    gc.disable()
    strides: list[StrideRecord] = []
    found: list[SwingRecord] = []
    try:
        ga = GaitAnalyzer(config, leg_length_m)
        for foot, chunk in chunks.items():
            own = sorted((g for g in gaps if g.foot is foot), key=lambda g: g.start_s)
            start = 0
            # The analyzer keeps only the latest history_size swings between two takes: the
            # samples go in pieces of history_size (any chunking gives the same records), each
            # followed by a take.
            piece = config.history_size
            for g in own:
                stop = int(np.searchsorted(chunk.t_s, g.start_s, side="right"))
                for a in range(start, stop, piece):
                    strides += ga.push(chunk.slice(a, min(a + piece, stop)))
                    found += ga.take_swings()
                strides += ga.push_gap(g)
                found += ga.take_swings()
                start = max(start, stop)
            for a in range(start, len(chunk), piece):
                strides += ga.push(chunk.slice(a, min(a + piece, len(chunk))))
                found += ga.take_swings()
        strides += ga.finish()
        found += ga.take_swings()
    finally:
        if enabled:
            gc.enable()
    return GaitResult(
        sorted(strides, key=_order),
        sorted(found, key=lambda s: (s.ms_s, s.foot.value)) if swings else [],
        ga,
    )


def analyze(
    chunks: Mapping[Foot, ImuChunk],
    gaps: Sequence[Gap] = (),
    config: GaitConfig = DEFAULT_CONFIG,
    leg_length_m: float | None = None,
) -> list[StrideRecord]:
    """Batch analysis of whole recordings (:func:`analyze_all`): the stride records of both
    feet sorted by (initial contact, foot)."""
    return _batch(chunks, gaps, config, leg_length_m, swings=False).strides


def _order(s: StrideRecord) -> tuple[float, str]:
    return (s.ic_s if math.isfinite(s.ic_s) else math.inf, str(s.foot))
