"""Messages passed between the pipeline stages.

transport -> decode -> :class:`ImuChunk` / :class:`Gap` per foot -> gait engine ->
:class:`StrideRecord` -> rolling :class:`GaitMetrics` -> coach -> publisher.

All values are SI inside (m, s, m/s, m/s^2, rad/s); names carry their unit. Angles that are
shown to people are in degrees and say so (``_deg``). Unknown values are ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class Foot(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    UNKNOWN = "unknown"


class StrikePattern(StrEnum):
    """Foot strike class from the strike angle (Altman & Davis 2012)."""

    REARFOOT = "rearfoot"
    MIDFOOT = "midfoot"
    FOREFOOT = "forefoot"


class Activity(StrEnum):
    STANDING = "standing"
    WALKING = "walking"
    RUNNING = "running"


REARFOOT_ABOVE_DEG = 8.0
"""Altman & Davis (2012): strike angle > 8 deg is a rearfoot strike."""
FOREFOOT_BELOW_DEG = -1.6
"""Altman & Davis (2012): strike angle < -1.6 deg is a forefoot strike."""


def classify_strike(
    angle_deg: float,
    rearfoot_above_deg: float = REARFOOT_ABOVE_DEG,
    forefoot_below_deg: float = FOREFOOT_BELOW_DEG,
) -> StrikePattern:
    """Strike pattern from the foot strike angle (deg, positive = toes up)."""
    if angle_deg > rearfoot_above_deg:
        return StrikePattern.REARFOOT
    if angle_deg < forefoot_below_deg:
        return StrikePattern.FOREFOOT
    return StrikePattern.MIDFOOT


@dataclass(frozen=True, slots=True)
class ImuChunk:
    """Consecutive IMU samples of one pod in its sensor frame.

    ``t_s`` is strictly increasing time in seconds on the consumer's clock (host time for the
    live link, true time for simulator recordings). ``acc_mps2`` is specific force (m/s^2),
    ``gyr_radps`` angular rate (rad/s), both shape ``(n, 3)`` in the sensor frame.
    """

    foot: Foot
    t_s: FloatArray
    acc_mps2: FloatArray
    gyr_radps: FloatArray

    def __post_init__(self) -> None:
        n = self.t_s.shape[0]
        if self.t_s.ndim != 1 or self.acc_mps2.shape != (n, 3) or self.gyr_radps.shape != (n, 3):
            raise ValueError(
                f"ImuChunk shapes disagree: t_s {self.t_s.shape}, acc {self.acc_mps2.shape}, "
                f"gyr {self.gyr_radps.shape} (want (n,), (n, 3), (n, 3))"
            )

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def slice(self, start: int, stop: int) -> ImuChunk:
        """Samples ``start:stop`` as views of this chunk's arrays (no copy)."""
        return ImuChunk(
            self.foot, self.t_s[start:stop], self.acc_mps2[start:stop], self.gyr_radps[start:stop]
        )


@dataclass(frozen=True, slots=True)
class Gap:
    """Samples of one pod that were lost between ``start_s`` and ``end_s``."""

    foot: Foot
    start_s: float
    end_s: float
    lost_samples: int
    reason: str = "packet loss"


@dataclass(frozen=True, slots=True)
class StrideRecord:
    """One stride of one foot, from its initial contact to the next initial contact.

    Emitted by the gait engine as soon as the data that completes it has arrived. Temporal
    values come from the events; spatial values from strapdown integration between the
    foot-flat phases around the stride (see docs/metrics.md for every definition).
    """

    foot: Foot
    index: int
    """Per-foot stride counter, from 0."""
    ic_s: float
    """Initial contact that starts the stride."""
    to_s: float
    """Toe-off of this stride."""
    end_ic_s: float
    """Next initial contact of the same foot (end of the stride)."""
    contact_time_s: float
    swing_time_s: float
    stride_time_s: float
    cadence_spm: float
    """Steps per minute: from both feet when both are present, else 2 x 60 / stride time."""
    activity: Activity
    flight_time_s: float | None = None
    """Time between this foot's toe-off and the other foot's contact (None if unknown)."""
    step_time_s: float | None = None
    """Time from the other foot's previous contact to this contact (None with one foot)."""
    stride_length_m: float | None = None
    speed_mps: float | None = None
    clearance_m: float | None = None
    """Maximum foot height during swing."""
    foot_strike_angle_deg: float | None = None
    """Foot pitch at IC relative to foot flat; positive = toes up."""
    strike_pattern: StrikePattern | None = None
    peak_impact_g: float | None = None
    """Peak specific-force magnitude within the impact window after IC, in g."""
    loading_rate_gps: float | None = None
    """Impact loading-rate proxy: rise of specific force to its peak, in g/s."""
    overstride_m: float | None = None
    """Estimated horizontal distance of the foot ahead of the centre of mass at IC."""


