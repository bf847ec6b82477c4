"""The coach on simulated runners (firmware_sim profiles, exact truth as stride records).

The truth is what a perfect gait engine would report; the gait engine's own accuracy is
measured elsewhere. Closed loop: the simulated runner changes their gait after a cue.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from firmware_sim.response import CueResponse, ResponseSettings
from firmware_sim.simulation import Simulation
from gaitcoach.coach import Coach, CoachSettings, DecisionAction, RunnerProfile
from gaitcoach.types import Activity, Cue, CueKind, DiscomfortReport
from tests.coach.test_coach import check_limits

STEP_S = 5.0


def run(
    profile: str,
    coach: Coach,
    until_s: float,
    on_cue: Callable[[Simulation, Cue], None] | None = None,
    at: dict[float, Callable[[], None]] | None = None,
    each_step: Callable[[Simulation, float], None] | None = None,
    step_s: float = STEP_S,
) -> list[Cue]:
    """Feed the simulated strides (in time order) and a tick every STEP_S seconds."""
    sim = Simulation(profile, seed=0)
    events = dict(sorted((at or {}).items()))
    cues: list[Cue] = []

    def heard(new: list[Cue]) -> list[Cue]:
        for cue in new:
            if on_cue is not None:
                on_cue(sim, cue)
        return new

    closed_loop = on_cue is not None or each_step is not None
    if not closed_loop:
        sim.run_until(until_s)  # open loop: the whole run at once (same strides, faster)
        everything = sim.truth_records(until_s=until_s)
    fed = 0
    t = 0.0
    while t < until_s:
        t = min(t + step_s, until_s)
        if each_step is not None:
            each_step(sim, t)  # the runner re-plans from the next step on
        if closed_loop:
            sim.run_until(t)
            records = sim.truth_records(until_s=t)
        else:
            records = everything[: bisect.bisect_right([r.end_ic_s for r in everything], t)]
        for record in records[fed:]:
            for when in [w for w in events if w <= record.end_ic_s]:
                events.pop(when)()
            cues += heard(coach.on_stride(record))
        fed = len(records)
        cues += heard(coach.tick(t))
    return cues


def test_heel_overstrider_gets_cadence_and_stride_cues_within_limits() -> None:
    settings = CoachSettings()
    coach = Coach(RunnerProfile(height_m=1.75), settings)
    cues = run("heel-overstrider", coach, 608.0)
    first = {k: min((c.created_s for c in cues if c.kind is k), default=None) for k in CueKind}
    start = 4.0 + settings.warmup_s  # the profile stands for 4 s first
    cadence, stride_at = first[CueKind.CADENCE], first[CueKind.STRIDE]
    assert cadence is not None and start <= cadence < start + 60
    assert stride_at is not None and start <= stride_at < start + 120
    assert first[CueKind.SOFTER] is not None
    assert first[CueKind.REINFORCE] is None and first[CueKind.DISCOMFORT] is None
    check_limits(cues, settings)
    assert len(cues) <= settings.max_cues_per_10min
    assert coach.baseline_cadence_spm_ == pytest.approx(155.0, abs=2.0)
    stride = next(c for c in cues if c.kind is CueKind.STRIDE)
    assert stride.trigger["overstride_m"] == pytest.approx(0.38, abs=0.03)
    assert max(c.level for c in cues) >= 1  # ignored cues escalate


@pytest.mark.parametrize("profile", ["efficient-midfoot", "forefoot", "asymmetric"])
def test_good_technique_gets_no_cues(profile: str) -> None:
    coach = Coach(RunnerProfile(height_m=1.75))
    assert run(profile, coach, 608.0) == []
    assert not [d for d in coach.decisions_ if d.action is DecisionAction.FAULT_ON]


WALK_RUN_NOT_RUNNING = [(0.0, 51.0), (171.0, 231.0), (351.0, 402.0)]
"""walk-run: stand 6 s, walk 45 s, run 120 s, walk 45 s, stand 15 s, run 120 s, walk 45 s."""


def test_walking_and_standing_get_no_cues_even_without_warmup() -> None:
    # No warm-up: the walking segments (20 deg heel strike, landing 0.30 m ahead, 112 spm)
    # would be cued on all three faults if walking were coached.
    settings = CoachSettings(warmup_s=0.0)
    coach = Coach(RunnerProfile(height_m=1.75, baseline_cadence_spm=170.0), settings)
    assert run("walk-run", coach, 402.0) == []
    for d in coach.decisions_:
        if d.action in (DecisionAction.FAULT_ON, DecisionAction.CUE, DecisionAction.SUPPRESSED):
            assert not any(a <= d.t_s < b for a, b in WALK_RUN_NOT_RUNNING), d
    standing = Coach(RunnerProfile(), settings)
    assert run("standing", standing, 60.0) == []
    assert standing.metrics_ is None or standing.metrics_.activity is Activity.STANDING


def test_walking_strides_would_be_cued_if_they_were_running() -> None:
    sim = Simulation("walk-run", seed=0)
    sim.run_until(51.0)
    walking = [r for r in sim.truth_records(until_s=51.0) if r.activity is Activity.WALKING]
    assert len(walking) > 40
    settings = CoachSettings(warmup_s=0.0, settle_s=0.0)
    coach = Coach(RunnerProfile(height_m=1.75, baseline_cadence_spm=170.0), settings)
    cues = [c for r in walking for c in coach.on_stride(replace(r, activity=Activity.RUNNING))]
    assert cues  # so the previous test's silence is the activity gate, not the thresholds


def test_fatiguing_runner_is_coached_only_once_technique_degrades() -> None:
    coach = Coach(RunnerProfile(height_m=1.75))
    cues = run("fatiguing", coach, 1804.0)
    assert cues, "the drift into overstriding goes unnoticed"
    assert min(c.created_s for c in cues) > 300.0
    assert {CueKind.CADENCE, CueKind.STRIDE} <= {c.kind for c in cues}


def listening_runner(settings: ResponseSettings) -> tuple[CueResponse, dict[str, Any]]:
    """The simulator's model of a runner who hears the cues (firmware_sim.response)."""
    response = CueResponse(155.0, settings)

    def on_cue(sim: Simulation, cue: Cue) -> None:
        response.hear(cue.created_s, cue.kind.value, cue.level, cue.metronome_spm)

    def each_step(sim: Simulation, t: float) -> None:
        sim.adjust(**response.offsets(t))

    return response, {"on_cue": on_cue, "each_step": each_step}


