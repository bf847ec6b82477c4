"""Rolling aggregates over the most recent strides (pure, no I/O).

One implementation serves the live service, the coach and the post-run summary: feed
:class:`~gaitcoach.types.StrideRecord` objects in time order, ask for a
:class:`~gaitcoach.types.GaitMetrics` snapshot at any time.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from collections.abc import Iterable

from gaitcoach.types import Activity, Foot, GaitMetrics, StrideRecord, StrikePattern

# Metrics aggregated as medians, by StrideRecord attribute name. Cadence is not among them:
# it is steps over time (window_cadence_spm), so one stride's timing error barely moves it.
MEDIAN_FIELDS = (
    "contact_time_s",
    "flight_time_s",
    "stride_length_m",
    "speed_mps",
    "foot_strike_angle_deg",
    "overstride_m",
    "peak_impact_g",
)


def median_of(strides: Iterable[StrideRecord], name: str) -> float | None:
    """Median of one attribute over strides, ignoring unknown (None) values."""
    values = [v for s in strides if (v := getattr(s, name)) is not None]
    return float(statistics.median(values)) if values else None


def window_cadence_spm(strides: Iterable[StrideRecord]) -> float | None:
    """Steps per minute over strides: 2 steps per stride over the mean stride time."""
    times = [s.stride_time_s for s in strides if s.stride_time_s > 0]
    return 120.0 * len(times) / sum(times) if times else None


def symmetry_pct(left: float | None, right: float | None) -> float | None:
    """Left share of left + right in percent (50 = symmetric)."""
    if left is None or right is None or left + right == 0:
        return None
    return 100.0 * left / (left + right)


class RollingMetrics:
    """Medians (cadence: steps over time) of the last ``window_steps`` strides that ended
    within ``window_s`` seconds.

    Parameters
    ----------
    window_steps
        Maximum number of strides (both feet together) in the window.
    window_s
        Only strides whose end lies within this many seconds before ``now`` count.
    standing_after_s
        With no stride ending within this time the activity is ``standing``.
    leg_length_m
        Optional leg length, for step length relative to leg length.
    """

    def __init__(
        self,
        window_steps: int = 20,
        window_s: float = 15.0,
        standing_after_s: float = 2.5,
        leg_length_m: float | None = None,
    ) -> None:
        if window_steps < 1 or window_s <= 0 or standing_after_s <= 0:
            raise ValueError("window_steps >= 1, window_s > 0 and standing_after_s > 0 required")
        self.window_steps = window_steps
        self.window_s = window_s
        self.standing_after_s = standing_after_s
        self.leg_length_m = leg_length_m
        self._strides: deque[StrideRecord] = deque(maxlen=window_steps)

    def add(self, stride: StrideRecord) -> None:
        self._strides.append(stride)

    def window(self, now_s: float) -> list[StrideRecord]:
        """Strides in the window at time ``now_s``."""
        return [s for s in self._strides if now_s - self.window_s <= s.end_ic_s <= now_s]

    def snapshot(self, now_s: float) -> GaitMetrics:
        strides = self.window(now_s)
        last_end = max((s.end_ic_s for s in self._strides), default=None)
        if not strides or last_end is None or now_s - last_end > self.standing_after_s:
            return GaitMetrics(t_s=now_s, activity=Activity.STANDING, n_strides=0)
        activity = Counter(s.activity for s in strides).most_common(1)[0][0]
        medians = {name: median_of(strides, name) for name in MEDIAN_FIELDS}
        medians["cadence_spm"] = window_cadence_spm(strides)
        patterns = [s.strike_pattern for s in strides if s.strike_pattern is not None]
        pattern: StrikePattern | None = Counter(patterns).most_common(1)[0][0] if patterns else None
        step_rel: float | None = None
        stride_len = medians["stride_length_m"]
        if self.leg_length_m and stride_len is not None:
            step_rel = stride_len / 2.0 / self.leg_length_m
        per_foot: dict[Foot, dict[str, float]] = {}
        for foot in (Foot.LEFT, Foot.RIGHT):
            mine = [s for s in strides if s.foot is foot]
            values = {name: median_of(mine, name) for name in MEDIAN_FIELDS}
            values["cadence_spm"] = window_cadence_spm(mine)
            per_foot[foot] = {k: v for k, v in values.items() if v is not None}
        balance = symmetry_pct(
            per_foot[Foot.LEFT].get("contact_time_s"), per_foot[Foot.RIGHT].get("contact_time_s")
        )
        return GaitMetrics(
            t_s=now_s,
            activity=activity,
            n_strides=len(strides),
            strike_pattern=pattern,
            step_length_rel_leg=step_rel,
            balance_contact_left_pct=balance,
            per_foot=per_foot,
            **medians,
        )
