"""Parameters of the running-gait model, with validation that names the parameter and its range.

All values SI except angles shown to people (``_deg``) and cadence (steps/min).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

from gaitcoach.footpod.profile import RATES_HZ

SUPPORTED_RATES_HZ = tuple(float(r) for r in RATES_HZ)


class Mode(StrEnum):
    STAND = "stand"
    WALK = "walk"
    RUN = "run"


def _check(name: str, value: float, lo: float, hi: float, unit: str = "") -> None:
    if not (math.isfinite(value) and lo <= value <= hi):
        u = f" {unit}" if unit else ""
        raise ValueError(f"{name} = {value!r} is out of range; allowed {lo:g}..{hi:g}{u}")


@dataclass(frozen=True)
class GaitParams:
    """Gait of one runner at one moment (both feet, before asymmetry and variability).

    Parameters
    ----------
    speed_mps
        Running speed over ground.
    cadence_spm
        Steps per minute (both feet); one stride is two steps.
    contact_time_s
        Ground contact time of one foot. Running: shorter than a step (there is a flight
        phase); walking: longer than a step (double support).
    strike_angle_deg
        Foot (sole) pitch at initial contact relative to flat; positive = toes up (rearfoot).
    landing_distance_m
        Horizontal distance of the first contact point ahead of the centre of mass at IC.
    leg_length_m
        Greater trochanter to floor.
    toe_off_angle_deg
        Foot pitch at toe-off (negative = toes down).
    clearance_m
        Peak height gain of the heel during swing.
    step_width_m
        Lateral distance between the two feet's contact lines.
    toe_out_deg
        Foot progression angle (toes pointing outward).
    turn_rate_dps
        Heading change rate of the path (positive = left turn).
    """

    speed_mps: float = 3.3
    cadence_spm: float = 178.0
    contact_time_s: float = 0.24
    strike_angle_deg: float = 4.0
    landing_distance_m: float = 0.22
    leg_length_m: float = 0.90
    toe_off_angle_deg: float = -38.0
    clearance_m: float = 0.25
    step_width_m: float = 0.08
    toe_out_deg: float = 5.0
    turn_rate_dps: float = 0.0

    def validate(self, mode: Mode) -> None:
        if mode is Mode.STAND:
            return
        _check("speed_mps", self.speed_mps, 0.3, 10.0, "m/s")
        _check("cadence_spm", self.cadence_spm, 60.0, 240.0, "steps/min")
        step_s = 60.0 / self.cadence_spm
        if mode is Mode.RUN:
            _check(
                "contact_time_s",
                self.contact_time_s,
                0.12,
                0.95 * step_s,
                "s (running: shorter than a step)",
            )
        else:
            _check(
                "contact_time_s",
                self.contact_time_s,
                1.02 * step_s,
                1.6 * step_s,
                "s (walking: longer than a step)",
            )
        _check("strike_angle_deg", self.strike_angle_deg, -20.0, 35.0, "deg")
        _check("landing_distance_m", self.landing_distance_m, 0.0, 0.8, "m")
        _check("leg_length_m", self.leg_length_m, 0.6, 1.2, "m")
        _check("toe_off_angle_deg", self.toe_off_angle_deg, -75.0, -10.0, "deg")
        _check("clearance_m", self.clearance_m, 0.03, 0.6, "m")
        _check("step_width_m", self.step_width_m, 0.0, 0.4, "m")
        _check("toe_out_deg", self.toe_out_deg, -20.0, 30.0, "deg")
        _check("turn_rate_dps", self.turn_rate_dps, -90.0, 90.0, "deg/s")

    def scaled(self, **deltas: float) -> GaitParams:
        """A copy with the given fields added to (``name=delta``)."""
        return replace(self, **{k: getattr(self, k) + v for k, v in deltas.items()})


PARAM_NAMES = tuple(f.name for f in fields(GaitParams))


@dataclass(frozen=True)
class Variability:
    """Stride-to-stride variability: standard deviations (CV as fractions)."""

    cadence_cv: float = 0.012
    speed_cv: float = 0.01
    contact_cv: float = 0.025
    strike_sd_deg: float = 1.2
    landing_sd_m: float = 0.012

    def validate(self) -> None:
        for f in fields(self):
            _check(
                f"variability.{f.name}",
                getattr(self, f.name),
                0.0,
                0.2 if f.name.endswith("cv") else 5.0,
            )


@dataclass(frozen=True)
class Asymmetry:
    """How the right foot differs from the left (additive deltas, right minus left).

    ``step_time_ratio`` > 1 makes steps onto the right foot longer than onto the left.
    """

    contact_time_s: float = 0.0
    strike_angle_deg: float = 0.0
    landing_distance_m: float = 0.0
    clearance_m: float = 0.0
    step_time_ratio: float = 1.0

    def validate(self) -> None:
        _check("asymmetry.contact_time_s", self.contact_time_s, -0.1, 0.1, "s")
        _check("asymmetry.strike_angle_deg", self.strike_angle_deg, -15.0, 15.0, "deg")
        _check("asymmetry.landing_distance_m", self.landing_distance_m, -0.2, 0.2, "m")
        _check("asymmetry.clearance_m", self.clearance_m, -0.1, 0.1, "m")
        _check("asymmetry.step_time_ratio", self.step_time_ratio, 0.8, 1.25)


@dataclass(frozen=True)
class Drift:
    """Fatigue: linear drift of parameters from a segment's start to ``over_s`` seconds later."""

    over_s: float = 1800.0
    deltas: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        _check("drift.over_s", self.over_s, 1.0, 86400.0, "s")
        for k in self.deltas:
            if k not in PARAM_NAMES:
                raise ValueError(
                    f"drift.deltas has unknown parameter {k!r}; allowed: {', '.join(PARAM_NAMES)}"
                )


