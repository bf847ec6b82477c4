"""Parameters of the gait engine, validated once (one place for every threshold)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from gaitcoach.gait.events import HEEL_OFF_FRACTION, IMPACT_ONSET_FRACTION, TOE_SPEED_LEVELS_MPS
from gaitcoach.gait.overstride import ANGLE_GAIN, BASE_FRACTION
from gaitcoach.types import FOREFOOT_BELOW_DEG, REARFOOT_ABOVE_DEG

# (low, high, inclusive-low) ranges per parameter; checked in __post_init__.
_RANGES: dict[str, tuple[float, float]] = {
    "rate_probe_samples": (4, 10_000),
    "max_dt_factor": (1.5, 100.0),
    "energy_window_s": (0.0, 0.2),
    "stance_window_s": (0.05, 1.0),
    "stance_max_gyr_radps": (0.05, 10.0),
    "stance_max_acc_mps2": (0.1, 20.0),
    "stance_relaxed_energy": (1.0, 10.0),
    "stance_relaxed_window_s": (0.05, 1.0),
    "stance_relaxed_rest_s": (0.0, 2.0),
    "stance_relaxed_lead_s": (0.0, 0.2),
    "swing_min_gyr_radps": (0.5, 40.0),
    "swing_rate_radps": (0.1, 10.0),
    "swing_bridge_s": (0.0, 0.2),
    "swing_min_rotation_deg": (5.0, 180.0),
    "push_off_min_rotation_deg": (5.0, 180.0),
    "flat_max_tilt_deg": (1.0, 90.0),
    "min_stride_s": (0.2, 5.0),
    "max_stride_s": (0.5, 10.0),
    "min_stride_length_m": (0.0, 5.0),
    "align_stances": (2, 100),
    "impact_onset_fraction": (0.01, 0.9),
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
    max_dt_factor: float = 9.0
    """A time step above this many nominal sample periods is a gap (resets the stride); shorter
    holes (up to 8 missing samples: irregular timestamps of real pods) are bridged, the
    integration simply takes the longer step."""
    energy_window_s: float = 0.02
    """Half width of the running maximum of the gyro norm used to find stance phases."""
    stance_window_s: float = 0.2
    """A stance anchor is the lowest gyro energy within +- this time."""
    stance_max_gyr_radps: float = 2.5
    """A stance anchor's gyro energy must be below this (rad/s)."""
    stance_max_acc_mps2: float = 3.5
    """A stance anchor's |specific force| must be within this of gravity (m/s^2)."""
    stance_relaxed_energy: float = 3.5
    """A foot that never rests: a stance anchor may have up to this energy (1 = the limits
    above) if it is the lowest from ``stance_relaxed_window_s`` before it to
    ``stance_window_s`` after it; 1 disables the rule."""
    stance_relaxed_window_s: float = 0.35
    """Look-back of the relaxed stance rule (below half the shortest stride)."""
    stance_relaxed_rest_s: float = 0.45
    """The relaxed rule applies only if the foot did not rest (energy below 1) within this
    time before the candidate (nor within the window after it)."""
    stance_relaxed_lead_s: float = 0.05
    """A sample followed within this time by energy at or above ``stance_relaxed_energy`` is
    no relaxed anchor (nor a lower neighbour of one): a foot hanging still just before it
    lands is not in stance, its landing impact follows within this time. A run's first
    anchor is exempt (docs/metrics.md, Segmentation)."""
    swing_min_gyr_radps: float = 3.0
    """A swing between two stance anchors needs a gyro norm above this (rad/s)."""
    swing_rate_radps: float = 1.0
    """A swing is a run of toes-up rotation faster than this (``-gyr_ml``, rad/s) ..."""
    swing_bridge_s: float = 0.03
    """... where pauses up to this long do not end the run ..."""
    swing_min_rotation_deg: float = 20.0
    """... that turns the foot by at least this much. A segment must hold exactly one swing:
    two or more mean missed stances (it is cut between them), none a spurious anchor (it is
    joined to the next segment if it holds the push-off, else its events are dropped)."""
    push_off_min_rotation_deg: float = 35.0
    """A push-off is a toes-down run (as a swing, sign turned) turning the foot this much."""
    flat_max_tilt_deg: float = 60.0
    """A stance's rest specific force must be within this angle of the foot's up axis."""
    min_stride_s: float = 0.4
    max_stride_s: float = 2.5
    min_stride_length_m: float = 0.15
    """Shorter foot displacements between resting anchors are shuffling, not strides."""
    align_stances: int = 4
    """Stance phases (with swings between them) used to find the sensor-to-foot rotation."""
    impact_onset_fraction: float = IMPACT_ONSET_FRACTION
    """IC: first sample whose second-difference residual reaches this share of the largest."""
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
        if self.stance_max_gyr_radps > self.swing_min_gyr_radps:
            raise ValueError(
                f"GaitConfig.stance_max_gyr_radps = {self.stance_max_gyr_radps} must not exceed "
                f"swing_min_gyr_radps = {self.swing_min_gyr_radps}"
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
