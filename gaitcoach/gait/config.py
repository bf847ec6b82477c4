"""Parameters of the gait engine, validated once (one place for every threshold)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from gaitcoach.gait.events import (
    HEEL_OFF_FRACTION,
    IMPACT_ONSET_FRACTION,
    IMPACT_RISE_S,
    TOE_SPEED_LEVELS_MPS,
)
from gaitcoach.gait.overstride import ANGLE_GAIN, BASE_FRACTION
from gaitcoach.types import FOREFOOT_BELOW_DEG, REARFOOT_ABOVE_DEG

# (low, high) ranges per parameter, both inclusive; checked in __post_init__.
_RANGES: dict[str, tuple[float, float]] = {
    "rate_probe_samples": (4, 10_000),
    "min_rate_hz": (20.0, 1000.0),
    "max_dt_factor": (1.5, 100.0),
    "energy_window_s": (0.0, 0.2),
    "stance_max_gyr_radps": (0.05, 10.0),
    "stance_max_acc_mps2": (0.1, 20.0),
    "rest_min_s": (0.0, 1.0),
    "swing_min_gyr_radps": (0.5, 40.0),
    "swing_rate_radps": (0.1, 10.0),
    "swing_bridge_s": (0.0, 0.2),
    "swing_min_rotation_deg": (5.0, 180.0),
    "step_min_displacement_m": (0.02, 2.0),
    "step_min_turn_deg": (5.0, 180.0),
    "step_min_lift_m": (0.0, 0.2),
    "step_rest_energy": (0.05, 1.0),
    "landing_window_s": (0.0, 0.5),
    "settle_window_s": (0.05, 2.0),
    "stance_search_s": (0.1, 2.0),
    "flat_max_tilt_deg": (1.0, 90.0),
    "min_stride_s": (0.2, 5.0),
    "max_stride_s": (0.5, 10.0),
    "min_stride_length_m": (0.0, 5.0),
    "align_strides": (2, 100),
    "align_min_forward_m": (0.0, 1.0),
    "align_agreement": (0.5, 1.0),
    "align_step_s": (0.5, 30.0),
    "align_window_s": (5.0, 600.0),
    "impact_onset_fraction": (0.01, 0.9),
    "impact_rise_s": (0.005, 1.0),
    "heel_off_fraction": (0.05, 0.95),
    "impact_window_s": (0.005, 0.2),
    "walking_ic_window_s": (0.0, 0.1),
    "running_max_duty": (0.1, 0.9),
    "rearfoot_above_deg": (-30.0, 45.0),
    "forefoot_below_deg": (-45.0, 30.0),
    "saturation_margin": (0.5, 1.0),
    "acc_full_scale_mps2": (10.0, 2000.0),
    "gyr_full_scale_radps": (1.0, 200.0),
    "stuck_samples": (2, 100_000),
    "history_size": (16, 10_000_000),
    "overstride_base_fraction": (0.0, 1.0),
    "overstride_angle_gain": (0.0, 3.0),
}


@dataclass(frozen=True)
class GaitConfig:
    """Every threshold and parameter of the gait engine (SI units, names carry the unit).

    Invalid values raise :class:`ValueError` naming the parameter and its allowed range.
    See docs/metrics.md for how each one is used.
    """

    rate_probe_samples: int = 16
    """Samples whose timestamps fix the nominal sample rate of a stream."""
    min_rate_hz: float = 50.0
    """Slower streams are refused (:class:`~gaitcoach.gait.checks.GaitInputError`): the impact
    and the toe-off cannot be timed (docs/metrics.md, Input)."""
    max_dt_factor: float = 9.0
    """A time step above this many nominal sample periods is a gap (resets the stride); shorter
    holes (up to 8 missing samples: irregular timestamps of real pods) are bridged, the
    integration simply takes the longer step."""
    energy_window_s: float = 0.02
    """Half width of the running maximum of the stance energy."""
    stance_max_gyr_radps: float = 2.5
    """Angular rate that counts as 1 in the stance energy (rad/s)."""
    stance_max_acc_mps2: float = 3.5
    """Deviation of |specific force| from gravity that counts as 1 in the stance energy."""
    rest_min_s: float = 0.25
    """A rest (stance energy below 1) this long bounds a step of the displacement detector;
    a shorter lull (a slow swing passing through zero rotation) does not."""
    swing_min_gyr_radps: float = 3.0
    """Samples faster than this are swing samples for the alignment's rotation axis (rad/s)."""
    swing_rate_radps: float = 1.0
    """A pitch swing is a run of toes-up rotation faster than this (``-gyr_ml``, rad/s) ..."""
    swing_bridge_s: float = 0.03
    """... where pauses up to this long do not end the run ..."""
    swing_min_rotation_deg: float = 20.0
    """... that turns the foot by at least this much."""
    step_min_displacement_m: float = 0.15
    """A step between two rests moves the foot at least this far (steps that barely pitch the
    foot: pivot and turning steps, short first and last steps)."""
    step_min_turn_deg: float = 30.0
    """... or turns it by at least this much (deg) ..."""
    step_min_lift_m: float = 0.007
    """... after lifting it at least this high (m): a stance foot swivelling on the ground in
    a turn turns too, but stays lower (docs/metrics.md)."""
    step_rest_energy: float = 1.0
    """... and rests there have a stance energy below this (1: the anchors' rest). A slow
    first step stays under 2.5 rad/s and so is "rest" at 1; 0.6 finds it, but also breaks
    the rest of a stance foot swivelling in a turn (docs/validation.md, trade-off table)."""
    landing_window_s: float = 0.15
    """After a swing's rotation the landing is the first sample reaching half the largest
    ||acc| - g| within this time (before it the foot may hang still)."""
    settle_window_s: float = 0.5
    """The anchor after a landing is the stillest sample at most this long after it."""
    stance_search_s: float = 0.5
    """The anchor before a swing is the stillest sample at most this long before it."""
    flat_max_tilt_deg: float = 60.0
    """An anchor's rest specific force must be within this angle of the foot's up axis."""
    min_stride_s: float = 0.4
    """Shortest stride; two swings' middles are at least this far apart."""
    max_stride_s: float = 2.5
    min_stride_length_m: float = 0.15
    """Shorter foot displacements between resting anchors are shuffling, not strides."""
    align_strides: int = 4
    """Strides that must move the foot forward before the alignment is confident."""
    align_min_forward_m: float = 0.1
    """A stride moving the foot less than this (forward or back) is no evidence."""
    align_agreement: float = 0.8
    """Share of the moving strides that must agree for a confident alignment."""
    align_step_s: float = 2.0
    """The alignment is tried on the first 2, 4, 6 ... seconds of data until confident ..."""
    align_window_s: float = 30.0
    """... and decided without confidence (direction-dependent values withheld) after this."""
    impact_onset_fraction: float = IMPACT_ONSET_FRACTION
    """IC: first sample whose second-difference residual reaches this share of the largest."""
    impact_rise_s: float = IMPACT_RISE_S
    """Walking IC: the landing transient's onset is at most this long before its largest
    residual (an earlier transient, the deceleration of terminal swing, is not the landing)."""
    heel_off_fraction: float = HEEL_OFF_FRACTION
    """TO: heel-off samples for the toe lever fit have a toes-down rate above this share."""
    toe_speed_levels_mps: tuple[float, float, float] = TOE_SPEED_LEVELS_MPS
    """TO: toe speeds (increasing, equal ratios) whose crossings give the toe-off."""
    walking_ic_window_s: float = 0.035
    """Walking strides: IC is the end of the terminal-swing dorsiflexion if it comes at most
    this long before the impact transient (0 = always the impact onset)."""
    impact_window_s: float = 0.04
    """Window after initial contact for the impact peak."""
    running_max_duty: float = 0.5
    """Contact time / stride time below this is running (a flight phase), else walking."""
    rearfoot_above_deg: float = REARFOOT_ABOVE_DEG
    forefoot_below_deg: float = FOREFOOT_BELOW_DEG
    saturation_margin: float = 0.995
    """A sample within this fraction of full scale is flagged as saturated."""
    acc_full_scale_mps2: float = 16.0 * 9.80665
    gyr_full_scale_radps: float = 2000.0 * 3.141592653589793 / 180.0
    stuck_samples: int = 50
    """This many identical consecutive 6-axis samples mean a stuck sensor (skipped)."""
    expect_both_feet: bool = True
    """Hold a stride until the other foot's data covers it (bilateral values); False: never."""
    history_size: int = 4096
    """Result attributes (``strides_``, ``swings_``, ``gaps_``) keep this many of the latest
    records: a long-running analyzer's memory is bounded (the records are returned by
    ``push`` as they come)."""
    overstride_base_fraction: float = BASE_FRACTION
    """Overstride model: share of the contact distance ahead of the centre of mass (flat)."""
    overstride_angle_gain: float = ANGLE_GAIN
    """Overstride model: added share per unit sine of the strike angle."""

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name not in _RANGES:
                continue
            low, high = _RANGES[f.name]
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"GaitConfig.{f.name} must be a number, got {value!r}")
            if not (low <= value <= high):
                raise ValueError(
                    f"GaitConfig.{f.name} = {value!r} is out of range [{low:g}, {high:g}]"
                )
        if self.min_stride_s >= self.max_stride_s:
            raise ValueError(
                f"GaitConfig.min_stride_s = {self.min_stride_s} must be below "
                f"max_stride_s = {self.max_stride_s}"
            )
        if self.forefoot_below_deg > self.rearfoot_above_deg:
            raise ValueError(
                f"GaitConfig.forefoot_below_deg = {self.forefoot_below_deg} must not exceed "
                f"rearfoot_above_deg = {self.rearfoot_above_deg}"
            )
        if self.align_window_s < self.align_step_s:
            raise ValueError(
                f"GaitConfig.align_window_s = {self.align_window_s} must not be below "
                f"align_step_s = {self.align_step_s}"
            )
        lv = self.toe_speed_levels_mps
        if (
            len(lv) != 3
            or not 0.0 < lv[0] < lv[1] < lv[2] <= 5.0
            or abs(lv[2] / lv[1] - lv[1] / lv[0]) > 1e-6
        ):
            raise ValueError(
                f"GaitConfig.toe_speed_levels_mps = {lv!r} must be three increasing speeds in "
                "(0, 5] m/s with equal ratios, e.g. (0.25, 0.5, 1.0)"
            )


DEFAULT_CONFIG = GaitConfig()
"""The defaults (GaitConfig is frozen, so one shared instance is safe)."""
