"""Input checks: bad samples are counted and skipped (or flagged), never passed on silently.

The checks are causal and per sample, so the same samples are kept whatever the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.gait.config import GaitConfig
from gaitcoach.gait.kernels import finite_max_abs, scan_clean
from gaitcoach.types import FloatArray, ImuChunk


class GaitInputError(ValueError):
    """Input the engine cannot use at all (for example data in the wrong units)."""


@dataclass
class RejectCounts:
    """Counters of flagged or skipped samples of one foot."""

    non_finite: int = 0
    """Samples with NaN or infinite values (skipped; the stride in progress restarts)."""
    non_monotonic: int = 0
    """Samples whose timestamp is not after the previous one (skipped)."""
    stuck: int = 0
    """Samples of a run of identical 6-axis readings away from rest (a stuck sensor; skipped)."""
    saturated: int = 0
    """Samples at the sensor's full scale (kept and flagged: impact peaks are lower bounds)."""
    wrong_units: int = 0
    """Chunks refused because their values cannot be m/s^2 and rad/s."""

    @property
    def skipped(self) -> int:
        return self.non_finite + self.non_monotonic + self.stuck


@dataclass(frozen=True, slots=True)
class CheckedSamples:
    """The samples of a chunk that passed, and where the stream must restart."""

    t_s: FloatArray
    acc_mps2: FloatArray
    gyr_radps: FloatArray
    breaks: list[int]
    """Indices (into the kept samples) before which the stride in progress must be reset."""
    skipped_to_s: float | None = None
    """When the chunk ends in skipped samples with sound timestamps (a stuck sensor): the last
    of those times. The stream is known up to it, and the stride restarts after it."""


