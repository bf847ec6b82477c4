"""How the simulated runner responds to coaching cues (the closed loop).

Pure logic: :class:`CueResponse` turns cues heard at given times into parameter offsets for
:meth:`firmware_sim.simulation.Simulation.adjust`. A compliant runner moves toward what the
cue asks over some strides (time constant ``adopt_s``), then slowly drifts back to their habit
(``drift_back_s``) unless reminded; ``compliance`` (0..1) scales how much of the requested
change they make. Raising cadence at the same speed also shortens the step, so the landing
point comes closer to the hips and the strike flattens a little (coupling as reported by
Heiderscheit et al. 2011: +5-10 % step rate reduces braking and overstride).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from firmware_sim.params import _check


@dataclass(frozen=True)
class ResponseSettings:
    """How a runner reacts to cues.

    Parameters
    ----------
    compliance
        0 = ignores every cue, 1 = does all that is asked.
    adopt_s
        Time constant of the change after a cue.
    drift_back_s
        Time constant of the return to the old habit after a cue.
    cadence_step_pct
        Cadence increase asked by one cadence cue without a target (percent).
    landing_step_m
        Landing-distance reduction asked by one stride cue.
    strike_step_deg
        Strike-angle reduction asked by one softer-landing cue.
    """

    compliance: float = 0.8
    adopt_s: float = 8.0
    drift_back_s: float = 240.0
    cadence_step_pct: float = 6.0
    landing_step_m: float = 0.10
    strike_step_deg: float = 8.0

    def validate(self) -> None:
        checks = {
            "compliance": (self.compliance, 0.0, 1.0),
            "adopt_s": (self.adopt_s, 0.1, 600.0),
            "drift_back_s": (self.drift_back_s, 1.0, 1e5),
            "cadence_step_pct": (self.cadence_step_pct, 0.0, 30.0),
            "landing_step_m": (self.landing_step_m, 0.0, 0.5),
            "strike_step_deg": (self.strike_step_deg, 0.0, 30.0),
        }
        for name, (v, lo, hi) in checks.items():
            _check(f"response.{name}", v, lo, hi)


# Coupling of a cadence change to the other parameters (per step/min of change).
LANDING_PER_SPM_M = -0.004
STRIKE_PER_SPM_DEG = -0.25
# Landing closer to the hips shortens the ground contact (the body travels the contact length
# at running speed) and flattens the strike a little (per metre of landing-distance change).
STRIKE_PER_LANDING_DEG_PER_M = 15.0


@dataclass
class _Effect:
    target: float = 0.0  # requested offset at the time of the last cue
    t_cue: float = 0.0
    value: float = 0.0  # current offset
    t: float = 0.0

    def advance(self, t: float, adopt_s: float, drift_s: float) -> float:
        if t > self.t:
            goal = self.target * math.exp(-(t - self.t_cue) / drift_s)
            self.value += (goal - self.value) * (1.0 - math.exp(-(t - self.t) / adopt_s))
            self.t = t
        return self.value


@dataclass
class CueResponse:
    """Turns cues into gait offsets over time. Feed cues with :meth:`hear`, read the offsets
    for ``Simulation.adjust`` with :meth:`offsets`."""

    baseline_cadence_spm: float
    settings: ResponseSettings = field(default_factory=ResponseSettings)
    speed_mps: float = 3.0
    """Running speed: turns a landing-distance change into a contact-time change."""
    heard_: list[tuple[float, str, int]] = field(default_factory=list)
    _cadence: _Effect = field(default_factory=_Effect)
    _landing: _Effect = field(default_factory=_Effect)
    _strike: _Effect = field(default_factory=_Effect)

    def __post_init__(self) -> None:
        self.settings.validate()

    def hear(
        self, t_s: float, kind: str, level: int = 0, target_cadence_spm: float | None = None
    ) -> None:
        """A cue reached the runner at ``t_s`` (kind as in ``gaitcoach.types.CueKind``)."""
        self.heard_.append((t_s, kind, level))
        c = self.settings.compliance
        # A repeated (escalated) cue is taken a little more seriously.
        urgency = 1.0 + 0.25 * min(level, 2)
        if kind == "cadence":
            current = self._cadence.advance(t_s, self.settings.adopt_s, self.settings.drift_back_s)
            if target_cadence_spm is not None:
                want = target_cadence_spm - self.baseline_cadence_spm
            else:
                want = current + self.baseline_cadence_spm * self.settings.cadence_step_pct / 100
            self._set(self._cadence, t_s, current + c * urgency * (want - current))
        elif kind == "stride":
            cur = self._landing.advance(t_s, self.settings.adopt_s, self.settings.drift_back_s)
            self._set(self._landing, t_s, cur - c * urgency * self.settings.landing_step_m)
            # Shorter steps at the same speed come with a slightly quicker cadence.
            cc = self._cadence.advance(t_s, self.settings.adopt_s, self.settings.drift_back_s)
            self._set(self._cadence, t_s, cc + c * 0.02 * self.baseline_cadence_spm)
        elif kind == "softer":
            cur = self._strike.advance(t_s, self.settings.adopt_s, self.settings.drift_back_s)
            self._set(self._strike, t_s, cur - c * urgency * self.settings.strike_step_deg)

    @staticmethod
    def _set(effect: _Effect, t_s: float, target: float) -> None:
        effect.target = target
        effect.t_cue = t_s

    def offsets(self, t_s: float) -> dict[str, float]:
        """Parameter offsets at ``t_s`` for ``Simulation.adjust``."""
        s = self.settings
        dc = self._cadence.advance(t_s, s.adopt_s, s.drift_back_s)
        dl = self._landing.advance(t_s, s.adopt_s, s.drift_back_s)
        da = self._strike.advance(t_s, s.adopt_s, s.drift_back_s)
        landing = dl + LANDING_PER_SPM_M * dc
        return {
            "cadence_spm": dc,
            "landing_distance_m": landing,
            "contact_time_s": landing / self.speed_mps,
            "strike_angle_deg": da
            + STRIKE_PER_SPM_DEG * dc
            + STRIKE_PER_LANDING_DEG_PER_M * landing,
        }