def test_runner_who_corrects_gets_reinforcement_and_no_further_corrections() -> None:
    coach = Coach(RunnerProfile(height_m=1.75), CoachSettings())
    # Does what is asked and keeps it (no drift back to the old habit within the run).
    response, hooks = listening_runner(ResponseSettings(compliance=1.0, drift_back_s=1e5))
    cues = run("heel-overstrider", coach, 608.0, step_s=2.0, **hooks)
    corrections = [c for c in cues if c.kind is not CueKind.REINFORCE]
    praise = [c for c in cues if c.kind is CueKind.REINFORCE]
    assert {c.kind for c in corrections} == {CueKind.CADENCE, CueKind.STRIDE, CueKind.SOFTER}
    assert len(praise) == 3  # one per corrected fault, each once it held
    last_correction = max(c.created_s for c in corrections)
    assert all(c.kind is CueKind.REINFORCE for c in cues if c.created_s > last_correction)
    assert last_correction < 300.0 and praise[-1].created_s < 400.0
    assert [d.kind for d in coach.decisions_ if d.action is DecisionAction.FAULT_OFF] != []
    assert {h[1] for h in response.heard_} == {"cadence", "stride", "softer", "reinforce"}
    # Praise carries the numbers before (at the last correction) and now.
    cadence = next(p for p in praise if "before_cadence_spm" in p.trigger)
    assert cadence.trigger["before_cadence_spm"] < 160.0 < cadence.trigger["cadence_spm"]
    stride = next(p for p in praise if "before_overstride_m" in p.trigger)
    assert stride.trigger["before_overstride_m"] > 0.30 > stride.trigger["overstride_m"]


def test_runner_who_drifts_back_is_reminded() -> None:
    # Half-hearted and forgetful: corrections fade within minutes.
    _, hooks = listening_runner(ResponseSettings(compliance=0.6, drift_back_s=120.0))
    capped = Coach(RunnerProfile(height_m=1.75), CoachSettings())
    capped_cues = run("heel-overstrider", capped, 608.0, step_s=2.0, **hooks)
    assert len(capped_cues) == capped.settings.max_cues_per_10min
    assert any(d.reason == "cap per 10 min" for d in capped.decisions_)
    _, hooks = listening_runner(ResponseSettings(compliance=0.6, drift_back_s=120.0))
    coach = Coach(RunnerProfile(height_m=1.75), CoachSettings(max_cues_per_10min=20))
    cues = run("heel-overstrider", coach, 608.0, step_s=2.0, **hooks)
    kinds = [c.kind for c in cues]
    assert CueKind.REINFORCE in kinds
    after_praise = [
        c for c in cues[kinds.index(CueKind.REINFORCE) :] if c.kind is not CueKind.REINFORCE
    ]
    assert after_praise and after_praise[0].level == 0  # a new episode starts at level 0


def test_discomfort_report_changes_the_coaching() -> None:
    settings = CoachSettings(discomfort_pause_s=300.0)
    baseline = Coach(RunnerProfile(height_m=1.75), settings)
    usual = run("heel-overstrider", baseline, 608.0)
    coach = Coach(RunnerProfile(height_m=1.75), settings)
    answers: list[Cue] = []
    report = DiscomfortReport(150.0, "shin", 5, "dull ache")
    cues = run(
        "heel-overstrider",
        coach,
        608.0,
        at={150.0: lambda: answers.append(coach.report_discomfort(report))},
    )
    assert len(answers) == 1 and "walk" in answers[0].text.lower()
    assert [c for c in usual if 150.0 <= c.created_s < 450.0]  # would have been coached
    assert not [c for c in cues if 150.0 <= c.created_s < 450.0]
    assert [c for c in cues if c.created_s >= 450.0]
    assert list(coach.discomfort_reports_) == [report]