class InputChecker:
    """Causal per-sample checks of one pod's stream (state carried across chunks)."""

    def __init__(self, config: GaitConfig) -> None:
        self.config = config
        self.counts = RejectCounts()
        self._last_t = -np.inf
        self._last_raw: FloatArray | None = None
        self._run = 0
        self._units_probe: list[FloatArray] = []
        self._units_error: str | None = None
        self._units_done = False
        self._pending_break = False
        self._scan: (
            tuple[FloatArray, FloatArray, FloatArray, tuple[bool, bool, float, float, int, int]]
            | None
        ) = None

    UNITS_PROBE_SAMPLES = 256
    """Samples (about a second or more) whose median |acc| tells m/s^2 from g."""
    UNITS_MIN_SAMPLES = 8
    """A shorter stream is too short to judge (and too short to analyze)."""

    def check_units(self, chunk: ImuChunk) -> None:
        """Raise :class:`GaitInputError` if the values cannot be m/s^2 and rad/s.

        Out-of-range values are refused per chunk; the g-versus-m/s^2 decision is taken once
        on the stream's first ``UNITS_PROBE_SAMPLES`` finite samples and then sticks.
        """
        if self._units_error is not None:
            self.counts.wrong_units += 1
            raise GaitInputError(self._units_error)
        cfg = self.config
        acc, gyr = chunk.acc_mps2, chunk.gyr_radps
        # No real sensor reports beyond 1.8 x its full scale on any axis (NaN ignored).
        # One pass serves both checks (the fast path of ``check`` reuses it).
        scan = scan_clean(chunk.t_s, acc, gyr)
        self._scan = (chunk.t_s, acc, gyr, scan)
        finite, _, acc_max, gyr_max, _, _ = scan
        if not finite:
            acc_max, gyr_max = finite_max_abs(acc), finite_max_abs(gyr)
        if acc_max > 1.8 * cfg.acc_full_scale_mps2:
            self.counts.wrong_units += 1
            raise GaitInputError(
                f"{chunk.foot}: acceleration up to {acc_max:.0f} exceeds the "
                f"sensor range ({cfg.acc_full_scale_mps2:.0f} m/s^2): wrong units or scale?"
            )
        if gyr_max > 1.8 * cfg.gyr_full_scale_radps:
            self.counts.wrong_units += 1
            raise GaitInputError(
                f"{chunk.foot}: angular rate up to {gyr_max:.0f} exceeds the "
                f"sensor range ({cfg.gyr_full_scale_radps:.1f} rad/s): deg/s passed as rad/s?"
            )
        # Gravity alone gives 9.8 m/s^2; data in g reads 1-3 even while running (median over
        # a second or more, which always holds stance phases).
        if self._units_done:
            return
        head = acc[: self.UNITS_PROBE_SAMPLES]
        acc_n = np.sqrt((head * head).sum(axis=1))
        self._units_probe.append(acc_n[np.isfinite(acc_n)])
        if sum(len(p) for p in self._units_probe) >= self.UNITS_PROBE_SAMPLES:
            self._decide_units(str(chunk.foot))

    def finish_units(self, foot: object) -> None:
        """End of data: a stream shorter than the probe is judged on what it has (at least
        ``UNITS_MIN_SAMPLES``), so a short recording in g is refused too."""
        if self._units_error is not None:
            raise GaitInputError(self._units_error)
        if (
            not self._units_done
            and sum(len(p) for p in self._units_probe) >= self.UNITS_MIN_SAMPLES
        ):
            self._decide_units(str(foot))

    def _decide_units(self, foot: str) -> None:
        probe = np.concatenate(self._units_probe)[: self.UNITS_PROBE_SAMPLES]
        self._units_done = True
        self._units_probe = []
        median = float(np.median(probe))
        if median < 0.35 * G_MPS2:
            self.counts.wrong_units += 1
            self._units_error = (
                f"{foot}: median |acc| = {median:.2f} over the first {len(probe)} samples, "
                f"expected about {G_MPS2:.1f} m/s^2: acceleration in g passed as m/s^2?"
            )
            raise GaitInputError(self._units_error)

    def check(self, chunk: ImuChunk) -> CheckedSamples:
        cfg = self.config
        t, acc, gyr = chunk.t_s, chunk.acc_mps2, chunk.gyr_radps
        n = len(t)
        clean = self._fast_path(t, acc, gyr)
        if clean is not None:
            return clean
        finite = np.isfinite(t) & np.isfinite(acc).all(axis=1) & np.isfinite(gyr).all(axis=1)
        keep = finite.copy()
        restart = ~finite  # a skipped non-finite sample restarts the stride after it
        # Timestamps: each kept sample must be after the last kept one (running maximum).
        stamps = np.concatenate(([self._last_t], np.where(finite, t, -np.inf)))
        prev_max = np.maximum.accumulate(stamps)
        monotonic = t > prev_max[:-1]
        self.counts.non_finite += int((~finite).sum())
        self.counts.non_monotonic += int((finite & ~monotonic).sum())
        keep &= monotonic
        timed = np.flatnonzero(keep)  # sound timestamps, whatever else is wrong with the sample
        # Stuck sensor: a run of bit-identical 6-axis samples.
        raw = np.concatenate((acc, gyr), axis=1)
        stuck = np.zeros(n, dtype=bool)
        if n:
            prev = np.empty_like(raw)
            prev[0] = self._last_raw if self._last_raw is not None else np.nan
            prev[1:] = raw[:-1]
            same = (raw == prev).all(axis=1)
            run = self._run
            runs = np.empty(n, dtype=np.int64)
            # Run lengths with a carried start: reset where not same.
            idx = np.arange(n)
            reset_at = np.where(~same, idx, -1)
            last_reset = np.maximum.accumulate(reset_at)
            runs = np.where(last_reset >= 0, idx - last_reset + 1, run + idx + 1)
            # Bit-identical samples at rest are a still (or noise-free) sensor, not a fault.
            gyr_n = np.sqrt((gyr * gyr).sum(axis=1))
            acc_dev = np.abs(np.sqrt((acc * acc).sum(axis=1)) - G_MPS2)
            at_rest = (gyr_n < cfg.stance_max_gyr_radps) & (acc_dev < cfg.stance_max_acc_mps2)
            stuck = (runs >= cfg.stuck_samples) & ~at_rest
            self._run = int(runs[-1])
            self._last_raw = raw[-1].copy()
            # the first stuck sample restarts the stride; so does the first good one after
            first_stuck = stuck & ~np.concatenate(([False], stuck[:-1]))
            restart |= first_stuck
        self.counts.stuck += int((stuck & keep).sum())
        keep &= ~stuck
        sat_acc = np.abs(acc) >= cfg.saturation_margin * cfg.acc_full_scale_mps2
        sat_gyr = np.abs(gyr) >= cfg.saturation_margin * cfg.gyr_full_scale_radps
        self.counts.saturated += int(((sat_acc.any(axis=1) | sat_gyr.any(axis=1)) & keep).sum())
        kept_idx = np.flatnonzero(keep)
        if kept_idx.size:
            self._last_t = max(self._last_t, float(t[kept_idx[-1]]))
        # A break lands before the first kept sample after any restart marker.
        # A restart after the last kept sample carries over to the next chunk.
        marks = np.flatnonzero(restart)
        pos = np.searchsorted(kept_idx, marks, side="left")
        found = {int(p) for p in pos if p < kept_idx.size}
        if self._pending_break and kept_idx.size:
            found.add(0)
            self._pending_break = False
        if (pos >= kept_idx.size).any():
            self._pending_break = True
        breaks = sorted(found)
        skipped_to_s = None
        if self._pending_break and timed.size and (not kept_idx.size or timed[-1] > kept_idx[-1]):
            skipped_to_s = float(t[timed[-1]])
        return CheckedSamples(
            t_s=t[kept_idx].astype(np.float64),
            acc_mps2=acc[kept_idx].astype(np.float64),
            gyr_radps=gyr[kept_idx].astype(np.float64),
            breaks=breaks,
            skipped_to_s=skipped_to_s,
        )

    def _fast_path(self, t: FloatArray, acc: FloatArray, gyr: FloatArray) -> CheckedSamples | None:
        """The usual case, checked with a few whole-chunk reductions: all finite, increasing,
        no repeated sample, nothing at full scale. None when any per-sample work is needed."""
        if self._pending_break or self._run >= 2:
            return None  # a run of identical samples continues: count it sample by sample
        cached = self._scan
        self._scan = None
        if cached is not None and cached[0] is t and cached[1] is acc and cached[2] is gyr:
            scan = cached[3]
        else:
            scan = scan_clean(t, acc, gyr)
        finite, increasing, acc_max, gyr_max, longest, run_end = scan
        if not (finite and increasing and t[0] > self._last_t):
            return None
        cfg = self.config
        if (
            acc_max >= cfg.saturation_margin * cfg.acc_full_scale_mps2
            or gyr_max >= cfg.saturation_margin * cfg.gyr_full_scale_radps
        ):
            return None
        if (
            self._last_raw is not None
            and (acc[0] == self._last_raw[:3]).all()
            and (gyr[0] == self._last_raw[3:]).all()
        ):
            return None
        # Identical neighbours happen at rest (quantisation); only long runs are stuck.
        if longest >= cfg.stuck_samples:
            return None
        self._last_t = float(t[-1])
        self._last_raw = np.concatenate((acc[-1], gyr[-1]))
        self._run = run_end
        return CheckedSamples(
            t_s=np.asarray(t, dtype=np.float64),
            acc_mps2=np.asarray(acc, dtype=np.float64),
            gyr_radps=np.asarray(gyr, dtype=np.float64),
            breaks=[],
        )