def _check_range(name: str, lo_hi: tuple[float, float], lo: float, hi: float, unit: str) -> None:
    _check(f"{name}[0]", lo_hi[0], lo, hi, unit)
    _check(f"{name}[1]", lo_hi[1], lo_hi[0], hi, unit)


@dataclass(frozen=True)
class SwingEvents:
    """What happens inside a walker's swings, drawn per swing from the seed.

    Every swing draws the same number of random values whatever is switched on, so turning one
    event on or off leaves the others (and the stride-to-stride variability) unchanged.

    Parameters
    ----------
    pause_after_to_s
        Range of the pause after toe-off: the foot's rotation nearly stops (the pitch rate
        passes slowly through zero, |f| stays near 1 g) before the swing dorsiflexion, as in
        slow and older walkers; ``(0, 0)`` = no pause.
    knock_share
        Share of swings with a knock: a 10-20 ms acceleration spike with gyro ringing.
    knock_g
        Range of a knock's peak acceleration of the foot (g).
    scuff_share
        Share of swings whose toe brushes the floor in early or mid swing, with a deceleration.
    scuff_g
        Range of the scuff's peak deceleration (g).
    brake_share
        Share of swings with a sharp deceleration of the foot shortly before landing.
    brake_g
        Range of that deceleration's peak (g).
    brake_before_ic_s
        Range of the time from the peak of that deceleration to initial contact.
    """

    pause_after_to_s: tuple[float, float] = (0.0, 0.0)
    knock_share: float = 0.0
    knock_g: tuple[float, float] = (2.0, 5.0)
    scuff_share: float = 0.0
    scuff_g: tuple[float, float] = (1.0, 2.5)
    brake_share: float = 0.0
    brake_g: tuple[float, float] = (3.0, 5.0)
    brake_before_ic_s: tuple[float, float] = (0.05, 0.08)

    def validate(self) -> None:
        _check_range("events.pause_after_to_s", self.pause_after_to_s, 0.0, 0.12, "s")
        for name in ("knock_share", "scuff_share", "brake_share"):
            _check(f"events.{name}", getattr(self, name), 0.0, 1.0)
        _check_range("events.knock_g", self.knock_g, 0.5, 8.0, "g")
        _check_range("events.scuff_g", self.scuff_g, 0.2, 4.0, "g")
        _check_range("events.brake_g", self.brake_g, 0.5, 6.0, "g")
        _check_range("events.brake_before_ic_s", self.brake_before_ic_s, 0.04, 0.1, "s")