class SwingKind(StrEnum):
    """How a swing was found (docs/metrics.md, Segmentation)."""

    PITCH = "pitch"
    """The foot's toes-up rotation from toe-off to landing."""
    STEP = "step"
    """A foot displacement between two rests (pivot and turning steps, short first and last
    steps that barely pitch the foot)."""


@dataclass(frozen=True, slots=True)
class SwingRecord:
    """One swing of one foot: the toe-off that starts it and the landing that ends it.

    The gait engine's event stream: every swing it finds gives one, also the first step from
    standing (no stride before it), the last step before a stop (no stride after it) and the
    steps of a turn; a :class:`StrideRecord` is made of two consecutive swings' contacts.
    """

    foot: Foot
    index: int
    """Per-foot swing counter, from 0."""
    kind: SwingKind
    start_s: float
    """Zero-velocity anchor before the toe-off."""
    end_s: float
    """Zero-velocity anchor after the landing."""
    ms_s: float
    """Mid-swing (fastest foot)."""
    to_s: float | None = None
    """Toe-off (None if not found)."""
    ic_s: float | None = None
    """Initial contact ending the swing (walking or running method, docs/metrics.md)."""
    activity: Activity | None = None
    """Of the stride ending at this contact (None: no such stride, e.g. the first step)."""
    length_m: float | None = None
    """Horizontal foot displacement from anchor to anchor."""
    clearance_m: float | None = None
    foot_strike_angle_deg: float | None = None


@dataclass(frozen=True, slots=True)
class GaitMetrics:
    """Rolling aggregate of recent strides (medians), as published about once a second."""

    t_s: float
    activity: Activity
    n_strides: int
    cadence_spm: float | None = None
    contact_time_s: float | None = None
    flight_time_s: float | None = None
    stride_length_m: float | None = None
    speed_mps: float | None = None
    foot_strike_angle_deg: float | None = None
    strike_pattern: StrikePattern | None = None
    overstride_m: float | None = None
    peak_impact_g: float | None = None
    step_length_rel_leg: float | None = None
    """Step length divided by leg length (None without a leg length)."""
    balance_contact_left_pct: float | None = None
    """Left share of (left + right) contact time, 50 = symmetric."""
    per_foot: dict[Foot, dict[str, float]] = field(default_factory=dict)
    """Per-foot medians of the same metrics, for symmetry displays."""


class CueKind(StrEnum):
    CADENCE = "cadence"
    """Raise cadence (quicker steps), with a metronome tempo at the target."""
    STRIDE = "stride"
    """Shorten the stride, land under the hips (overstriding)."""
    SOFTER = "softer"
    """Land softer, less heel (excessive heel striking)."""
    REINFORCE = "reinforce"
    """Positive reinforcement: a fault was corrected and holds."""
    DISCOMFORT = "discomfort"
    """Answer to a discomfort report (ease off, walk, stop)."""


@dataclass(frozen=True, slots=True)
class Cue:
    """One message for the runner, with the numbers that triggered it."""

    id: str
    kind: CueKind
    text: str
    priority: int
    """Higher is more important; one message at a time, the most important first."""
    created_s: float
    expires_s: float
    trigger: dict[str, float]
    """The measured values and targets behind the decision, e.g. {"cadence_spm": 156.0}."""
    level: int = 0
    """Escalation level: 0 first time, higher when the same cue was ignored."""
    metronome_spm: float | None = None
    """Metronome tempo for cadence cues (steps per minute)."""


@dataclass(frozen=True, slots=True)
class DiscomfortReport:
    """ "Listen to your body": the runner reports discomfort mid-run."""

    t_s: float
    body_part: str
    score: int
    """0 (none) to 10 (worst)."""
    note: str = ""


class LinkState(StrEnum):
    SCANNING = "scanning"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A change in a pod's link: state, battery, loss counters."""

    t_s: float
    foot: Foot
    address: str
    state: LinkState
    detail: str = ""
    rssi_dbm: int | None = None
    battery_pct: int | None = None
