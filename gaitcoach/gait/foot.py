"""One foot, streaming: samples in, stride records out (see docs/metrics.md)."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.gait.alignment import SensorAlignment
from gaitcoach.gait.buffer import SampleBuffer
from gaitcoach.gait.checks import GaitInputError, InputChecker, RejectCounts
from gaitcoach.gait.config import DEFAULT_CONFIG, GaitConfig
from gaitcoach.gait.events import detect_events, toe_off_from_pivot
from gaitcoach.gait.kernel import (
    find_anchors,
    measure_segments,
    rotation_runs,
    segment_bounds,
    split_swings,
)
from gaitcoach.gait.overstride import overstride_m
from gaitcoach.gait.strapdown import integrate, norm3, rotate
from gaitcoach.types import (
    Activity,
    FloatArray,
    Foot,
    Gap,
    ImuChunk,
    StrideRecord,
    classify_strike,
)


class _Segment:
    """Samples from one stance anchor to the next (sensor frame): rows ``lo:hi`` of a block
    copied out of the buffer (a plain slotted class: thousands are made per minute)."""

    __slots__ = (
        "block",
        "hi",
        "joinable",
        "lo",
        "rest_end",
        "rest_start",
        "rested",
        "run",
        "stance",
        "swing_mid",
        "swings",
    )

    def __init__(
        self,
        run: int,
        stance: int,
        block: tuple[FloatArray, FloatArray, FloatArray],
        lo: int,
        hi: int,
        rest_start: list[float],
        rest_end: list[float],
        rested: bool,
    ) -> None:
        self.run = run
        self.stance = stance
        """Index (within the run) of the stance phase the segment starts in."""
        self.block = block
        """The copied samples (t, acc, gyr) holding this segment."""
        self.lo = lo
        self.hi = hi
        self.rest_start = rest_start
        """Mean specific force around the start anchor (foot at rest)."""
        self.rest_end = rest_end
        self.rested = rested
        """Both anchors are at rest (energy below 1), not from the relaxed stance rule."""
        self.swings = -1
        """Swings found in the segment (:func:`~gaitcoach.gait.kernel.split_swings`); -1:
        not counted yet."""
        self.swing_mid = -1
        """Block row of the middle of its swing (the IC comes later); -1: unknown."""
        self.joinable: bool | None = None
        """:meth:`FootAnalyzer._may_join`, once decided (a held segment is asked again at
        every scan until the next segment arrives)."""

    @property
    def ic_from(self) -> int:
        """Segment row where the IC search may start (-1: anywhere after mid-swing)."""
        return self.swing_mid - self.lo if self.swing_mid >= 0 else -1

    @property
    def t(self) -> FloatArray:
        return self.block[0][self.lo : self.hi]

    @property
    def acc(self) -> FloatArray:
        return self.block[1][self.lo : self.hi]

    @property
    def gyr(self) -> FloatArray:
        return self.block[2][self.lo : self.hi]


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """What one segment measured (times in seconds; None when not found)."""

    run: int
    stance: int
    start_s: float
    end_s: float
    to_s: float | None
    ms_s: float | None
    ic_s: float | None
    strike_deg: float | None
    """Foot pitch at IC relative to the end anchor (flat), toes up positive."""
    peak_impact_g: float | None
    loading_rate_gps: float | None
    length_m: float
    clearance_m: float
    ic_rotation_s: float | None = None
    """End of the terminal-swing dorsiflexion (``gyr_ml`` turning positive) shortly before the
    impact: the initial contact of a walking stride (docs/metrics.md)."""
    rested: bool = True
    """Both anchors at rest: the zero-velocity update holds, so the length is trusted."""


def _rotation_reversal_s(
    gml: FloatArray,
    tt: FloatArray,
    ms: np.ndarray,
    ici: np.ndarray,
    ic_s: FloatArray,
    window_s: float,
) -> FloatArray:
    """Per row, the last time ``gml`` turns from negative (toes rising) to non-negative between
    mid-swing and the impact onset sample ``ici``, no more than ``window_s`` before the impact
    time ``ic_s`` (linear interpolation of the zero crossing); NaN where there is none."""
    rows = np.arange(len(gml))
    j = np.arange(gml.shape[1] - 1)[None, :]
    cross = (gml[:, :-1] < 0.0) & (gml[:, 1:] >= 0.0)
    cross &= (j >= ms[:, None]) & (j + 1 <= (ici - 1)[:, None])
    cross &= (ic_s[:, None] - tt[:, :-1]) <= window_s
    last = cross.shape[1] - 1 - np.argmax(cross[:, ::-1], axis=1)
    g0, g1 = gml[rows, last], gml[rows, last + 1]
    t0, t1 = tt[rows, last], tt[rows, last + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        tc = t0 + (t1 - t0) * (-g0) / (g1 - g0)
    return np.where(cross.any(axis=1) & (window_s > 0), tc, np.nan)


def _joined_block(a: _Segment, b: _Segment) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Samples of two consecutive segments of a run (they share the anchor row)."""
    return (
        np.concatenate([a.t[:-1], b.t]),
        np.concatenate([a.acc[:-1], b.acc]),
        np.concatenate([a.gyr[:-1], b.gyr]),
    )


