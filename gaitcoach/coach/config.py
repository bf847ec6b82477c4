"""Config sections of the coach: ``[runner]`` (the runner profile) and ``[coach]`` (how and
when to coach). Both are frozen dataclasses built with ``from_dict(d, prefix)``; every default
is explained in docs/coaching.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gaitcoach.coach.configfields import bounded, choice, pattern, section_from_dict
from gaitcoach.errors import ConfigError
from gaitcoach.types import CueKind

TECHNIQUE_KINDS = (CueKind.CADENCE.value, CueKind.STRIDE.value, CueKind.SOFTER.value)
ALL_KINDS = (*TECHNIQUE_KINDS, CueKind.REINFORCE.value)

LEG_LENGTH_PER_HEIGHT = 0.530
"""Greater-trochanter height over body height (Winter, Biomechanics and Motor Control of Human
Movement, anthropometric table): the leg length when only the height is known."""

RUNNER_ID = r"[A-Za-z0-9_-]{1,64}"
"""Runner ids become MQTT topic levels: no '/', '+', '#' or spaces."""


@dataclass(frozen=True, slots=True)
class RunnerProfile:
    """The runner: body size, cadence baseline and targets, which cues, which words."""

    id: str = field(default="runner", metadata=pattern(RUNNER_ID, "1-64 of A-Z a-z 0-9 _ -"))
    height_m: float | None = field(default=None, metadata=bounded(1.0, 2.5))
    leg_length_m: float | None = field(default=None, metadata=bounded(0.5, 1.4))
    baseline_cadence_spm: float | None = field(default=None, metadata=bounded(120.0, 220.0))
    """Usual running cadence; measured during the warm-up when left out."""
    cadence_target_spm: float | None = field(default=None, metadata=bounded(140.0, 220.0))
    """Absolute cadence target; when left out the target is baseline + cadence_raise_pct."""
    cadence_raise_pct: float = field(default=7.5, metadata=bounded(5.0, 10.0))
    """Heiderscheit et al. (2011): +5-10 % step rate reduces overstride and loading."""
    cadence_target_max_spm: float = field(default=180.0, metadata=bounded(150.0, 220.0))
    """A relative target is capped here: quick runners are not pushed further."""
    enabled_cues: tuple[str, ...] = field(default=ALL_KINDS, metadata=choice(*ALL_KINDS))
    language: str = field(default="en", metadata=pattern(r"[a-z]{2}(-[A-Z]{2})?", "like en"))
    cue_templates_dir: str | None = None
    """Folder with ``<language>.toml`` cue wording; the repository's config/cues by default."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "runner") -> RunnerProfile:
        profile = section_from_dict(cls, d, prefix)
        leg, height = profile.leg_length_m, profile.height_m
        if leg is not None and height is not None and not 0.40 <= leg / height <= 0.60:
            raise ConfigError(f"{prefix}.leg_length_m", leg, f"40-60 % of height_m = {height:g}")
        return profile

    @property
    def leg_length_or_estimate_m(self) -> float | None:
        """Leg length as given, else estimated from height, else None."""
        if self.leg_length_m is not None:
            return self.leg_length_m
        if self.height_m is not None:
            return LEG_LENGTH_PER_HEIGHT * self.height_m
        return None

    def cue_enabled(self, kind: CueKind) -> bool:
        return kind is CueKind.DISCOMFORT or kind.value in self.enabled_cues