@dataclass(frozen=True)
class UTurn:
    """A 180 deg turn on the spot in the first ``steps`` steps of a segment.

    The first and last turn steps are ordinary steps that turn; the ones between (and the
    second of a two-step turn) are pivot steps: the foot lifts a few centimetres, turns and
    moves 10-30 cm while barely pitching. While the other foot makes a turn or pivot step, the
    stance foot rotates on the ground about its ball by ``swivel_share`` of its heading change
    (no swing, no event).

    Parameters
    ----------
    steps
        Number of steps of the turn (2-4).
    left
        Turn to the left (counter-clockwise seen from above), else to the right.
    swivel_share
        Share of a stance foot's heading change done on the ground.
    step_time_factor
        Turn steps last this much longer than the walking steps around them.
    """

    steps: int = 3
    left: bool = True
    swivel_share: float = 0.4
    step_time_factor: float = 1.15

    def validate(self) -> None:
        if self.steps not in (2, 3, 4):
            raise ValueError(f"u_turn.steps = {self.steps!r} is out of range; allowed 2..4")
        _check("u_turn.swivel_share", self.swivel_share, 0.0, 0.7)
        _check("u_turn.step_time_factor", self.step_time_factor, 0.8, 1.6)


@dataclass(frozen=True)
class Segment:
    """A stretch of a run with one mode and one set of parameters.

    ``events`` adds transients to the swings, ``u_turn`` starts the segment with a U-turn and
    ``closing_step`` ends it, when standing follows, with the trailing foot stepping up beside
    the other one (else the walker stops with the feet where they are).
    """

    mode: Mode
    duration_s: float
    params: GaitParams = field(default_factory=GaitParams)
    drift: Drift | None = None
    events: SwingEvents | None = None
    u_turn: UTurn | None = None
    closing_step: bool = False

    def validate(self) -> None:
        _check("segment.duration_s", self.duration_s, 0.5, 86400.0, "s")
        self.params.validate(self.mode)
        if self.events is not None:
            self.events.validate()
        if self.u_turn is not None:
            self.u_turn.validate()
            if self.mode is not Mode.WALK:
                raise ValueError("segment.u_turn is only allowed in walking segments")
        if self.drift is not None:
            self.drift.validate()
            end = self.params.scaled(**self.drift.deltas)
            try:
                end.validate(self.mode)
            except ValueError as exc:
                raise ValueError(f"after fatigue drift: {exc}") from None


@dataclass(frozen=True)
class Profile:
    """A named technique profile: segments in order (standing forever after the last)."""

    name: str
    description: str
    segments: tuple[Segment, ...]
    variability: Variability = field(default_factory=Variability)
    asymmetry: Asymmetry = field(default_factory=Asymmetry)
    transition_s: float = 3.0
    """Parameters blend over this time at a segment boundary."""

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    def validate(self) -> None:
        if not self.segments:
            raise ValueError("profile.segments is empty; allowed: one or more segments")
        for s in self.segments:
            s.validate()
        self.variability.validate()
        self.asymmetry.validate()
        _check("transition_s", self.transition_s, 0.0, 60.0, "s")

    def with_minutes(self, minutes: float) -> Profile:
        """The same profile repeated or cut so that its moving part lasts ``minutes``."""
        _check("minutes", minutes, 0.05, 24 * 60.0, "min")
        want = minutes * 60.0
        out: list[Segment] = []
        total = 0.0
        while total < want - 1e-9:
            for seg in self.segments:
                d = min(seg.duration_s, want - total)
                if d <= 0:
                    break
                out.append(replace(seg, duration_s=max(d, 0.5)))
                total += d
        return replace(self, segments=tuple(out))