def _flat_rows(rest_foot: FloatArray, max_tilt_deg: float) -> np.ndarray:
    """Rows of rest specific force (foot frame) within ``max_tilt_deg`` of the up axis (the
    kernel's foot-flat check, :mod:`gaitcoach.gait.kernel`)."""
    cos_tilt = np.cos(np.radians(max_tilt_deg))
    return rest_foot[:, 2] >= cos_tilt * np.linalg.norm(rest_foot, axis=1)


def _rotate_rows(r: FloatArray, v: FloatArray) -> FloatArray:
    """``v @ r.T`` element-wise (bit-identical whatever the number of rows, unlike BLAS)."""
    out = np.empty_like(v)
    for j in range(3):
        out[..., j] = r[j, 0] * v[..., 0] + r[j, 1] * v[..., 1] + r[j, 2] * v[..., 2]
    return out


class FootAnalyzer:
    """Streaming stride analysis of one foot.

    Method
    ------
    1. Input checks (:mod:`gaitcoach.gait.checks`) and gap handling: a time step above
       ``max_dt_factor`` sample periods, a :class:`~gaitcoach.types.Gap`, or skipped samples
       end the current run; its stride in progress is dropped and a gap reported.
    2. Stance anchors: local minima of the running-maximum gyro norm (orientation-free, so
       it works before alignment), grouped into stance phases separated by swings.
    3. Segments from the last anchor of one stance to the first anchor of the next are
       aligned to the foot frame (:class:`~gaitcoach.gait.alignment.SensorAlignment`),
       integrated with ZUPT and searched for events, one segment at a time in the compiled
       kernel :mod:`gaitcoach.gait.kernel` (the algorithms of :mod:`gaitcoach.gait.strapdown`
       and :mod:`gaitcoach.gait.events`, which remain the vectorised reference).
    4. Two consecutive segments make a stride: IC (end of the first), TO and the next IC
       (second); spatial values from the second, strike and impact at the first IC.

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
        Every stride record emitted so far, in order.
    gaps_
        Gaps reported or detected (timestamp jumps, skipped samples), in order.
    rejected_
        Counters of flagged and skipped samples.
    segments_
        Every segment result (events per swing), in order.
    rate_hz_
        Nominal sample rate (from the first timestamps), None before.
    alignment_
        Sensor-to-foot alignment once estimated.
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
        self.strides_: list[StrideRecord] = []
        self.gaps_: list[Gap] = []
        self.segments_: list[SegmentResult] = []
        self.rate_hz_: float | None = None
        self.alignment_: SensorAlignment | None = None
        self._horizon_s = -np.inf
        self._ics: list[float] = []
        self._last_ic: float | None = None
        self._checker = InputChecker(config)
        self._probe: list[tuple[FloatArray, FloatArray, FloatArray]] = []
        self._probe_n = 0
        self._run = 0
        self._buf = self._new_buffer()
        self._last_t: float | None = None
        self._scan = 0
        self._anchor_prev: int | None = None
        self._anchor_prev_rested = False
        self._stance = 0
        self._stance_shift = (0, 0)
        """(run, stances inserted so far in that run by cutting segments at missed stances)."""
        self._pending: list[_Segment] = []
        self._last_result: SegmentResult | None = None
        self._d = 0
        self._h = 0
        self._hf = 0
        self._dw = 0
        self._dq = 0
        self._need_break = False

    def _new_buffer(self) -> SampleBuffer:
        return SampleBuffer(self.config.stance_max_gyr_radps, self.config.stance_max_acc_mps2)

    @property
    def rejected_(self) -> RejectCounts:
        return self._checker.counts

    @property
    def horizon_s_(self) -> float:
        if self._pending:
            return min(self._horizon_s, self._pending[0].t[0])
        return self._horizon_s

    def ic_times(self) -> list[float]:
        """Sorted initial contacts found so far (final up to ``horizon_s_``)."""
        return self._ics

    # ------------------------------------------------------------------ input
    def push(self, chunk: ImuChunk) -> list[StrideRecord]:
        """Add consecutive samples; return the strides they complete."""
        if chunk.foot is not self.foot:
            raise GaitInputError(f"chunk of foot {chunk.foot} pushed to the {self.foot} analyzer")
        if len(chunk) == 0:
            return []
        self._checker.check_units(chunk)
        checked = self._checker.check(chunk)
        n_before = len(self.strides_)
        cuts = [0, *checked.breaks, len(checked.t_s)]
        for i, (a, b) in enumerate(itertools.pairwise(cuts)):
            if i > 0 or (checked.breaks and checked.breaks[0] == 0 and a == 0):
                self._need_break = True
            if b > a:
                self._feed(checked.t_s[a:b], checked.acc_mps2[a:b], checked.gyr_radps[a:b])
        self._buf.detach()  # the chunk's arrays belong to the caller
        return self.strides_[n_before:]

    def push_gap(self, gap: Gap) -> None:
        """Samples were lost: the stride in progress is dropped, the gap recorded."""
        if gap.foot is not self.foot:
            raise GaitInputError(f"gap of foot {gap.foot} pushed to the {self.foot} analyzer")
        if not gap.end_s >= gap.start_s:
            raise GaitInputError(f"gap ends before it starts: {gap}")
        self.gaps_.append(gap)
        if self._last_t is None or gap.end_s > self._last_t:
            self._end_run()
        self._horizon_s = max(self._horizon_s, gap.end_s)

    def finish(self) -> list[StrideRecord]:
        """End of data: anchors near the end are decided without their right context; return
        the strides this completes."""
        n_before = len(self.strides_)
        if self.rate_hz_ is not None and self._buf.end > 0:
            self._scan_anchors(final=True)
        self._end_run()
        chosen = self._alignment_segments(final=True) if self.alignment_ is None else []
        if chosen:
            self._align(chosen)
        if self.alignment_ is not None:
            self._process_pending(final=True)
        self._horizon_s = np.inf
        return self.strides_[n_before:]

    # ------------------------------------------------------------------ runs
    def _end_run(self) -> None:
        if self._last_t is not None:
            self._horizon_s = max(self._horizon_s, self._last_t)
        self._run += 1
        self._buf = self._new_buffer()
        self._scan = 0
        self._anchor_prev = None
        self._last_result = None
        self._stance = 0

    def _feed(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> None:
        if self.rate_hz_ is None:
            self._probe_n += len(t)
            if self._probe_n < self.config.rate_probe_samples:
                # Kept past this call: a copy (the chunk's arrays belong to the caller).
                self._probe.append((t.copy(), acc.copy(), gyr.copy()))
                return
            self._probe.append((t, acc, gyr))
            if len(self._probe) == 1:
                tt, aa, gg = self._probe[0]
            else:
                tt = np.concatenate([p[0] for p in self._probe])
                aa = np.concatenate([p[1] for p in self._probe])
                gg = np.concatenate([p[2] for p in self._probe])
            self._probe = []
            # Exactly the first N timestamps decide, whatever the chunking.
            m = self.config.rate_probe_samples
            self.rate_hz_ = float(1.0 / np.median(np.diff(tt[:m])))
            self._d = max(2, round(self.config.stance_window_s * self.rate_hz_))
            self._h = max(1, round(self.config.energy_window_s * self.rate_hz_))
            self._hf = max(self._h, round(self.config.stance_relaxed_lead_s * self.rate_hz_))
            self._dw = max(2, round(self.config.stance_relaxed_window_s * self.rate_hz_))
            self._dq = round(self.config.stance_relaxed_rest_s * self.rate_hz_)
            t, acc, gyr = tt, aa, gg
        if self._need_break:
            self._need_break = False
            if self._last_t is not None:
                self._report_gap(self._last_t, float(t[0]), "bad samples skipped")
        max_dt = self.config.max_dt_factor / self.rate_hz_
        prev = self._last_t if self._last_t is not None else t[0]
        dts = np.diff(t, prepend=prev)
        jumps = np.flatnonzero(dts > max_dt)
        start = 0
        for j in (*jumps.tolist(), len(t)):
            if j > start:
                self._buf.append(t[start:j], acc[start:j], gyr[start:j])
                self._last_t = float(t[j - 1])
                self._scan_anchors()
            if j < len(t):
                self._report_gap(float(prev if j == 0 else t[j - 1]), float(t[j]), "time jump")
            start = j

    def _report_gap(self, start_s: float, end_s: float, reason: str) -> None:
        assert self.rate_hz_ is not None
        lost = max(0, round((end_s - start_s) * self.rate_hz_) - 1)
        self.gaps_.append(Gap(self.foot, start_s, end_s, lost, reason))
        self._end_run()

    # ------------------------------------------------------------------ anchors
    def _scan_anchors(self, final: bool = False) -> None:
        buf, d, h, hf, dw, dq = self._buf, self._d, self._h, self._hf, self._dw, self._dq
        look = d
        back = max(d, dw, dq)
        gate = max(1.0, self.config.stance_relaxed_energy)
        hi = buf.end if final else buf.end - look - hf
        lo = self._scan
        if hi <= lo:
            return
        if buf.energy(max(0, lo - h), min(buf.end, hi + h)).min() >= gate:
            # Every candidate's running-max energy is at least its raw energy: none can be an
            # anchor (the foot is swinging); skip the filters.
            self._scan = hi
            return
        a0 = max(buf.base, lo - back - h)
        en = buf.energy(a0, buf.end)
        anchors, rested = find_anchors(en, h, hf, lo - a0, hi - a0, d, dw, dq, gate)
        if self._anchor_prev is None:
            # The run's first anchor: a foot hanging still before its landing may be it (the
            # lead rule keeps a hang from ending the segment before its landing; here there
            # is no segment before it, and the one after it holds the landing).
            until = anchors[0] if len(anchors) else hi - a0
            early, early_rested = find_anchors(en, h, h, lo - a0, until, d, dw, dq, gate)
            if len(early) and (not len(anchors) or early[0] < anchors[0]):
                anchors = np.concatenate([early[:1], anchors])
                rested = np.concatenate([early_rested[:1], rested])
        self._scan = hi
        if len(anchors):
            self._on_anchors(anchors + a0, rested)
        # All segments completed by this data are measured in one kernel call.
        self._process_pending()
        if self._pending:
            # Still waiting for the alignment: copy their samples out (the buffer moves on).
            copies: dict[int, tuple[FloatArray, FloatArray, FloatArray]] = {}
            for seg in self._pending:
                if seg.block[0].base is not None:
                    key = id(seg.block)
                    if key not in copies:
                        copies[key] = (
                            seg.block[0].copy(),
                            seg.block[1].copy(),
                            seg.block[2].copy(),
                        )
                    seg.block = copies[key]
        # Keep what later anchors and segments still need.
        keep = min(
            self._scan - back - h, self._anchor_prev if self._anchor_prev is not None else hi
        )
        buf.drop_before(max(keep - h, buf.base))
        if self._anchor_prev is not None:
            t_anchor = float(buf.t(self._anchor_prev, self._anchor_prev + 1)[0])
            self._horizon_s = max(self._horizon_s, t_anchor)

    def _on_anchors(self, anchors: np.ndarray, rested: np.ndarray) -> None:
        """New stance anchors (run indices, in order): queue the segments they close."""
        buf, cfg = self._buf, self.config
        t, acc, gyr, gn, en = buf.views()
        base = buf.base
        prev = -1 if self._anchor_prev is None else self._anchor_prev - base
        bounds, rest_start, rest_end, prev, prev_rested, self._stance = segment_bounds(
            t,
            gn,
            en,
            acc,
            anchors - base,
            rested,
            prev,
            self._anchor_prev_rested,
            self._stance,
            swing_min_gyr_radps=cfg.swing_min_gyr_radps,
            max_stride_s=cfg.max_stride_s,
            h=self._h,
        )
        self._anchor_prev, self._anchor_prev_rested = prev + base, prev_rested
        if not len(bounds):
            return
        lo, hi = int(bounds[0, 0]), int(bounds[-1, 1])
        # Views of the buffer: measured before it changes, or detached (``_scan_anchors``).
        tc, ac, gc = t[lo:hi], acc[lo:hi], gyr[lo:hi]
        run, block = self._run, (tc, ac, gc)
        self._pending.extend(
            _Segment(run, stance, block, p - lo, a - lo, rs, re, both == 1)
            for (p, a, stance, both), rs, re in zip(
                bounds.tolist(), rest_start.tolist(), rest_end.tolist(), strict=True
            )
        )

    # ------------------------------------------------------------------ segments
    def _process_pending(self, final: bool = False) -> None:
        if self.alignment_ is None:
            chosen = self._alignment_segments(final=False)
            if not chosen:
                return
            self._align(chosen)
        segs, self._pending = self._pending, []
        if not segs:
            return
        # A segment that may be joined to the next one waits for it (already split).
        held = [segs.pop(0)] if segs[0].swings >= 0 else []
        segs = self._merge([*held, *(self._split(segs) if segs else [])])
        if not final and segs and self._may_join(segs[-1]):
            self._pending = [segs.pop()]
        if segs:
            for seg, res in zip(segs, self._measure(segs)[0], strict=True):
                if seg.swings != 1:
                    # No swing: an anchor inside a swing; too many to cut: not a stride.
                    res = dataclasses.replace(res, to_s=None, ic_s=None)
                self._assemble(res)

    def _may_join(self, seg: _Segment) -> bool:
        """The segment's end anchor is no stance, seen from the segment alone: it holds the
        push-off but no swing (the anchor fell inside the swing), or the swing but its end
        is not foot-flat (the anchor fell in the late swing, before the landing)."""
        if seg.joinable is None:
            if seg.swings == 0:
                seg.joinable = self._holds_push_off(seg)
            else:
                seg.joinable = seg.swings == 1 and bool(self._no_stance_end([seg])[0])
        return seg.joinable

    def _no_stance_end(self, segs: list[_Segment]) -> np.ndarray:
        """Per segment: its end anchor is no stance. Not foot-flat (the foot in the air), or
        in a toes-up run (a foot that never rests can be stillest just after its toe-off,
        already turning into the next swing)."""
        assert self.alignment_ is not None
        r = self.alignment_.r_fs_
        rest = _rotate_rows(r, np.array([s.rest_end for s in segs]))
        gml = _rotate_rows(r, np.array([s.gyr[-1] for s in segs]))[:, 1]
        flat = _flat_rows(rest, self.config.flat_max_tilt_deg)
        return ~flat | (gml < -self.config.swing_rate_radps)

    def _recut(self, seg: _Segment, nxt: _Segment) -> list[_Segment]:
        """Two one-swing segments whose shared anchor is no stance (:meth:`_no_stance_end`):
        cut them again at the stance between the two swings (as :meth:`_split` does), so the
        IC falls in the first and the toe-off in the second. Empty if the cut is not made."""
        block = _joined_block(seg, nxt)
        t, acc, gyr = block
        counts, cuts, rests, mids = self._split_swings(
            t, acc, gyr, np.array([0]), np.array([len(t)])
        )
        if counts[0] != 2 or cuts[0, 0] < 0:
            return []
        c = int(cuts[0, 0])
        rest = rests[0, 0].tolist()
        first = _Segment(seg.run, seg.stance, block, 0, c + 1, seg.rest_start, rest, False)
        second = _Segment(nxt.run, nxt.stance, block, c, len(t), rest, nxt.rest_end, False)
        first.swings = second.swings = 1
        first.swing_mid, second.swing_mid = int(mids[0, 0]), int(mids[0, 1])
        return [first, second]

    def _merge(self, segs: list[_Segment]) -> list[_Segment]:
        """Join a segment to the next one where the anchor between them is no stance (a
        pause of the rotation the anchor rules took for one): the push-off piece to the swing
        that follows it, or the swing to the landing piece that follows it; the two make the
        whole stride. A piece without a swing and without the push-off holds a landing: its
        start anchor is the one in the air (e.g. in the first step from standing), and it is
        not joined forward (that would pair the wrong contact with the stride)."""
        out: list[_Segment] = []
        # A recut's second piece and a joined segment end where the second segment ends, so
        # its entry holds for them too.
        no_stance = self._no_stance_end(segs).tolist() if segs else []
        i = 0
        while i < len(segs):
            seg = segs[i]
            nxt = segs[i + 1] if i + 1 < len(segs) else None
            if (
                nxt is not None
                and no_stance[i]
                and seg.swings == nxt.swings == 1
                and nxt.run == seg.run
                and nxt.stance == seg.stance + 1
                and nxt.t[0] == seg.t[-1]
            ):
                pieces = self._recut(seg, nxt)
                if pieces:
                    # The second piece may join the next segment in turn (as it would when
                    # streaming, where it can be the held one).
                    out.append(pieces[0])
                    segs[i + 1] = pieces[1]
                    i += 1
                    continue
            if (
                nxt is None
                or {seg.swings, nxt.swings} != {0, 1}
                or nxt.run != seg.run
                or nxt.stance != seg.stance + 1
                or nxt.t[0] != seg.t[-1]
                or nxt.t[-1] - seg.t[0] > self.config.max_stride_s
                or not self._may_join(seg)
            ):
                out.append(seg)
                i += 1
                continue
            block = _joined_block(seg, nxt)
            merged = _Segment(
                seg.run, seg.stance, block, 0, len(block[0]), seg.rest_start, nxt.rest_end, False
            )
            merged.swings = 1
            if seg.swings == 1:
                merged.swing_mid = seg.ic_from
            elif nxt.swing_mid >= 0:
                merged.swing_mid = len(seg.t) - 1 + nxt.ic_from
            for later in segs[i + 2 :]:
                if later.run == seg.run:
                    later.stance -= 1
            run, shift = self._stance_shift
            if run == seg.run:
                self._stance_shift = (run, shift - 1)
            # Examined again with the next segment, as when it is the held one streaming.
            segs[i + 1] = merged
            i += 1
        return out

    def _holds_push_off(self, seg: _Segment) -> bool:
        """A toes-down run (the swing rule with the sign turned) of at least
        ``push_off_min_rotation_deg``: heel-off to toe-off turns the foot by 40-75 deg, the
        foot slap after a heel strike by 30 deg at most."""
        assert self.alignment_ is not None
        cfg = self.config
        runs = rotation_runs(
            seg.t,
            seg.gyr,
            -self.alignment_.r_fs_[1],
            rate_radps=cfg.swing_rate_radps,
            bridge_s=cfg.swing_bridge_s,
            min_rotation_rad=np.radians(cfg.push_off_min_rotation_deg),
        )
        return runs >= 1

    def _split_swings(
        self, t: FloatArray, acc: FloatArray, gyr: FloatArray, starts: np.ndarray, stops: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, FloatArray, np.ndarray]:
        """:func:`~gaitcoach.gait.kernel.split_swings` with this analyzer's settings."""
        assert self.alignment_ is not None
        cfg = self.config
        return split_swings(
            t,
            acc,
            gyr,
            starts,
            stops,
            self.alignment_.r_fs_,
            rate_radps=cfg.swing_rate_radps,
            bridge_s=cfg.swing_bridge_s,
            min_rotation_rad=np.radians(cfg.swing_min_rotation_deg),
            min_piece_s=cfg.min_stride_s,
            gyr_scale=cfg.stance_max_gyr_radps,
            acc_scale=cfg.stance_max_acc_mps2,
            h=self._h,
        )

    def _split(self, segs: list[_Segment]) -> list[_Segment]:
        """Cut segments holding several swings at the stances between them (missed anchors),
        renumbering the stances that follow in the run."""
        t_all, acc_all, gyr_all, starts, stops = self._gather(segs)
        counts, cuts, rests, mids = self._split_swings(t_all, acc_all, gyr_all, starts, stops)
        # Block rows; the first swing's middle (a later toes-up run that was not cut off is the
        # heel drop after a forefoot landing, which follows the IC).
        offset = np.array([s.lo for s in segs]) - starts
        first_mid = np.where(mids[:, 0] >= 0, mids[:, 0] + offset, -1).tolist()
        cut_any = (cuts[:, 0] >= 0).tolist()
        out: list[_Segment] = []
        run, shift = self._stance_shift
        for k, seg in enumerate(segs):
            if run != seg.run:
                run, shift = seg.run, 0
            seg.stance += shift
            seg.swings = int(counts[k])
            if not cut_any[k]:
                if seg.swings == 1:
                    seg.swing_mid = first_mid[k]
                out.append(seg)
                continue
            ks = [c + int(offset[k]) for c in cuts[k].tolist() if c >= 0]
            sw = [c + int(offset[k]) for c in mids[k].tolist() if c >= 0]
            bounds = [seg.lo, *ks, seg.hi - 1]
            rest = [seg.rest_start, *rests[k, : len(ks)].tolist(), seg.rest_end]
            for j in range(len(bounds) - 1):
                piece = _Segment(
                    seg.run,
                    seg.stance + j,
                    seg.block,
                    bounds[j],
                    bounds[j + 1] + 1,
                    rest[j],
                    rest[j + 1],
                    False,
                )
                piece.swings = 1
                piece.swing_mid = min(
                    (m for m in sw if bounds[j] <= m <= bounds[j + 1]), default=-1
                )
                out.append(piece)
            shift += len(ks)
        self._stance_shift = (run, shift)
        return out

    def _alignment_segments(self, final: bool) -> list[_Segment]:
        """Segments to align with, chosen by content only (so streaming equals batch): the
        first ``align_stances`` whose anchors are at rest among the first four times as
        many; if those have fewer (a foot that never rests), all of them; at the end of data,
        what there is (at least two). Empty: wait for more."""
        n = self.config.align_stances
        head = self._pending[: 4 * n]
        rested = [s for s in head if s.rested]
        if len(rested) >= n:
            return rested[:n]
        if len(head) >= 4 * n:
            return head
        if final:
            return rested if len(rested) >= 2 else head[:n] if len(head) >= 2 else []
        return []

    def _align(self, segs: list[_Segment]) -> None:
        cfg = self.config
        rest = np.array([s.rest_start for s in segs] + [s.rest_end for s in segs])
        swing = np.concatenate(
            [s.gyr[np.linalg.norm(s.gyr, axis=1) > cfg.swing_min_gyr_radps] for s in segs]
        )
        alignment = SensorAlignment().estimate(rest, swing)
        self.alignment_ = alignment
        _, forward_m = self._measure(segs)
        if np.median(forward_m) < 0:
            alignment.flip()

    @staticmethod
    def _gather(
        segs: list[_Segment],
    ) -> tuple[FloatArray, FloatArray, FloatArray, np.ndarray, np.ndarray]:
        """The segments' samples as one set of arrays (the blocks they were copied in, each
        once) and each segment's start and stop row in them."""
        blocks: dict[int, int] = {}
        parts: list[tuple[FloatArray, FloatArray, FloatArray]] = []
        size = 0
        starts = np.empty(len(segs), np.int64)
        for i, seg in enumerate(segs):
            at = blocks.get(id(seg.block))
            if at is None:
                at = blocks[id(seg.block)] = size
                parts.append(seg.block)
                size += len(seg.block[0])
            starts[i] = at + seg.lo
        stops = starts + np.fromiter((s.hi - s.lo for s in segs), np.int64, len(segs))
        if len(parts) == 1:
            return (*parts[0], starts, stops)
        return (
            np.concatenate([b[0] for b in parts]),
            np.concatenate([b[1] for b in parts]),
            np.concatenate([b[2] for b in parts]),
            starts,
            stops,
        )

    def _measure(self, segs: list[_Segment]) -> tuple[list[SegmentResult], FloatArray]:
        """Results per segment, and each segment's displacement toward the toes (m): the
        compiled kernel (:mod:`gaitcoach.gait.kernel`), one segment at a time."""
        assert self.alignment_ is not None and self.rate_hz_ is not None
        cfg = self.config
        t_all, acc_all, gyr_all, starts, stops = self._gather(segs)
        out = measure_segments(
            t_all,
            acc_all,
            gyr_all,
            starts,
            stops,
            np.array([s.rest_start for s in segs]),
            np.array([s.rest_end for s in segs]),
            self.alignment_.r_fs_,
            flat_max_tilt_deg=cfg.flat_max_tilt_deg,
            impact_onset_fraction=cfg.impact_onset_fraction,
            toe_speed_levels_mps=cfg.toe_speed_levels_mps,
            heel_off_fraction=cfg.heel_off_fraction,
            impact_window_samples=max(1, round(cfg.impact_window_s * self.rate_hz_)),
            walking_ic_window_s=cfg.walking_ic_window_s,
            ic_from=np.fromiter((s.ic_from for s in segs), np.int64, len(segs)),
        )
        results = [
            SegmentResult(
                seg.run,
                seg.stance,
                start,
                end,
                None if to != to else to,
                ms,
                None if ic != ic else ic,
                None if st != st else st,
                None if pk != pk else pk,
                None if lr != lr else lr,
                ln,
                cl,
                None if ir != ir else ir,
                seg.rested,
            )
            for seg, (start, end, to, ms, ic, st, pk, lr, ln, cl, ir, _) in zip(
                segs, out.tolist(), strict=True
            )
        ]
        return results, out[:, 11]

    def _measure_reference(self, segs: list[_Segment]) -> tuple[list[SegmentResult], FloatArray]:
        """:meth:`_measure` in vectorised numpy over padded segments (the readable reference
        the kernel is tested against; same results up to rounding)."""
        assert self.alignment_ is not None and self.rate_hz_ is not None
        r = self.alignment_.r_fs_
        n = np.array([len(s.t) for s in segs])
        s_count, length = len(segs), int(n.max())
        acc = np.zeros((s_count, length, 3))
        gyr = np.zeros((s_count, length, 3))
        dt = np.zeros((s_count, length))
        rows_i = np.repeat(np.arange(s_count), n)
        cols_i = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        tt = np.zeros((s_count, length))
        tt[rows_i, cols_i] = np.concatenate([s.t for s in segs])
        acc[rows_i, cols_i] = _rotate_rows(r, np.concatenate([s.acc for s in segs]))
        gyr[rows_i, cols_i] = _rotate_rows(r, np.concatenate([s.gyr for s in segs]))
        dt[:, 1:] = np.diff(tt, axis=1)
        dt[np.arange(length)[None, :] >= n[:, None]] = 0.0
        rest = _rotate_rows(r, np.array([s.rest_start for s in segs]))
        rest_end = _rotate_rows(r, np.array([s.rest_end for s in segs]))
        # A real stance has the foot flat: its rest specific force points up the foot's si
        # axis. A pause of the rotation in a slow swing does not; its events are dropped.
        flat_start = _flat_rows(rest, self.config.flat_max_tilt_deg)
        flat_end = _flat_rows(rest_end, self.config.flat_max_tilt_deg)
        traj = integrate(acc, gyr, dt, n, rest)
        cfg = self.config
        ic_from = np.array([s.ic_from for s in segs])
        ev = detect_events(acc, gyr, norm3(traj.vel_mps), n, cfg.impact_onset_fraction, dt, ic_from)
        q_inv = traj.quat * np.array([1.0, -1.0, -1.0, -1.0])
        vel_foot = rotate(q_inv, traj.vel_mps)
        to_pos, _ = toe_off_from_pivot(
            gyr, vel_foot, n, ev.ms, ev.to, cfg.toe_speed_levels_mps, cfg.heel_off_fraction
        )
        rows = np.arange(s_count)
        last = n - 1
        end_pos = traj.pos_m[rows, last]
        length_m = np.hypot(end_pos[:, 0], end_pos[:, 1])
        # Height relative to the start, de-drifted so the foot ends where it started (level).
        t_rel = np.cumsum(dt, axis=1)
        frac = t_rel / np.maximum(t_rel[rows, last], 1e-9)[:, None]
        z = traj.pos_m[..., 2] - frac * end_pos[:, 2:3]
        valid = np.arange(length)[None, :] < n[:, None]
        clearance = np.where(valid, z, -np.inf).max(axis=1)
        # Strike angle: toes direction at IC seen from the flat foot at the end anchor.
        # Orientation at the last sample before the impact (the foot as it lands).
        ic = np.clip(ev.ic - 1, 0, None)
        q_ic = traj.quat[rows, ic]
        q_end = traj.quat[rows, last]
        q_end_inv = q_end * np.array([1.0, -1.0, -1.0, -1.0])
        toes = rotate(q_end_inv, rotate(q_ic, np.tile([1.0, 0.0, 0.0], (s_count, 1))))
        strike = np.degrees(np.arctan2(toes[:, 2], np.hypot(toes[:, 0], toes[:, 1])))
        acc_g = norm3(acc) / G_MPS2
        win = max(1, round(self.config.impact_window_s * self.rate_hz_))
        # Impact and times, vectorised over rows (same element-wise arithmetic per row).
        has_ic = (ev.ic > 0) & flat_end
        ici = np.clip(ev.ic, 1, None)
        ic_arr = 0.5 * (tt[rows, ici - 1] + tt[rows, ici])
        col = np.arange(length)[None, :]
        in_win = (col >= (ici - 1)[:, None]) & (col <= (ici + win)[:, None]) & (col < n[:, None])
        j_abs = np.argmax(np.where(in_win, acc_g, -np.inf), axis=1)
        peak = acc_g[rows, j_abs]
        rise_s = tt[rows, j_abs] - ic_arr
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (peak - acc_g[rows, ici - 1]) / rise_s
        has_rate = has_ic & (j_abs > ici - 1)
        has_to = np.isfinite(to_pos) & flat_start
        k = np.clip(np.where(has_to, to_pos, 0.0).astype(np.int64), 0, length - 1)
        k1 = np.minimum(k + 1, n - 1)
        frac = np.where(has_to, to_pos, 0.0) - k
        to_arr = tt[rows, k] + frac * (tt[rows, k1] - tt[rows, k])
        ms_arr = tt[rows, ev.ms]
        ic_rot = _rotation_reversal_s(gyr[..., 1], tt, ev.ms, ici, ic_arr, cfg.walking_ic_window_s)
        out: list[SegmentResult] = []
        for i, seg, hi_, ic_v, pk, hr, rt, ht, to_v, ms_v, st, ln, cl, ir in zip(
            range(s_count),
            segs,
            has_ic.tolist(),
            ic_arr.tolist(),
            peak.tolist(),
            has_rate.tolist(),
            rate.tolist(),
            has_to.tolist(),
            to_arr.tolist(),
            ms_arr.tolist(),
            strike.tolist(),
            length_m.tolist(),
            clearance.tolist(),
            ic_rot.tolist(),
            strict=True,
        ):
            out.append(
                SegmentResult(
                    run=seg.run,
                    stance=seg.stance,
                    start_s=float(seg.t[0]),
                    end_s=float(seg.t[n[i] - 1]),
                    to_s=to_v if ht else None,
                    ms_s=ms_v,
                    ic_s=ic_v if hi_ else None,
                    strike_deg=st if hi_ else None,
                    peak_impact_g=pk if hi_ else None,
                    loading_rate_gps=rt if hr else None,
                    length_m=ln,
                    clearance_m=cl,
                    ic_rotation_s=ir if hi_ and ir == ir else None,
                    rested=seg.rested,
                )
            )
        return out, end_pos[:, 0]

    def _assemble(self, res: SegmentResult) -> None:
        self.segments_.append(res)
        prev, self._last_result = self._last_result, res
        prev_ic, self._last_ic = self._last_ic, res.ic_s
        stride_rec = self._stride(prev, res, prev_ic)
        if stride_rec is not None:
            self._last_ic = stride_rec.end_ic_s
            self.strides_.append(stride_rec)
        if self._last_ic is not None:
            self._ics.append(self._last_ic)

    def _stride(
        self, prev: SegmentResult | None, res: SegmentResult, prev_ic: float | None
    ) -> StrideRecord | None:
        """The stride from ``prev``'s contact (final time ``prev_ic``) to ``res``'s, if valid."""
        cfg = self.config
        if prev is None or prev.run != res.run or prev.stance + 1 != res.stance:
            return None
        if prev.ic_s is None or prev_ic is None or res.to_s is None or res.ic_s is None:
            return None
        ic, to, end = prev.ic_s, res.to_s, res.ic_s
        stride = end - ic
        if not (ic < to < end and cfg.min_stride_s <= stride <= cfg.max_stride_s):
            return None
        if res.rested and res.length_m < cfg.min_stride_length_m:
            # Shuffling on the spot (with relaxed anchors the ZUPT does not hold and the
            # length is not trusted; the one-swing rule already asks for a real swing).
            return None
        walking = (to - ic) / stride >= cfg.running_max_duty
        if walking and res.ic_rotation_s is not None:
            # Walking: the heel touches down as the terminal-swing dorsiflexion ends, some
            # 20 ms before the impact transient (docs/metrics.md).
            end = res.ic_rotation_s
        ic = prev_ic
        stride = end - ic
        if not (ic < to < end):
            return None
        contact = to - ic
        speed = res.length_m / stride
        angle = prev.strike_deg
        pattern = (
            classify_strike(angle, cfg.rearfoot_above_deg, cfg.forefoot_below_deg)
            if angle is not None
            else None
        )
        activity = Activity.WALKING if walking else Activity.RUNNING
        return StrideRecord(
            foot=self.foot,
            index=len(self.strides_),
            ic_s=ic,
            to_s=to,
            end_ic_s=end,
            contact_time_s=contact,
            swing_time_s=end - to,
            stride_time_s=stride,
            cadence_spm=120.0 / stride,
            activity=activity,
            stride_length_m=res.length_m,
            speed_mps=speed,
            clearance_m=res.clearance_m,
            foot_strike_angle_deg=angle,
            strike_pattern=pattern,
            peak_impact_g=prev.peak_impact_g,
            loading_rate_gps=prev.loading_rate_gps,
            overstride_m=overstride_m(
                speed,
                contact,
                angle,
                self.leg_length_m,
                cfg.overstride_base_fraction,
                cfg.overstride_angle_gain,
            ),
        )
