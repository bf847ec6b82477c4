"""Config sections of the coach: ``[runner]`` (the runner profile) and ``[coach]`` (how and
when to coach). Both are frozen dataclasses validated by :mod:`gaitcoach.configmodel` (built
with ``from_dict(d, prefix)``); every default is explained in docs/coaching.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Strict

from gaitcoach.configmodel import (
    SECTION_CONFIG,
    CadenceRaisePct,
    CadenceSpm,
    LegLengthM,
    OverstrideLimitM,
    StrikeAngleLimitDeg,
    must,
    ranged,
    section_from_dict,
    text_pattern,
)
from gaitcoach.errors import Problem
from gaitcoach.types import CueKind

CueName = Literal["cadence", "stride", "softer", "reinforce"]
"""The cue kinds a runner can switch on or off."""
TECHNIQUE_KINDS: tuple[CueName, ...] = ("cadence", "stride", "softer")
ALL_KINDS: tuple[CueName, ...] = (*TECHNIQUE_KINDS, "reinforce")
assert (CueKind.CADENCE.value, CueKind.STRIDE.value, CueKind.SOFTER.value) == TECHNIQUE_KINDS
assert ALL_KINDS[-1] == CueKind.REINFORCE.value

LEG_LENGTH_PER_HEIGHT = 0.530
"""Greater-trochanter height over body height (Winter, Biomechanics and Motor Control of Human
Movement, anthropometric table): the leg length when only the height is known."""

RUNNER_ID = r"[A-Za-z0-9_-]{1,64}"
"""Runner ids become MQTT topic levels: no '/', '+', '#' or spaces."""

RunnerId = Annotated[str, Strict(), text_pattern(RUNNER_ID, "1-64 of A-Z a-z 0-9 _ -")]


def account_name(runner_id: str) -> bool:
    """Whether ``runner_id`` is one of the broker accounts of the example ACL
    (``gaitcoach/data/examples/mosquitto/acl``): its ``pattern`` lines give the account named
    like a runner that runner's rights, so a runner called ``coach`` would be read and
    commanded by every coach, and one called ``gaitcoach-bob`` would be bob's service."""
    return (
        runner_id.startswith("gaitcoach-")
        or runner_id.endswith("-dashboard")
        or runner_id in ("coach", "homeassistant")
    )