@dataclass(frozen=True)
class ImuSpec:
    """Sensor errors and format of the footpod's IMU (defaults: an LSM6DSx-class part).

    Noise densities are white-noise densities; ``sigma = density * sqrt(rate / 2)``.
    """

    rate_hz: float = 208.0
    acc_range_g: float = 16.0
    gyr_range_dps: float = 2000.0
    acc_noise_density_ug: float = 90.0
    gyr_noise_density_mdps: float = 4.0
    acc_bias_sd_mg: float = 15.0
    gyr_bias_sd_dps: float = 0.8
    acc_bias_walk_mg_per_rts: float = 0.05
    gyr_bias_walk_dps_per_rts: float = 0.003
    acc_scale_sd: float = 0.005
    gyr_scale_sd: float = 0.005
    clock_drift_ppm: float = 20.0
    clock_offset_s: float = 0.0

    def validate(self) -> None:
        if self.rate_hz not in SUPPORTED_RATES_HZ:
            raise ValueError(
                f"rate_hz = {self.rate_hz!r} is not supported; allowed: "
                + ", ".join(f"{r:g}" for r in SUPPORTED_RATES_HZ)
                + " Hz"
            )
        _check("acc_range_g", self.acc_range_g, 2.0, 32.0, "g")
        _check("gyr_range_dps", self.gyr_range_dps, 125.0, 4000.0, "deg/s")
        for name in (
            "acc_noise_density_ug",
            "gyr_noise_density_mdps",
            "acc_bias_sd_mg",
            "gyr_bias_sd_dps",
            "acc_bias_walk_mg_per_rts",
            "gyr_bias_walk_dps_per_rts",
        ):
            _check(name, getattr(self, name), 0.0, 1e4)
        _check("acc_scale_sd", self.acc_scale_sd, 0.0, 0.1)
        _check("gyr_scale_sd", self.gyr_scale_sd, 0.0, 0.1)
        _check("clock_drift_ppm", self.clock_drift_ppm, -1000.0, 1000.0, "ppm")
        _check("clock_offset_s", self.clock_offset_s, 0.0, 1e6, "s")

    def noiseless(self) -> ImuSpec:
        """Same format (range, quantisation, rate) without noise, bias, scale or clock errors."""
        return replace(
            self,
            acc_noise_density_ug=0.0,
            gyr_noise_density_mdps=0.0,
            acc_bias_sd_mg=0.0,
            gyr_bias_sd_dps=0.0,
            acc_bias_walk_mg_per_rts=0.0,
            gyr_bias_walk_dps_per_rts=0.0,
            acc_scale_sd=0.0,
            gyr_scale_sd=0.0,
            clock_drift_ppm=0.0,
        )


@dataclass(frozen=True)
class Mounting:
    """Where and how the pod sits on the shoe.

    ``yaw/pitch/roll`` (deg) rotate the foot frame into the sensor frame (intrinsic z-y-x);
    ``position_m`` is the sensor's position in the foot frame (origin at the heel's sole point).
    The default is a pod on the laces, mounted crosswise (its x axis to the left), following
    the slope of the instep.
    """

    yaw_deg: float = 90.0
    pitch_deg: float = 22.0
    roll_deg: float = 4.0
    position_m: tuple[float, float, float] = (0.15, 0.0, 0.075)

    def validate(self) -> None:
        for name in ("yaw_deg", "pitch_deg", "roll_deg"):
            _check(f"mounting.{name}", getattr(self, name), -180.0, 180.0, "deg")
        for i, v in enumerate(self.position_m):
            _check(f"mounting.position_m[{i}]", v, -0.1, 0.35, "m")