@dataclass(frozen=True, slots=True)
class CoachSettings:
    """When to coach: windows, thresholds with hysteresis, rate limits, priorities."""

    window_steps: int = field(default=20, metadata=bounded(4, 200))
    window_s: float = field(default=15.0, metadata=bounded(3.0, 120.0))
    min_strides: int = field(default=8, metadata=bounded(2, 200))
    """Decide only with at least this many strides in the window."""
    warmup_s: float = field(default=60.0, metadata=bounded(0.0, 1800.0))
    """No technique cues during the first seconds of running in a session."""
    settle_s: float = field(default=15.0, metadata=bounded(0.0, 300.0))
    """No technique cues until running has lasted this long again after a walk or a stop."""
    cue_ttl_s: float = field(default=8.0, metadata=bounded(1.0, 120.0))
    """A cue not delivered within this time is stale and dropped."""
    min_interval_same_s: float = field(default=60.0, metadata=bounded(0.0, 3600.0))
    min_interval_any_s: float = field(default=20.0, metadata=bounded(0.0, 3600.0))
    max_cues_per_10min: int = field(default=8, metadata=bounded(1, 100))
    max_level: int = field(default=2, metadata=bounded(0, 5))
    """Escalation stops at this level (a cue repeated while the fault persists escalates)."""
    cadence_enter_pct: float = field(default=4.0, metadata=bounded(0.0, 20.0))
    """Cadence fault when the cadence is this far (%) below the target (more than the
    stride-to-stride noise of a median, about 1 %) ..."""
    cadence_exit_pct: float = field(default=1.5, metadata=bounded(0.0, 20.0))
    """... and corrected when it is within this much of it."""
    overstride_enter_m: float = field(default=0.30, metadata=bounded(0.0, 1.0))
    """Overstride: the foot lands this far ahead of the centre of mass (efficient runners land
    about 0.15-0.25 m ahead at 3-4 m/s)."""
    overstride_exit_m: float = field(default=0.26, metadata=bounded(0.0, 1.0))
    step_rel_leg_enter: float = field(default=1.45, metadata=bounded(0.5, 3.0))
    step_rel_leg_exit: float = field(default=1.35, metadata=bounded(0.5, 3.0))
    strike_angle_enter_deg: float = field(default=18.0, metadata=bounded(0.0, 45.0))
    """Excessive heel strike: above this strike angle (a rearfoot strike is > 8 deg)."""
    strike_angle_exit_deg: float = field(default=14.0, metadata=bounded(0.0, 45.0))
    reinforce_hold_s: float = field(default=20.0, metadata=bounded(0.0, 600.0))
    """A corrected fault earns praise once it has held this long."""
    discomfort_walk_from: int = field(default=4, metadata=bounded(1, 10))
    discomfort_stop_from: int = field(default=7, metadata=bounded(1, 10))
    discomfort_pause_s: float = field(default=300.0, metadata=bounded(0.0, 7200.0))
    """Technique cues pause this long after a discomfort report (for the rest of the session
    from the stop score)."""
    priority_discomfort: int = field(default=100, metadata=bounded(0, 1000))
    priority_cadence: int = field(default=40, metadata=bounded(0, 1000))
    priority_stride: int = field(default=30, metadata=bounded(0, 1000))
    priority_softer: int = field(default=20, metadata=bounded(0, 1000))
    priority_reinforce: int = field(default=10, metadata=bounded(0, 1000))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "coach") -> CoachSettings:
        s = section_from_dict(cls, d, prefix)
        pairs = (
            ("cadence_exit_pct", s.cadence_exit_pct <= s.cadence_enter_pct, "<= cadence_enter_pct"),
            (
                "overstride_exit_m",
                s.overstride_exit_m <= s.overstride_enter_m,
                "<= overstride_enter_m",
            ),
            (
                "step_rel_leg_exit",
                s.step_rel_leg_exit <= s.step_rel_leg_enter,
                "<= step_rel_leg_enter",
            ),
            (
                "strike_angle_exit_deg",
                s.strike_angle_exit_deg <= s.strike_angle_enter_deg,
                "<= strike_angle_enter_deg",
            ),
            (
                "discomfort_stop_from",
                s.discomfort_stop_from >= s.discomfort_walk_from,
                ">= discomfort_walk_from",
            ),
            ("min_strides", s.min_strides <= s.window_steps, "<= window_steps"),
        )
        for key, ok, allowed in pairs:
            if not ok:
                raise ConfigError(f"{prefix}.{key}", getattr(s, key), allowed)
        return s

    def priority(self, kind: CueKind) -> int:
        return int(getattr(self, f"priority_{kind.value}"))