@dataclass(frozen=True, slots=True)
class RunnerProfile:
    """The runner: body size, cadence baseline and targets, which cues, which words."""

    __pydantic_config__ = SECTION_CONFIG

    id: RunnerId = "runner"
    height_m: Annotated[float, Strict(), ranged(1.0, 2.5)] | None = None
    leg_length_m: LegLengthM | None = None
    baseline_cadence_spm: Annotated[float, Strict(), ranged(120.0, 220.0)] | None = None
    """Usual running cadence; measured during the warm-up when left out."""
    cadence_target_spm: CadenceSpm | None = None
    """Absolute cadence target; when left out the target is baseline + cadence_raise_pct."""
    cadence_raise_pct: CadenceRaisePct = 7.5
    """Heiderscheit et al. (2011): +5-10 % step rate reduces overstride and loading."""
    cadence_target_max_spm: Annotated[float, Strict(), ranged(150.0, 220.0)] = 180.0
    """A relative target is capped here: quick runners are not pushed further."""
    enabled_cues: tuple[CueName, ...] = ALL_KINDS
    language: Annotated[str, Strict(), text_pattern(r"[a-z]{2}(-[A-Z]{2})?", "like en")] = "en"
    cue_templates_dir: Annotated[str, Strict()] | None = None
    """Folder with ``<language>.toml`` cue wording; the shipped wording by default."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "runner") -> RunnerProfile:
        return section_from_dict(cls, d, prefix)

    def problems(self, prefix: str) -> list[Problem]:
        found = must(
            not account_name(self.id),
            prefix,
            "id",
            self.id,
            "not a broker account name (gaitcoach-*, *-dashboard, coach, homeassistant)",
        )
        leg, height = self.leg_length_m, self.height_m
        if leg is None or height is None:
            return found
        return found + must(
            0.40 <= leg / height <= 0.60,
            prefix,
            "leg_length_m",
            leg,
            f"40-60 % of height_m = {height:g}",
        )

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

    __pydantic_config__ = SECTION_CONFIG

    window_steps: Annotated[int, Strict(), ranged(4, 200)] = 20
    window_s: Annotated[float, Strict(), ranged(3.0, 120.0)] = 15.0
    min_strides: Annotated[int, Strict(), ranged(2, 200)] = 8
    """Decide only with at least this many strides in the window."""
    warmup_s: Annotated[float, Strict(), ranged(0.0, 1800.0)] = 60.0
    """No technique cues during the first seconds of running in a session."""
    settle_s: Annotated[float, Strict(), ranged(0.0, 300.0)] = 15.0
    """No technique cues until running has lasted this long again after a walk or a stop."""
    cue_ttl_s: Annotated[float, Strict(), ranged(1.0, 120.0)] = 8.0
    """A cue not delivered within this time is stale and dropped."""
    min_interval_same_s: Annotated[float, Strict(), ranged(0.0, 3600.0)] = 60.0
    min_interval_any_s: Annotated[float, Strict(), ranged(0.0, 3600.0)] = 20.0
    max_cues_per_10min: Annotated[int, Strict(), ranged(1, 100)] = 8
    max_level: Annotated[int, Strict(), ranged(0, 5)] = 2
    """Escalation stops at this level (a cue repeated while the fault persists escalates)."""
    cadence_enter_pct: Annotated[float, Strict(), ranged(0.0, 20.0)] = 4.0
    """Cadence fault when the cadence is this far (%) below the target (more than the
    stride-to-stride noise of a median, about 1 %) ..."""
    cadence_exit_pct: Annotated[float, Strict(), ranged(0.0, 20.0)] = 1.5
    """... and corrected when it is within this much of it."""
    overstride_enter_m: OverstrideLimitM = 0.30
    """Overstride: the foot lands this far ahead of the centre of mass (efficient runners land
    about 0.15-0.25 m ahead at 3-4 m/s)."""
    overstride_exit_m: OverstrideLimitM = 0.26
    step_rel_leg_enter: Annotated[float, Strict(), ranged(0.5, 3.0)] = 1.45
    step_rel_leg_exit: Annotated[float, Strict(), ranged(0.5, 3.0)] = 1.35
    strike_angle_enter_deg: StrikeAngleLimitDeg = 18.0
    """Excessive heel strike: above this strike angle (a rearfoot strike is > 8 deg)."""
    strike_angle_exit_deg: StrikeAngleLimitDeg = 14.0
    reinforce_hold_s: Annotated[float, Strict(), ranged(0.0, 600.0)] = 20.0
    """A corrected fault earns praise once it has held this long."""
    discomfort_walk_from: Annotated[int, Strict(), ranged(1, 10)] = 4
    discomfort_stop_from: Annotated[int, Strict(), ranged(1, 10)] = 7
    discomfort_pause_s: Annotated[float, Strict(), ranged(0.0, 7200.0)] = 300.0
    """Technique cues pause this long after a discomfort report (for the rest of the session
    from the stop score)."""
    priority_discomfort: Annotated[int, Strict(), ranged(0, 1000)] = 100
    priority_cadence: Annotated[int, Strict(), ranged(0, 1000)] = 40
    priority_stride: Annotated[int, Strict(), ranged(0, 1000)] = 30
    priority_softer: Annotated[int, Strict(), ranged(0, 1000)] = 20
    priority_reinforce: Annotated[int, Strict(), ranged(0, 1000)] = 10

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "coach") -> CoachSettings:
        return section_from_dict(cls, d, prefix)

    def problems(self, prefix: str) -> list[Problem]:
        """Hysteresis pairs in order (exit on the corrected side of enter), and a window that
        can hold the strides a decision needs."""
        pairs = (
            (
                "cadence_exit_pct",
                self.cadence_exit_pct <= self.cadence_enter_pct,
                "<= cadence_enter_pct",
            ),
            (
                "overstride_exit_m",
                self.overstride_exit_m <= self.overstride_enter_m,
                "<= overstride_enter_m",
            ),
            (
                "step_rel_leg_exit",
                self.step_rel_leg_exit <= self.step_rel_leg_enter,
                "<= step_rel_leg_enter",
            ),
            (
                "strike_angle_exit_deg",
                self.strike_angle_exit_deg <= self.strike_angle_enter_deg,
                "<= strike_angle_enter_deg",
            ),
            (
                "discomfort_stop_from",
                self.discomfort_stop_from >= self.discomfort_walk_from,
                ">= discomfort_walk_from",
            ),
            ("min_strides", self.min_strides <= self.window_steps, "<= window_steps"),
        )
        return [
            p
            for key, ok, allowed in pairs
            for p in must(ok, prefix, key, getattr(self, key), allowed)
        ]

    def priority(self, kind: CueKind) -> int:
        return int(getattr(self, f"priority_{kind.value}"))
