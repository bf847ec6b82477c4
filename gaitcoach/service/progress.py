"""What a display needs beside the rolling medians: the session's elapsed time and distance,
the targets in force, the mute and the pods' loss counters.

They travel in the metrics message (optional fields, docs/mqtt/topics.md), so a dashboard
that connects mid-run shows the whole picture from the next message on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gaitcoach.coach import Coach
from gaitcoach.link.pod import PodStatus
from gaitcoach.types import Activity, GaitMetrics

MAX_STEP_S = 10.0
"""A longer pause between ticks (a stalled loop) adds no distance: the speed then is unknown."""


@dataclass
class SessionProgress:
    """Elapsed time and distance of the running session, on the service clock."""

    started_s: float | None = None
    distance_m: float = 0.0
    _last_s: float | None = None

    def start(self, now_s: float) -> None:
        self.started_s, self._last_s, self.distance_m = now_s, now_s, 0.0

    def stop(self) -> None:
        self.started_s = self._last_s = None

    def update(self, now_s: float, metrics: GaitMetrics) -> None:
        """Integrate the rolling speed since the last tick while moving. Speed survives a lost
        pod (the other foot's strides still give it), where summing stride lengths would not."""
        if self.started_s is None or self._last_s is None:
            return
        dt, self._last_s = now_s - self._last_s, now_s
        speed = metrics.speed_mps
        if (
            speed is not None
            and math.isfinite(speed)
            and metrics.activity is not Activity.STANDING
            and 0.0 < dt <= MAX_STEP_S
        ):
            self.distance_m += speed * dt

    def elapsed_s(self, now_s: float) -> float | None:
        return None if self.started_s is None else max(0.0, now_s - self.started_s)


def live_fields(
    progress: SessionProgress,
    coach: Coach,
    pods: Iterable[PodStatus],
    now_s: float,
    unix_offset_s: float,
    session_id: str | None,
) -> dict[str, Any]:
    """The metrics payload's :data:`~gaitcoach.mqtt.payloads.LIVE_FIELDS` (null between
    sessions)."""
    elapsed = progress.elapsed_s(now_s)
    muted = coach.muted_until_s
    return {
        "session_id": session_id,
        "elapsed_s": None if elapsed is None else round(elapsed, 3),
        "distance_m": None if progress.started_s is None else round(progress.distance_m, 2),
        "targets": coach.targets_(),
        "muted_until_unix_s": muted + unix_offset_s
        if math.isfinite(muted) and muted > now_s
        else None,
        "link": {
            p.foot.value: {
                "samples": p.counters.samples,
                "lost_samples": p.counters.lost_samples,
                "gaps": p.counters.gaps,
            }
            for p in pods
        },
    }
