"""Coach behaviour on constructed stride streams (the simulator scenarios are in
test_scenarios.py)."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable

import pytest

from gaitcoach.coach import (
    Coach,
    CoachSettings,
    CommandError,
    DecisionAction,
    Mute,
    RunnerProfile,
    SetTargets,
    StartSession,
    StopSession,
)
from gaitcoach.types import Activity, Cue, CueKind, DiscomfortReport, Foot, StrideRecord
from tests.coach.streams import EFFICIENT, HEEL_OVERSTRIDER, Segment, like, strides


def feed(coach: Coach, records: Iterable[StrideRecord]) -> list[Cue]:
    cues: list[Cue] = []
    for record in records:
        cues += coach.on_stride(record)
    return cues


def check_limits(cues: list[Cue], settings: CoachSettings) -> None:
    technique = [c for c in cues if c.kind is not CueKind.DISCOMFORT]
    for a, b in itertools.pairwise(technique):
        assert b.created_s - a.created_s >= settings.min_interval_any_s
    for kind in (CueKind.CADENCE, CueKind.STRIDE, CueKind.SOFTER):
        same = [c.created_s for c in technique if c.kind is kind]
        assert all(b - a >= settings.min_interval_same_s for a, b in itertools.pairwise(same))
    times = [c.created_s for c in technique]
    for t in times:
        assert sum(1 for u in times if t <= u < t + 600.0) <= settings.max_cues_per_10min


def test_heel_overstrider_gets_cadence_and_stride_cues_after_warmup_within_limits() -> None:
    settings = CoachSettings()
    coach = Coach(RunnerProfile(height_m=1.78), settings)
    cues = feed(coach, strides([like(HEEL_OVERSTRIDER, 900.0)]))
    kinds = [c.kind for c in cues]
    assert CueKind.CADENCE in kinds and CueKind.STRIDE in kinds and CueKind.SOFTER in kinds
    assert cues[0].created_s >= settings.warmup_s
    first = {k: min(c.created_s for c in cues if c.kind is k) for k in set(kinds)}
    assert first[CueKind.CADENCE] < 180.0 and first[CueKind.STRIDE] < 180.0
    check_limits(cues, settings)
    assert len(cues) <= 2 * settings.max_cues_per_10min  # 15 min
    # Every cue carries the numbers that triggered it, and they show the fault.
    cadence = next(c for c in cues if c.kind is CueKind.CADENCE)
    assert cadence.trigger["cadence_spm"] < cadence.trigger["enter_below_spm"]
    assert cadence.metronome_spm == pytest.approx(cadence.trigger["target_spm"])
    # Baseline measured in the warm-up (about 154) + 7.5 %.
    assert coach.baseline_cadence_spm_ == pytest.approx(154.0, abs=2.0)
    assert coach.cadence_target_spm_ == pytest.approx(154.0 * 1.075, abs=2.5)
    stride = next(c for c in cues if c.kind is CueKind.STRIDE)
    assert stride.trigger["overstride_m"] > settings.overstride_enter_m
    assert next(c for c in cues if c.kind is CueKind.SOFTER).trigger["strike_angle_deg"] > 18.0
    # The most important fault is spoken first.
    assert cues[0].kind is CueKind.CADENCE
    assert all(c.expires_s == c.created_s + settings.cue_ttl_s for c in cues)
    sent = [d for d in coach.decisions_ if d.action is DecisionAction.CUE]
    assert [d.cue_id for d in sent] == [c.id for c in cues]
    record = json.loads(json.dumps(sent[0].as_dict()))
    assert record["action"] == "cue" and record["trigger"]["cadence_spm"] < 160.0


def test_ignored_cue_escalates_and_restarts_after_a_correction() -> None:
    coach = Coach(RunnerProfile(enabled_cues=("cadence",)))
    fixed = Segment(0.0, cadence_spm=170.0)
    cues = feed(
        coach,
        strides([like(HEEL_OVERSTRIDER, 400.0), like(fixed, 120.0), like(HEEL_OVERSTRIDER, 200.0)]),
    )
    levels = [c.level for c in cues if c.created_s < 400.0]
    assert len(levels) >= 4 and levels[:3] == [0, 1, 2] and set(levels[3:]) == {2}
    assert cues[0].text != cues[1].text != cues[2].text
    again = [c.level for c in cues if c.created_s >= 520.0]
    assert again[:2] == [0, 1]


def test_efficient_runner_gets_no_cues() -> None:
    coach = Coach(RunnerProfile(height_m=1.75))
    assert feed(coach, strides([like(EFFICIENT, 900.0)])) == []
    assert not any(d.action is DecisionAction.FAULT_ON for d in coach.decisions_)


def test_runner_who_corrects_gets_reinforcement_and_no_more_corrections() -> None:
    settings = CoachSettings()
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0), settings)
    corrected = Segment(0.0, cadence_spm=167.0, strike_angle_deg=6.0, overstride_m=0.20)
    cues = feed(coach, strides([like(HEEL_OVERSTRIDER, 150.0), like(corrected, 600.0)]))
    before = [c for c in cues if c.created_s < 150.0]
    after = [c for c in cues if c.created_s >= 150.0]
    assert before and all(c.kind is not CueKind.REINFORCE for c in before)
    assert after and all(c.kind is CueKind.REINFORCE for c in after)
    # One reinforcement per corrected fault, each after the hold time, with before and after.
    cued = {c.kind for c in before}
    assert len(after) == len(cued)
    praise = after[0]
    assert praise.created_s >= 150.0 + settings.reinforce_hold_s
    assert any(k.startswith("before_") for k in praise.trigger)


@pytest.mark.parametrize("activity", [Activity.WALKING, Activity.STANDING])
def test_walking_and_standing_get_no_cues(activity: Activity) -> None:
    slow = Segment(
        600.0,
        cadence_spm=110.0,
        strike_angle_deg=25.0,
        overstride_m=0.35,
        speed_mps=1.3,
        activity=activity,
    )
    coach = Coach(RunnerProfile(baseline_cadence_spm=160.0))
    assert feed(coach, strides([slow])) == []
    assert coach.tick(600.0) == []


def test_walk_breaks_hold_cues_until_running_settles() -> None:
    settings = CoachSettings()
    coach = Coach(RunnerProfile(baseline_cadence_spm=150.0), settings)
    walk = Segment(60.0, cadence_spm=110.0, speed_mps=1.3, activity=Activity.WALKING)
    cues = feed(
        coach, strides([like(HEEL_OVERSTRIDER, 120.0), walk, like(HEEL_OVERSTRIDER, 120.0)])
    )
    assert not [c for c in cues if 120.0 <= c.created_s < 180.0 + settings.settle_s]
    assert [c for c in cues if c.created_s >= 180.0 + settings.settle_s]


def test_standing_still_is_noticed_by_tick() -> None:
    coach = Coach(RunnerProfile(baseline_cadence_spm=150.0))
    feed(coach, strides([like(HEEL_OVERSTRIDER, 100.0)]))
    coach.tick(110.0)
    assert coach.metrics_ is not None and coach.metrics_.activity is Activity.STANDING
    assert coach.tick(200.0) == []


def test_hysteresis_keeps_a_fault_between_its_thresholds() -> None:
    settings = CoachSettings()
    coach = Coach(RunnerProfile(enabled_cues=("softer",)), settings)
    high = Segment(0.0, cadence_spm=175.0, strike_angle_deg=23.0)
    middle = Segment(0.0, cadence_spm=175.0, strike_angle_deg=16.0)  # between 14 and 18
    feed(coach, strides([like(high, 120.0), like(middle, 300.0)], seed=3))
    mine = [d for d in coach.decisions_ if d.kind == "softer"]
    ons = [d for d in mine if d.action is DecisionAction.FAULT_ON]
    offs = [d for d in mine if d.action is DecisionAction.FAULT_OFF]
    assert len(ons) == 1 and offs == []
    fresh = Coach(RunnerProfile(enabled_cues=("softer",)), settings)
    assert feed(fresh, strides([like(middle, 400.0)], seed=3)) == []


def test_discomfort_is_answered_and_pauses_technique_cues() -> None:
    settings = CoachSettings(discomfort_pause_s=240.0)
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0), settings)
    stream = list(strides([like(HEEL_OVERSTRIDER, 900.0)]))
    cues = feed(coach, (s for s in stream if s.end_ic_s < 200.0))
    answer = coach.report_discomfort(DiscomfortReport(200.0, "knee", 5, "sharp"))
    assert answer.kind is CueKind.DISCOMFORT and "walk" in answer.text.lower()
    assert "knee" in answer.text and answer.trigger["score"] == 5.0
    assert answer.priority > max(c.priority for c in cues)
    later = feed(coach, (s for s in stream if s.end_ic_s >= 200.0))
    assert not [c for c in later if c.created_s < 440.0]
    assert [c for c in later if c.created_s >= 440.0]  # coaching resumes after the pause
    assert list(coach.discomfort_reports_) == [DiscomfortReport(200.0, "knee", 5, "sharp")]
    assert any(d.action is DecisionAction.DISCOMFORT for d in coach.decisions_)


def test_high_discomfort_says_stop_and_ends_technique_cues() -> None:
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0))
    stream = list(strides([like(HEEL_OVERSTRIDER, 900.0)]))
    feed(coach, (s for s in stream if s.end_ic_s < 100.0))
    answer = coach.report_discomfort(DiscomfortReport(100.0, "achilles", 8))
    assert "stop" in answer.text.lower()
    assert feed(coach, (s for s in stream if s.end_ic_s >= 100.0)) == []
    mild = Coach(RunnerProfile(baseline_cadence_spm=155.0)).report_discomfort(
        DiscomfortReport(10.0, "calf", 2)
    )
    assert "ease off" in mild.text.lower()


def test_mute_and_targets_commands() -> None:
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0))
    coach.apply_command(StartSession("s1"), 0.0)
    stream = list(strides([like(HEEL_OVERSTRIDER, 400.0)]))
    coach.apply_command(Mute(200.0), 0.0)
    cues = feed(coach, stream)
    assert cues and min(c.created_s for c in cues) >= 200.0
    assert cues[0].id.startswith("s1-")
    # A target the runner already meets stops cadence cues; the limits move the others.
    out = coach.apply_command(
        SetTargets(cadence_target_spm=150.0, strike_angle_limit_deg=30.0, overstride_limit_m=0.5),
        400.0,
    )
    assert out.detail["cadence_target_spm"] == 150.0
    more = feed(coach, strides([like(HEEL_OVERSTRIDER, 400.0)], seed=1, t0_s=400.0))
    assert all(c.kind is CueKind.REINFORCE for c in more) and more
    coach.apply_command(StopSession(), 800.0)
    assert feed(coach, strides([like(HEEL_OVERSTRIDER, 200.0)], t0_s=800.0)) == []


def test_absolute_target_and_cap_on_relative_target() -> None:
    assert Coach(RunnerProfile(cadence_target_spm=172.0)).cadence_target_spm_ == 172.0
    capped = Coach(RunnerProfile(baseline_cadence_spm=175.0))
    assert capped.cadence_target_spm_ == 180.0
    above = Coach(RunnerProfile(baseline_cadence_spm=185.0))
    assert above.cadence_target_spm_ == 185.0  # never a target below the baseline


def test_disabled_cues_are_not_sent() -> None:
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0, enabled_cues=("softer",)))
    cues = feed(coach, strides([like(HEEL_OVERSTRIDER, 600.0)]))
    assert cues and {c.kind for c in cues} == {CueKind.SOFTER}


def test_cap_per_ten_minutes_is_recorded_as_a_decision() -> None:
    settings = CoachSettings(max_cues_per_10min=2, min_interval_same_s=30.0)
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0), settings)
    cues = feed(coach, strides([like(HEEL_OVERSTRIDER, 500.0)]))
    assert len(cues) == 2
    assert any(
        d.action is DecisionAction.SUPPRESSED and d.reason == "cap per 10 min"
        for d in coach.decisions_
    )


def test_bad_discomfort_score_is_rejected() -> None:
    coach = Coach(RunnerProfile())
    with pytest.raises(CommandError) as err:
        coach.report_discomfort(DiscomfortReport(0.0, "knee", 11))
    assert err.value.code == "out_of_range"
    assert list(coach.discomfort_reports_) == []


def test_a_long_run_of_commands_keeps_the_coach_bounded() -> None:
    # Issue 14: every command added a decision for the life of the session (a flood of
    # commands grew memory without bound).
    from gaitcoach.coach import ReportDiscomfort
    from gaitcoach.coach.engine import CUES_KEEP, DECISIONS_KEEP, DISCOMFORT_KEEP

    coach = Coach(RunnerProfile(id="ann"))
    coach.start(0.0)
    for i in range(3 * DECISIONS_KEEP):
        coach.apply_command(Mute(0.0), float(i))
        coach.apply_command(ReportDiscomfort("calf", 1), float(i))
    assert len(coach.decisions_) == DECISIONS_KEEP
    assert len(coach.cues_) == CUES_KEEP and len(coach.discomfort_reports_) == DISCOMFORT_KEEP
    assert coach.decisions_[-1].t_s == 3 * DECISIONS_KEEP - 1  # the newest are kept


def test_a_session_restart_keeps_the_mute_and_the_rate_limits() -> None:
    # The runner muted the coach, or just heard a cue; a new session (the app's start) cleared
    # both, so cues came back while muted, or right after the last one.
    settings = CoachSettings(warmup_s=0.0, settle_s=0.0)
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0), settings)
    stream = list(strides([like(HEEL_OVERSTRIDER, 900.0)]))
    coach.apply_command(StartSession("s1"), 0.0)
    coach.apply_command(Mute(300.0), 0.0)
    first = feed(coach, (s for s in stream if s.end_ic_s < 100.0))
    coach.apply_command(StartSession("s2"), 100.0)
    second = feed(coach, (s for s in stream if 100.0 <= s.end_ic_s < 400.0))
    assert first == [] and second and min(c.created_s for c in second) >= 300.0
    coach.apply_command(StartSession("s3"), 400.0)
    third = feed(coach, (s for s in stream if s.end_ic_s >= 400.0))
    assert third
    check_limits(second + third, settings)


def test_no_cues_from_one_foot_once_both_feet_streamed_but_a_single_pod_is_coached() -> None:
    # The right pod dropped out at 200 s: the coach went on cueing from the left foot's
    # medians alone (an asymmetric runner's one foot). A single pod all along is coached.
    stream = list(strides([like(HEEL_OVERSTRIDER, 900.0)]))
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0))
    cues = feed(coach, (s for s in stream if s.foot is Foot.LEFT or s.end_ic_s < 200.0))
    assert cues and max(c.created_s for c in cues) < 200.0 + coach.settings.window_s
    assert coach.metrics_ is not None and coach.metrics_.n_strides > 0  # still measured
    single = Coach(RunnerProfile(baseline_cadence_spm=155.0))
    left = feed(single, (s for s in stream if s.foot is Foot.LEFT))
    assert any(c.created_s > 300.0 for c in left)


def test_a_metric_that_becomes_unknown_is_not_cued_from_its_old_values() -> None:
    # The strike angle and the spatial values are withheld once the sensor alignment is no
    # longer confident: the faults stayed active and were cued again and again (escalating)
    # from the numbers of minutes before.
    coach = Coach(RunnerProfile(baseline_cadence_spm=155.0))
    stream = [
        s
        if s.end_ic_s < 200.0
        else dataclasses.replace(
            s,
            foot_strike_angle_deg=None,
            strike_pattern=None,
            overstride_m=None,
            stride_length_m=None,
            speed_mps=None,
        )
        for s in strides([like(HEEL_OVERSTRIDER, 900.0)])
    ]
    cues = feed(coach, stream)
    late = {c.kind for c in cues if c.created_s > 200.0 + coach.settings.window_s}
    assert {c.kind for c in cues} >= {CueKind.STRIDE, CueKind.SOFTER}
    assert late == {CueKind.CADENCE}  # still measured
