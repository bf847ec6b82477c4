"""One foot, streaming: samples in, swing and stride records out (see docs/metrics.md).

:class:`FootAnalyzer` is the driver that runs the stages in order on each continuous run of
samples: input checks (:mod:`~gaitcoach.gait.checks`), rest energy
(:mod:`~gaitcoach.gait.rest`), sensor alignment (:mod:`~gaitcoach.gait.alignment`), swing
detection and segmentation (:mod:`~gaitcoach.gait.swings`,
:mod:`~gaitcoach.gait.segmentation`), trajectory and events per segment
(:mod:`~gaitcoach.gait.trajectory`, :mod:`~gaitcoach.gait.events`, compiled together in
:func:`~gaitcoach.gait.kernels.measure_segments`) and stride parameters
(:mod:`~gaitcoach.gait.parameters`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import deque

import numpy as np

from gaitcoach.gait.alignment import ForwardSignAlignment, GravityPcaAlignment, SensorAlignment
from gaitcoach.gait.buffer import RunBuffer
from gaitcoach.gait.checks import GaitInputError, InputChecker, RejectCounts
from gaitcoach.gait.config import DEFAULT_CONFIG, GaitConfig
from gaitcoach.gait.kernels import SEGMENT_FIELDS, measure_segments
from gaitcoach.gait.parameters import StrideAssembler
from gaitcoach.gait.rest import half_window
from gaitcoach.gait.segmentation import (
    RunSignals,
    ScanState,
    SegmentationParams,
    scan_segments,
)
from gaitcoach.types import FloatArray, Foot, Gap, ImuChunk, StrideRecord, SwingRecord

_FORWARD = SEGMENT_FIELDS.index("forward_m")
_HORIZON_MARGIN_S = 0.1
"""A contact can be reported up to this long before the scan's resume point (the walking IC
precedes the impact; the impact may precede the end of the toes-up rotation by a sample)."""


SKIPPED = "bad samples skipped"
"""The reason of a gap made by samples the input checks skipped."""

class _Run:
    """One continuous run of samples (between gaps) and where its scan resumes."""

    __slots__ = ("buf", "index", "state")

    def __init__(self, index: int, buf: RunBuffer) -> None:
        self.index = index
        self.buf = buf
        self.state = ScanState()


class FootAnalyzer:
    """Streaming swing and stride analysis of one foot.

    Method
    ------
    1. Input checks and gaps: a time step above ``max_dt_factor`` sample periods, a
       :class:`~gaitcoach.types.Gap` or skipped samples end the current run (a gap is
       reported); the stride across it is lost, the events before it are kept.
    2. Until the sensor alignment is known, runs are held. The alignment is tried on the
       first ``align_step_s``, 2 x ``align_step_s``, ... seconds (content-defined, so any
       chunking decides at the same data) until confident, or decided without confidence
       after ``align_window_s``; it is then re-checked on every stride.
    3. Each run is scanned for swings and segmented around them
       (:func:`~gaitcoach.gait.segmentation.scan_segments`); only segments that later data
       cannot change are measured and assembled, so streaming equals batch bit for bit.

    Parameters
    ----------
    foot
        The foot this analyzer accepts chunks of.
    config
        Engine parameters.
    leg_length_m
        Optional leg length for the overstride model.

    Attributes
    ----------
    strides_
        The latest ``history_size`` stride records, in order.
    swings_
        The latest ``history_size`` swing records (every swing found, also those that end no
        stride: first and last steps, turns), in order.
    gaps_
        The latest ``history_size`` gaps reported or detected.
    rejected_
        Counters of flagged and skipped samples.
    rate_hz_
        Nominal sample rate (from the first timestamps), None before.
    alignment_
        :class:`~gaitcoach.gait.alignment.SensorAlignment` once decided, else None.
    horizon_s_
        All initial contacts before this time are final (for bilateral pairing).
    """

    def __init__(
        self, foot: Foot, config: GaitConfig = DEFAULT_CONFIG, leg_length_m: float | None = None
    ) -> None:
        if leg_length_m is not None and not 0.4 <= leg_length_m <= 1.5:
            raise ValueError(f"leg_length_m = {leg_length_m} is out of range [0.4, 1.5]")
        self.foot = foot
        self.config = config
        self.leg_length_m = leg_length_m
        size = config.history_size
        self.strides_: deque[StrideRecord] = deque(maxlen=size)
        self.swings_: deque[SwingRecord] = deque(maxlen=size)
        self.gaps_: deque[Gap] = deque(maxlen=size)
        self._skip_gap: Gap | None = None
        """The gap of samples being skipped, reported before the next good sample."""
        self.rate_hz_: float | None = None
        self.alignment_: SensorAlignment | None = None
        self._checker = InputChecker(config)
        self._assembler = StrideAssembler(foot, config, leg_length_m)
        self._probe: list[tuple[FloatArray, FloatArray, FloatArray]] = []
        self._probe_n = 0
        self._params: SegmentationParams | None = None
        self._runs: list[_Run] = []
        """Runs not yet fully analyzed: before the alignment, all of them; after, the live one."""
        self._run_count = 0
        self._live: _Run | None = None
        self._last_t: float | None = None
        self._need_break = False
        self._horizon_s = -math.inf
        self._align_k = 1
        self._ics: list[float] = []
        # The event stream since the last take_swings(): a live service that never drains it
        # must not grow it for hours, so it keeps the latest history_size swings too.
        self._new_swings: deque[SwingRecord] = deque(maxlen=size)

    @property
    def rejected_(self) -> RejectCounts:
        return self._checker.counts

    @property
    def horizon_s_(self) -> float:
        return self._horizon_s

    def ic_times(self) -> list[float]:
        """Sorted initial contacts found so far and not yet pruned (:meth:`prune_ics`)."""
        return self._ics

    def prune_ics(self, before_s: float) -> None:
        """Forget contacts before ``before_s`` (no stride of the other foot needs them)."""
        k = 0
        while k < len(self._ics) and self._ics[k] < before_s:
            k += 1
        if k:
            del self._ics[:k]

    def take_swings(self) -> list[SwingRecord]:
        """Swing records found since the last call (the event stream); the latest
        ``history_size`` of them when the caller has not taken them for longer."""
        out = list(self._new_swings)
        self._new_swings.clear()
        return out

    # ------------------------------------------------------------------ input
    def push(self, chunk: ImuChunk) -> list[StrideRecord]:
        """Add consecutive samples; return the strides they complete."""
        if chunk.foot is not self.foot:
            raise GaitInputError(f"chunk of foot {chunk.foot} pushed to the {self.foot} analyzer")
        if len(chunk) == 0:
            return []
        self._checker.check_units(chunk)
        checked = self._checker.check(chunk)
        out: list[StrideRecord] = []
        cuts = [0, *checked.breaks, len(checked.t_s)]
        for i, (a, b) in enumerate(itertools.pairwise(cuts)):
            if i > 0 or (checked.breaks and checked.breaks[0] == 0 and a == 0):
                self._need_break = True
            if b > a:
                out += self._feed(checked.t_s[a:b], checked.acc_mps2[a:b], checked.gyr_radps[a:b])
        if checked.skipped_to_s is not None and self._last_t is not None and self._rate_known():
            out += self._skipping(checked.skipped_to_s)
        return out

    def _rate_known(self) -> bool:
        return self.rate_hz_ is not None and not self._probe

    def _skipping(self, to_s: float) -> list[StrideRecord]:
        """The chunk ends in skipped samples (a stuck sensor): the gap they make is reported
        now and grows with them, instead of only at the next good sample, so the horizon
        passes them and the other foot's strides are not held while the sensor stays stuck.
        The gap ends at the next good sample, as it would (any chunking gives one gap)."""
        assert self._last_t is not None
        open_gap = self._skip_gap if self.gaps_ and self.gaps_[-1] is self._skip_gap else None
        if open_gap is not None:
            self.gaps_.pop()
        out = self._report_gap(self._last_t, to_s, SKIPPED)
        self._skip_gap = self.gaps_[-1]
        self._advance_horizon(to_s)
        return out

    def push_gap(self, gap: Gap) -> list[StrideRecord]:
        """Samples were lost: the run ends (its last events are kept), the gap is recorded."""
        if gap.foot is not self.foot:
            raise GaitInputError(f"gap of foot {gap.foot} pushed to the {self.foot} analyzer")
        if not gap.end_s >= gap.start_s:
            raise GaitInputError(f"gap ends before it starts: {gap}")
        self.gaps_.append(gap)
        out: list[StrideRecord] = []
        if self._last_t is None or gap.end_s > self._last_t:
            out = self._end_run()
        self._advance_horizon(gap.end_s)
        return out

    def finish(self) -> list[StrideRecord]:
        """End of data: the last swings are decided without lookahead; return the strides
        this completes."""
        self._checker.finish_units(self.foot)
        if self._probe:
            # Fewer samples than the rate probe: too short to analyze.
            self._probe = []
        out = self._end_run()
        if self.alignment_ is None:
            out += self._try_align(final=True)
        self._horizon_s = math.inf
        return out

    def _advance_horizon(self, t_s: float) -> None:
        """Contacts before ``t_s`` are final, except in runs still held for the alignment."""
        held = [r for r in self._runs if len(r.buf)] if self.alignment_ is None else []
        if held:
            t_s = min(t_s, held[0].buf.t_at(held[0].buf.base))
        self._horizon_s = max(self._horizon_s, t_s)

    # ------------------------------------------------------------------ runs
    def _new_run(self) -> _Run:
        assert self._params is not None and self.rate_hz_ is not None
        cfg = self.config
        run = _Run(
            self._run_count,
            RunBuffer(self._params.h, cfg.stance_max_gyr_radps, cfg.stance_max_acc_mps2),
        )
        self._run_count += 1
        if self.alignment_ is not None:
            run.buf.set_axis(self.alignment_.r_fs_[1])
        self._runs.append(run)
        return run

    def _end_run(self) -> list[StrideRecord]:
        out: list[StrideRecord] = []
        live, self._live = self._live, None
        if live is not None:
            live.buf.close()
            if self.alignment_ is not None:
                out = self._analyze(live)
        if self._last_t is not None:
            self._advance_horizon(self._last_t)
        self._assembler.reset()
        if self.alignment_ is None:
            out += self._try_align(final=False)
        return out

    def _feed(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> list[StrideRecord]:
        if self.rate_hz_ is None:
            self._probe_n += len(t)
            if self._probe_n < self.config.rate_probe_samples:
                # Kept past this call: a copy (the chunk's arrays belong to the caller).
                self._probe.append((t.copy(), acc.copy(), gyr.copy()))
                return []
            self._probe.append((t, acc, gyr))
            t = np.concatenate([p[0] for p in self._probe])
            acc = np.concatenate([p[1] for p in self._probe])
            gyr = np.concatenate([p[2] for p in self._probe])
            self._probe = []
            self._set_rate(t)
        out: list[StrideRecord] = []
        if self._need_break:
            self._need_break = False
            if self._last_t is not None:
                if self.gaps_ and self.gaps_[-1] is self._skip_gap:
                    self.gaps_.pop()  # reported while skipping: it ends here
                out += self._report_gap(self._last_t, float(t[0]), SKIPPED)
        self._skip_gap = None
        assert self.rate_hz_ is not None
        max_dt = self.config.max_dt_factor / self.rate_hz_
        prev = self._last_t if self._last_t is not None else t[0]
        jumps = np.flatnonzero(np.diff(t, prepend=prev) > max_dt)
        start = 0
        for j in (*jumps.tolist(), len(t)):
            if j > start:
                if self._live is None:
                    self._live = self._new_run()
                self._live.buf.append(t[start:j], acc[start:j], gyr[start:j])
                self._last_t = float(t[j - 1])
                out += (
                    self._analyze(self._live)
                    if self.alignment_ is not None
                    else self._try_align(final=False)
                )
            if j < len(t):
                out += self._report_gap(
                    float(prev if j == 0 else t[j - 1]), float(t[j]), "time jump"
                )
            start = j
        return out

    def _set_rate(self, t: FloatArray) -> None:
        cfg = self.config
        # Exactly the first N timestamps decide, whatever the chunking.
        rate = float(1.0 / np.median(np.diff(t[: cfg.rate_probe_samples])))
        if not rate >= cfg.min_rate_hz:
            raise GaitInputError(
                f"{self.foot}: the timestamps give {rate:.3g} samples/s, below the engine's "
                f"minimum of {cfg.min_rate_hz:g} Hz (impacts and toe-offs cannot be timed); "
                "check the sample rate and that timestamps are in seconds"
            )
        if rate > 20_000:
            raise GaitInputError(
                f"{self.foot}: the timestamps give {rate:.3g} samples/s: are they in seconds?"
            )
        self.rate_hz_ = rate
        self._params = SegmentationParams(
            h=half_window(cfg.energy_window_s, rate),
            swing_rate_radps=cfg.swing_rate_radps,
            swing_bridge_s=cfg.swing_bridge_s,
            swing_min_rotation_deg=cfg.swing_min_rotation_deg,
            min_stride_s=cfg.min_stride_s,
            max_stride_s=cfg.max_stride_s,
            rest_min_s=cfg.rest_min_s,
            step_min_displacement_m=cfg.step_min_displacement_m,
            step_min_turn_deg=cfg.step_min_turn_deg,
            step_min_lift_m=cfg.step_min_lift_m,
            step_rest_energy=cfg.step_rest_energy,
            landing_window_s=cfg.landing_window_s,
            settle_window_s=cfg.settle_window_s,
            stance_search_s=cfg.stance_search_s,
        )

    def _report_gap(self, start_s: float, end_s: float, reason: str) -> list[StrideRecord]:
        assert self.rate_hz_ is not None
        lost = max(0, round((end_s - start_s) * self.rate_hz_) - 1)
        self.gaps_.append(Gap(self.foot, start_s, end_s, lost, reason))
        return self._end_run()

    # ------------------------------------------------------------------ alignment
    def _try_align(self, final: bool) -> list[StrideRecord]:
        """Decide the alignment on the first k x ``align_step_s`` seconds of held data."""
        cfg = self.config
        runs = [r for r in self._runs if len(r.buf)]
        if not runs:
            return []
        t0 = runs[0].buf.t_at(runs[0].buf.base)
        while True:
            stop = t0 + self._align_k * cfg.align_step_s
            complete = self._final_until(runs[-1]) >= stop
            if not complete and not final:
                return []
            forced = final or stop - t0 >= cfg.align_window_s
            est = self._estimate_alignment(runs, stop if complete else math.inf)
            if est is not None and (est.confident_ or forced):
                self.alignment_ = SensorAlignment(
                    est.r_fs_,
                    est.confidence_,
                    est.confident_,
                    min_strides=cfg.align_strides,
                    min_forward_m=cfg.align_min_forward_m,
                    min_agreement=cfg.align_agreement,
                )
                return self._analyze_held()
            if forced:
                if final:
                    return []
                # Too little motion to align on in the whole window: no swing can be found in
                # it either. Forget its first part and try again later.
                self._drop_held_before(stop - cfg.align_window_s / 2)
                runs = [r for r in self._runs if len(r.buf)]
                if not runs:
                    return []
                t0 = runs[0].buf.t_at(runs[0].buf.base)
                self._align_k = 1
                continue
            self._align_k += 1

    @staticmethod
    def _final_until(run: _Run) -> float:
        """Time up to which a held run's signals are final (its running-maximum energy)."""
        buf = run.buf
        end = buf.end if buf.closed else buf.energy_end
        return buf.t_at(end - 1) if end > buf.base else -math.inf

    def _held(self, runs: list[_Run], stop_s: float) -> list[tuple[_Run, int]]:
        """Each held run with its number of rows before ``stop_s``."""
        out = []
        for run in runs:
            t = run.buf.signals().t
            # The running-maximum energy of an open run's last rows is not final yet.
            n = min(int(np.searchsorted(t, stop_s)), run.buf.energy_end - run.buf.base)
            if n > 2 * self._params_h():
                out.append((run, n))
        return out

    def _params_h(self) -> int:
        assert self._params is not None
        return self._params.h

    def _estimate_alignment(self, runs: list[_Run], stop_s: float) -> ForwardSignAlignment | None:
        cfg = self.config
        held = self._held(runs, stop_s)
        if not held:
            return None
        sigs = [(r.buf.signals().head(n), r) for r, n in held]
        acc = np.concatenate([sig.acc for sig, _ in sigs])
        gyr = np.concatenate([sig.gyr for sig, _ in sigs])
        energy = np.concatenate([sig.energy for sig, _ in sigs])
        unsigned = GravityPcaAlignment(cfg.swing_min_gyr_radps).estimate(acc, gyr, energy).r_fs_
        if unsigned is None:
            return None

        def forward_of(r: FloatArray) -> FloatArray:
            parts = [np.empty(0)]
            for sig, _ in sigs:
                trial = dataclasses.replace(sig, gyr_ml=sig.gyr @ r[1])
                spans, _ = scan_segments(trial, ScanState(), True, self._seg_params())
                if len(spans):
                    parts.append(self._measure(sig, spans, r)["forward_m"])
            return np.concatenate(parts)

        return ForwardSignAlignment(
            cfg.align_strides, cfg.align_min_forward_m, cfg.align_agreement
        ).estimate(unsigned, forward_of)

    def _seg_params(self) -> SegmentationParams:
        assert self._params is not None
        return self._params

    def _drop_held_before(self, t_s: float) -> None:
        for run in self._runs:
            t = run.buf.signals().t
            run.buf.drop_before(run.buf.base + int(np.searchsorted(t, t_s)), now=True)
        self._runs = [r for r in self._runs if len(r.buf) or r is self._live]

    def _analyze_held(self) -> list[StrideRecord]:
        assert self.alignment_ is not None
        out: list[StrideRecord] = []
        held, self._runs = self._runs, []
        for run in held:
            run.buf.set_axis(self.alignment_.r_fs_[1])
            if run is not self._live:
                self._assembler.reset()
            out += self._analyze(run)
        if self._live is not None:
            self._runs = [self._live]
        return out

    # ------------------------------------------------------------------ analysis
    def _measure(self, sig: RunSignals, spans: np.ndarray, r: FloatArray) -> np.ndarray:
        cfg = self.config
        assert self.rate_hz_ is not None
        return measure_segments(
            sig.t,
            sig.acc,
            sig.gyr,
            spans,
            r,
            h=self._params_h(),
            flat_max_tilt_deg=cfg.flat_max_tilt_deg,
            impact_onset_fraction=cfg.impact_onset_fraction,
            impact_rise_s=cfg.impact_rise_s,
            toe_speed_levels_mps=cfg.toe_speed_levels_mps,
            heel_off_fraction=cfg.heel_off_fraction,
            impact_window_samples=max(1, round(cfg.impact_window_s * self.rate_hz_)),
            walking_ic_window_s=cfg.walking_ic_window_s,
        )

    def _analyze(self, run: _Run) -> list[StrideRecord]:
        """Scan a run for the segments its data has made final; measure and assemble them."""
        align = self.alignment_
        assert align is not None
        buf = run.buf
        final = buf.closed
        out: list[StrideRecord] = []
        while True:
            base = buf.base
            sig = buf.signals()
            t, energy = sig.t, sig.energy
            rel = ScanState(run.state.lo - base, run.state.prev_land - base, run.state.prev_mid_s)
            spans, after = scan_segments(sig, rel, final, self._seg_params())
            flipped = False
            if len(spans):
                rows = self._measure(sig, spans, align.r_fs_).tolist()
                rested = ((energy[spans["a0"]] < 1.0) & (energy[spans["a1"]] < 1.0)).tolist()
                last: tuple[int, int, int] | None = None
                for (_, _, s, e, _, kind, land), row, rest in zip(
                    spans.tolist(), rows, rested, strict=True
                ):
                    if align.update(row[_FORWARD]):
                        # The frame was turned: this and later segments are found again in it.
                        buf.set_axis(align.r_fs_[1])
                        flipped = True
                        break
                    swing, stride = self._assembler.add(
                        run.index, row, kind, rest, align.confident_
                    )
                    self._emit(swing, stride, out)
                    last = (s, e, land)
                if flipped and last is not None:
                    s, e, land = last
                    rel = ScanState(e, land, float(t[(s + e - 1) // 2]))
            if not flipped:
                rel = after
            run.state = ScanState(rel.lo + base, rel.prev_land + base, rel.prev_mid_s)
            if not flipped:
                break
        h = self._params_h()
        buf.drop_before(run.state.lo - h - 2)
        if len(buf) and run.state.lo - buf.base < len(buf):
            self._advance_horizon(buf.t_at(run.state.lo) - _HORIZON_MARGIN_S)
        return out

    def _emit(
        self, swing: SwingRecord, stride: StrideRecord | None, out: list[StrideRecord]
    ) -> None:
        self.swings_.append(swing)
        self._new_swings.append(swing)
        if swing.ic_s is not None and (not self._ics or swing.ic_s > self._ics[-1]):
            self._ics.append(swing.ic_s)
        if stride is not None:
            self.strides_.append(stride)
            out.append(stride)
