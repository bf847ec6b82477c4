"""The runner's cadence target: one rule for the live cue, the summary, the advice and every
plot. The target is the runner's absolute ``cadence_target_spm`` when set, else the baseline
(configured, or measured in the warm-up) raised by ``cadence_raise_pct`` and capped at
``cadence_target_max_spm`` (never below the baseline). The band around it is the coach's own
rule: below ``cadence_enter_pct`` under the target the coach cues "quicker steps"."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from gaitcoach.coach.config import CoachSettings, RunnerProfile
from gaitcoach.types import Activity, StrideRecord


@dataclass(frozen=True, slots=True)
class CadenceTarget:
    target_spm: float
    low_spm: float
    """The coach cues below this (``cadence_enter_pct`` under the target)."""
    high_spm: float
    """As far above the target as ``low_spm`` is below it (the plots' band)."""
    baseline_spm: float | None
    source: str
    """How the target was set, in words ("your 155 + 7.5 %", "set to 172")."""


def cadence_target(
    profile: RunnerProfile,
    settings: CoachSettings,
    baseline_spm: float | None,
    override_spm: float | None = None,
    raise_pct: float | None = None,
) -> CadenceTarget | None:
    """The target and its band; None while neither an absolute target nor a baseline is
    known. ``override_spm`` and ``raise_pct`` are a mid-run ``set_targets``."""
    absolute = override_spm if override_spm is not None else profile.cadence_target_spm
    pct = profile.cadence_raise_pct if raise_pct is None else raise_pct
    if absolute is not None:
        target, source = float(absolute), f"set to {absolute:.0f}"
    elif baseline_spm is not None:
        raised = baseline_spm * (1.0 + pct / 100.0)
        target = max(baseline_spm, min(raised, profile.cadence_target_max_spm))
        source = f"your {baseline_spm:.0f} + {pct:g} %"
        if target < raised:
            source += f", capped at {profile.cadence_target_max_spm:.0f}"
    else:
        return None
    margin = target * settings.cadence_enter_pct / 100.0
    return CadenceTarget(target, target - margin, target + margin, baseline_spm, source)


def warmup_baseline(strides: Sequence[StrideRecord], warmup_s: float) -> float | None:
    """The coach's baseline rule over recorded strides: the median cadence of the running
    strides that end within the warm-up (from the first running stride)."""
    running = [s for s in strides if s.activity is Activity.RUNNING]
    if not running:
        return None
    start = min(s.ic_s for s in running)
    values = [s.cadence_spm for s in running if s.end_ic_s - start < warmup_s]
    return float(statistics.median(values)) if values else None
