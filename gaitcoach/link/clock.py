"""Sensor clock -> host clock mapping with drift estimation (pure, no I/O)."""

from __future__ import annotations

import numpy as np

ENVELOPE_QUANTILE = 0.1


def _robust_line(t: np.ndarray, off: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line through bin minima, refitted without bins far above it (late
    bursts, e.g. a sender that fell behind and caught up): (slope, intercept of the lower
    envelope, mean height of the bin minima above the envelope)."""
    keep = np.ones(t.shape[0], dtype=bool)
    slope, intercept = 0.0, float(np.min(off))
    for _ in range(3):
        tk, ok = t[keep], off[keep]
        tc = tk - tk.mean()
        denom = float(np.dot(tc, tc))
        slope = float(np.dot(tc, ok - ok.mean()) / denom) if denom > 0 else 0.0
        intercept = float(ok.mean() - slope * tk.mean())
        res = off - (intercept + slope * t)
        center = float(np.median(res[keep]))
        spread = 1.4826 * float(np.median(np.abs(res[keep] - center))) + 1e-6
        new_keep = res <= center + 3.0 * spread
        if new_keep.sum() < 2 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    # Lower envelope: move the line from the middle of the bin minima to their low edge (a bin
    # minimum still carries some jitter; the lowest ones are closest to the floor).
    res = off[keep] - (intercept + slope * t[keep])
    low = float(np.quantile(res, ENVELOPE_QUANTILE))
    # Also return how far the average bin minimum lies above that edge.
    return slope, intercept + low, float(np.mean(res)) - low


class SensorClock:
    """Maps a pod's sensor timestamps to host time, estimating offset and drift.

    Method: minimum-delay filtering with a linear fit (the lower envelope of the
    arrival-minus-sensor-time offsets, as in NTP's clock filter, Mills 1991, and
    Paxson 1998, "On calibrating measurements of packet transit times"). Every notification
    gives one pair (sensor time of its last sample, host arrival time). Arrival is that
    instant plus a delay that is never below a floor and jitters above it; the per-bin
    minimum of ``host - sensor`` is therefore close to ``offset + floor`` and a least-squares
    line through the recent bin minima (refitted without bins far above it) gives offset
    and drift. Points below the line pull it
    down at once, so a jitter-free packet is used immediately.

    A pod restart (its clock resets) starts a new *epoch* with :meth:`rebase`: the offset is
    re-learned and the drift, a property of the pod's crystal, is kept until the new epoch
    has enough bins to estimate it again.

    Parameters
    ----------
    bin_s
        Width of the minimum-filter bins in sensor seconds.
    window_bins
        Number of recent bins in the fit (``bin_s * window_bins`` seconds of history).
    min_fit_bins
        Bins needed to estimate the drift in an epoch; until then the previous epoch's drift
        (or 0) is used and the offset follows the latest bins.
    latency_floor_s
        Known minimum delay between a sample and its arrival (radio connection interval,
        firmware batching); subtracted from every mapped time.
    max_drift_ppm
        Bound on the drift estimate (crystals are within about +-100 ppm).

    Attributes
    ----------
    drift_ppm_
        Current drift estimate (host seconds per sensor second minus one, in ppm).
    offset_s_
        Current offset (host time at sensor time 0 of this epoch).
    epoch_
        Number of rebases so far.
    """

    def __init__(
        self,
        bin_s: float = 2.0,
        window_bins: int = 150,
        min_fit_bins: int = 8,
        latency_floor_s: float = 0.0,
        max_drift_ppm: float = 500.0,
    ) -> None:
        if bin_s <= 0 or window_bins < 2 or min_fit_bins < 2:
            raise ValueError("bin_s > 0, window_bins >= 2 and min_fit_bins >= 2 required")
        self.bin_s = bin_s
        self.window_bins = window_bins
        self.min_fit_bins = min_fit_bins
        self.latency_floor_s = latency_floor_s
        self.max_drift_ppm = max_drift_ppm
        self.drift_ppm_ = 0.0
        self.offset_s_: float | None = None
        self.epoch_ = 0
        self._drift_known = False
        self._bin_excess_s = 0.0
        self._bins_t: list[float] = []
        self._bins_off: list[float] = []
        self._bin_index: int | None = None
        self._cur_t = 0.0
        self._cur_off = np.inf

    @property
    def ready(self) -> bool:
        return self.offset_s_ is not None

    def _slope(self) -> float:
        return 1.0 + self.drift_ppm_ * 1e-6

    def observe(self, t_sensor_s: float, t_host_s: float) -> None:
        """One (sensor time of a sample, host time it arrived) pair."""
        off = t_host_s - t_sensor_s
        idx = int(t_sensor_s // self.bin_s)
        if self._bin_index is None:
            self._bin_index = idx
        if idx != self._bin_index:
            if np.isfinite(self._cur_off):
                self._bins_t.append(self._cur_t)
                self._bins_off.append(self._cur_off)
                del self._bins_t[: -self.window_bins]
                del self._bins_off[: -self.window_bins]
                self._fit()
            self._bin_index = idx
            self._cur_off = np.inf
        if off < self._cur_off:
            self._cur_off = off
            self._cur_t = t_sensor_s
        # Lower envelope: a point below the current line moves the line down at once.
        line_off = t_host_s - self._slope() * t_sensor_s
        if self.offset_s_ is None or line_off < self.offset_s_:
            self.offset_s_ = line_off

    def _fit(self) -> None:
        t = np.asarray(self._bins_t)
        off = np.asarray(self._bins_off)
        if t.shape[0] >= self.min_fit_bins:
            slope, intercept, self._bin_excess_s = _robust_line(t, off)
            limit = self.max_drift_ppm * 1e-6
            if abs(slope) > limit:
                # Implausible for a crystal: keep the bound and refit only the offset.
                slope = float(np.clip(slope, -limit, limit))
                intercept = float(np.median(off - slope * t))
            self.drift_ppm_ = slope * 1e6
            self.offset_s_ = intercept
            self._drift_known = True
        elif self._drift_known:
            # A new epoch (restart) of a pod whose drift and latency are known: the mean of
            # this epoch's few bin minima, lowered by how far bin minima lay above the lower
            # envelope before, converges much faster than a plain minimum.
            slope = self._slope() - 1.0
            self.offset_s_ = float(np.mean(off - slope * t)) - self._bin_excess_s
        else:
            # Too few bins and no drift yet: follow the most recent bins, so an unknown drift
            # does not accumulate.
            slope = self._slope() - 1.0
            self.offset_s_ = float(np.min(off[-2:] - slope * t[-2:]))

    def to_host(self, t_sensor_s: np.ndarray) -> np.ndarray:
        """Host times of sensor instants (requires at least one observation)."""
        if self.offset_s_ is None:
            raise RuntimeError("SensorClock.to_host before any observation")
        return self.offset_s_ + self._slope() * t_sensor_s - self.latency_floor_s

    def to_sensor(self, t_host_s: float) -> float:
        """Sensor time at a host instant (inverse of :meth:`to_host`)."""
        if self.offset_s_ is None:
            raise RuntimeError("SensorClock.to_sensor before any observation")
        return (t_host_s + self.latency_floor_s - self.offset_s_) / self._slope()

    def rebase(self) -> None:
        """The sensor clock was reset (pod restart): re-learn the offset, keep the drift."""
        self.offset_s_ = None
        self._bins_t.clear()
        self._bins_off.clear()
        self._bin_index = None
        self._cur_off = np.inf
        self.epoch_ += 1
