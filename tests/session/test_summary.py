"""Summary and advice from strides recorded into a real store and read back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gaitcoach.errors import ConfigError
from gaitcoach.paths import schema_file
from gaitcoach.session.advice import AdviceBook, AdviceContext, advise
from gaitcoach.session.history import session_cadence_target
from gaitcoach.session.recorder import Recorder
from gaitcoach.session.store import SessionData, SessionStore
from gaitcoach.session.summary import SessionSummary, summarize
from gaitcoach.types import Activity, Cue, CueKind, DiscomfortReport, Foot, Gap, StrideRecord
from tests.session import factory

FEET = (Foot.LEFT, Foot.RIGHT)

SCHEMA = json.loads(schema_file("summary").read_text(encoding="utf-8"))
BOOK = AdviceBook.load()


def record(
    data_dir: Path,
    strides: Sequence[StrideRecord],
    cues: Sequence[Cue] = (),
    discomfort: Sequence[DiscomfortReport] = (),
    gaps: Sequence[Gap] = (),
    config: Mapping[str, Any] | None = None,
) -> SessionData:
    with Recorder(data_dir, config=config) as rec:
        for g in gaps:
            rec.add_gap(g)
        for s in strides:
            rec.add_stride(s)
        for c in cues:
            rec.add_cue(c)
        for d in discomfort:
            rec.add_discomfort(d)
        sid = rec.session_id
    with SessionStore(data_dir) as store:
        return store.load(sid)


def full(data: SessionData, ctx: AdviceContext | None = None) -> SessionSummary:
    summary = advise(summarize(data, session_cadence_target(data)), BOOK, ctx)
    jsonschema.validate(summary.to_json(), SCHEMA)
    return summary


def tips(summary: SessionSummary) -> set[str]:
    return {a.tip for a in summary.advice}


def test_the_recorded_rate_is_read_like_the_rest_of_the_recorded_config(tmp_path: Path) -> None:
    """The samples a session should have had come from its recorded [link] rate, read by the
    one rule for stored configs: a record that cannot be rebuilt (an older version's key)
    gives the defaults, for the rate as for the cadence target (the rate was read by hand
    before, and a summary mixed the recorded 104 Hz with the default cadence target)."""
    strides = factory.strides(factory.EFFICIENT, 10.0, seed=5)
    t_mid = strides[len(strides) // 2].ic_s
    # One minute of a ten-minute run lost, at 104 Hz.
    gaps = [Gap(f, t_mid, t_mid + 60.0, 104 * 60, "pod disconnected") for f in FEET]
    runner = {"cadence_target_spm": 170.0}
    ok = record(
        tmp_path / "ok", strides, gaps=gaps, config={"runner": runner, "link": {"rate_hz": 104}}
    )
    old = record(
        tmp_path / "old",
        strides,
        gaps=gaps,
        config={"runner": {**runner, "voice": "en"}, "link": {"rate_hz": 104}},
    )
    target = session_cadence_target(ok)
    assert target is not None and target.target_spm == 170.0
    assert full(ok).data_quality.lost_share_pct == pytest.approx(10.0, abs=0.5)
    assert session_cadence_target(old) == session_cadence_target(record(tmp_path / "d", strides))
    assert full(old).data_quality.lost_share_pct == pytest.approx(5.0, abs=0.5)  # at 208 Hz


def test_numbers_match_the_strides(tmp_path: Path) -> None:
    strides = factory.strides(factory.EFFICIENT, 10.0, seed=3)
    s = full(record(tmp_path, strides))
    # Independent arithmetic on the input strides.
    left = [x for x in strides if x.foot is Foot.LEFT]
    right = [x for x in strides if x.foot is Foot.RIGHT]
    dist = (
        sum(x.stride_length_m or 0 for x in left) + sum(x.stride_length_m or 0 for x in right)
    ) / 2
    assert s.distance_m == pytest.approx(dist, rel=0.01)
    speed = factory.EFFICIENT.stride_length_m * factory.EFFICIENT.cadence_spm / 120.0
    assert s.distance_m == pytest.approx(speed * 600.0, rel=0.02)
    assert s.pace_s_per_km == pytest.approx(1000.0 / speed, rel=0.02)
    assert s.duration_s == pytest.approx(600.0, abs=2.0)
    cad = s.metrics["cadence_spm"].all
    assert cad is not None and cad.median == pytest.approx(176.0, abs=1.0)
    assert 0 < cad.iqr < 6
    assert s.metrics["contact_time_s"].left_share_pct == pytest.approx(50.0, abs=1.0)
    assert len(s.splits_minute) == 10
    assert [round(x.distance_m, -1) for x in s.splits_km[:2]] == [1000.0, 1000.0]
    assert s.n_strides["left"] == len(left)
    assert sum(s.strike_share_pct["all"].values()) == pytest.approx(100.0)


def test_efficient_runner_is_not_told_to_shorten_stride(tmp_path: Path) -> None:
    s = full(record(tmp_path, factory.strides(factory.EFFICIENT, 20.0)))
    assert "technique" not in tips(s) and "strength" not in tips(s) and "rest" not in tips(s)
    assert "not a medical diagnosis" in s.disclaimer


def test_overstrider_gets_technique_with_reasons(tmp_path: Path) -> None:
    s = full(record(tmp_path, factory.strides(factory.OVERSTRIDER, 20.0)))
    [tech] = [a for a in s.advice if a.tip == "technique"]
    text = " ".join(tech.reasons)
    assert "154 steps/min" in text and "overstriding" in text and "heel strikes" in text
    # The coach's target: 154 + 7.5 % (the runner's cadence_raise_pct); the coach cues below
    # 4 % under it (159), so the advice says the same thing the live cue said.
    target = s.cadence_target
    assert target is not None and target.baseline_spm is not None
    assert target.target_spm == pytest.approx(1.075 * target.baseline_spm)
    assert "about 165 steps/min (your 154 + 7.5 %)" in tech.text
    assert "your target is 165, and the coach asks for quicker steps below 159" in text
    assert "mobility" in tips(s)


def test_fatigue_and_asymmetry_call_for_strength(tmp_path: Path) -> None:
    fading = full(record(tmp_path / "a", factory.strides(factory.FATIGUING, 30.0)))
    assert "strength" in tips(fading)
    # The trend over the run finds the whole fade (the factory's -6 %); the old first-third
    # versus last-third comparison read -4 %.
    assert fading.fatigue.cadence_spm.change_pct == pytest.approx(-6.0, abs=1.0)
    assert fading.fatigue.contact_time_s.change_pct == pytest.approx(10.0, abs=1.5)
    [strength] = [a for a in fading.advice if a.tip == "strength"]
    assert any("cadence fell over the run" in r for r in strength.reasons)
    lopsided = factory.Runner(right_contact_extra_s=0.03)
    asym = full(record(tmp_path / "b", factory.strides(lopsided, 10.0)))
    [strength] = [a for a in asym.advice if a.tip == "strength"]
    assert any("Ground contact was uneven" in r for r in strength.reasons)


def test_discomfort_and_load(tmp_path: Path) -> None:
    strides = factory.strides(factory.EFFICIENT, 10.0)
    once = full(record(tmp_path / "a", strides, discomfort=[factory.discomfort(100.0, 2)]))
    assert "cross_training" in tips(once) and "rest" not in tips(once)
    rising = [factory.discomfort(100.0, 2), factory.discomfort(400.0, 5)]
    s = full(record(tmp_path / "b", strides, discomfort=rising))
    [rest] = [a for a in s.advice if a.tip == "rest"]
    assert any("rose from 2 to 5" in r for r in rest.reasons)
    loaded = full(
        record(tmp_path / "c", strides), AdviceContext(load_week_km=40.0, load_base_km=20.0)
    )
    assert "cross_training" in tips(loaded)


def test_cue_effectiveness(tmp_path: Path) -> None:
    # Cadence rises from 160 to 172 after a cadence cue at 5 min; an overstride cue at 8 min
    # is ignored.
    first = factory.strides(factory.Runner(cadence_spm=160.0, noise=0.003), 5.0)
    t = first[-1].end_ic_s
    second = factory.strides(factory.Runner(cadence_spm=172.0, noise=0.003), 5.0, t0_s=t + 0.3)
    cues = [
        factory.cue(CueKind.CADENCE, t, {"cadence_spm": 160.0}),
        factory.cue(CueKind.STRIDE, t + 180.0, {"overstride_m": 0.06}, n=1),
        factory.cue(CueKind.REINFORCE, t + 60.0, {}, n=2),
    ]
    s = full(record(tmp_path, [*first, *second], cues))
    by_kind = {c.kind: c for c in s.cues}
    assert by_kind["cadence"].moved is True
    assert by_kind["cadence"].change == pytest.approx(12.0, abs=2.0)
    assert by_kind["stride"].moved is False
    assert by_kind["reinforce"].moved is None
    assert s.cue_counts == {"cadence": 1, "stride": 1, "reinforce": 1}


def test_advice_wording_is_data(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "gaitcoach" / "data" / "advice" / "advice.toml").read_text()
    custom = tmp_path / "advice.toml"
    custom.write_text(text.replace("Strength work 2-3 times a week", "Get strong"))
    book = AdviceBook.load(custom)
    data = record(tmp_path / "s", factory.strides(factory.FATIGUING, 30.0))
    s = advise(summarize(data), book)
    assert "Get strong" in {a.title for a in s.advice}
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace("overstride_m = 0.28", 'overstride_m = "far"'))
    with pytest.raises(ConfigError, match=r"thresholds.overstride_m"):
        AdviceBook.load(broken)
    with pytest.raises(ConfigError, match="readable TOML"):
        AdviceBook.load(tmp_path / "missing.toml")


def test_empty_session_summarises(tmp_path: Path) -> None:
    s = full(record(tmp_path, []))
    assert s.distance_m == 0 and s.pace_s_per_km is None and s.advice == []


def test_overstride_estimate_alone_does_not_shorten_an_efficient_stride(tmp_path: Path) -> None:
    # Quick cadence and a flat landing: a high model estimate of overstride is not enough.
    quick_flat = factory.Runner(overstride_m=0.40)
    s = full(record(tmp_path / "a", factory.strides(quick_flat, 10.0)))
    assert "technique" not in tips(s)
    slow = factory.Runner(cadence_spm=160.0, overstride_m=0.40)
    s = full(record(tmp_path / "b", factory.strides(slow, 10.0)))
    [tech] = [a for a in s.advice if a.tip == "technique"]
    assert any("overstriding" in r for r in tech.reasons)


@pytest.mark.parametrize("cadence_rises", [True, False])
def test_coached_shorter_stride_is_not_called_fatigue(tmp_path: Path, cadence_rises: bool) -> None:
    """A stride that shortens because the cadence rose (the coached change) is technique; a
    stride that shortens at the same cadence is a sign of tired or tight muscles."""
    base = factory.strides(factory.EFFICIENT, 10.0, seed=4)
    t0, t1 = base[0].ic_s, base[-1].end_ic_s
    changed = []
    for s in base:
        f = (s.ic_s - t0) / (t1 - t0)
        changed.append(
            dataclasses.replace(
                s,
                stride_length_m=(s.stride_length_m or 0.0) * (1 - 0.09 * f),
                cadence_spm=s.cadence_spm * (1 + (0.09 * f if cadence_rises else 0.0)),
            )
        )
    summary = full(record(tmp_path, changed))
    reasons = " ".join(r for a in summary.advice for r in a.reasons)
    assert ("stride shortened" in reasons) is not cadence_rises


def test_rounding_never_contradicts_a_reason(tmp_path: Path) -> None:
    """28.3 cm against a 28 cm limit must not read "28 cm ... (above 28 cm)"."""
    runner = factory.Runner(cadence_spm=150.0, overstride_m=0.283, noise=0.0)
    s = full(record(tmp_path, factory.strides(runner, 10.0)))
    [tech] = [a for a in s.advice if a.tip == "technique"]
    [over] = [r for r in tech.reasons if "overstriding" in r]
    assert "28.3 cm" in over and "(above 28.0 cm)" in over


def test_rising_discomfort_puts_rest_first_as_a_warning(tmp_path: Path) -> None:
    """Knee pain 4 then 6 out of 10: rest first, styled as a warning, technique deferred."""
    strides = factory.strides(factory.OVERSTRIDER, 10.0)
    pain = [factory.discomfort(100.0, 4), factory.discomfort(400.0, 6)]
    s = full(record(tmp_path, strides, discomfort=pain))
    assert s.advice[0].tip == "rest" and s.advice[0].warning
    assert not any(a.warning for a in s.advice[1:])
    assert "technique" not in tips(s)
    assert any("Leave technique changes until it has settled" in r for r in s.advice[0].reasons)
    # Without the pain the same run gets the technique tip.
    calm = full(record(tmp_path / "calm", strides))
    assert "technique" in tips(calm) and calm.advice[0].tip == "technique"


def test_missing_data_is_estimated_counted_and_said(tmp_path: Path) -> None:
    """Two minutes of a ten-minute run lost (both pods out of range), one stride with an
    impossible cadence and one negative flight time: the distance is estimated across the gap
    at the pace around it, pace comes from moving time (no 11-minute splits), the impossible
    values are left out and counted, and the report says so in a banner."""
    from gaitcoach.session.report import data_banner

    strides = factory.strides(factory.EFFICIENT, 10.0, seed=5)
    whole = full(record(tmp_path / "whole", strides))
    t_mid = strides[len(strides) // 2].ic_s
    kept = [s for s in strides if not t_mid <= s.ic_s < t_mid + 120.0]
    kept[10] = dataclasses.replace(kept[10], cadence_spm=300.0)
    kept[11] = dataclasses.replace(kept[11], flight_time_s=-0.04)
    gaps = [Gap(f, t_mid, t_mid + 120.0, 208 * 120, "pod disconnected") for f in FEET]
    s = full(record(tmp_path / "gap", kept, gaps=gaps))
    assert s.distance_m == pytest.approx(whole.distance_m, rel=0.02)
    assert s.pace_s_per_km == pytest.approx(whole.pace_s_per_km, rel=0.02)
    for split in s.splits_km:
        if split.distance_m > 990:
            assert split.pace_s_per_km == pytest.approx(whole.pace_s_per_km, rel=0.04)
    dq = s.data_quality
    assert dq.excluded_strides == 1 and dq.excluded_values == 1
    assert dq.lost_share_pct == pytest.approx(20.0, abs=1.5)
    assert dq.estimated_distance_m == pytest.approx(whole.distance_m * 0.2, rel=0.1)
    flight = s.metrics["flight_time_s"].all
    assert flight is not None and flight.p25 > 0
    banner = data_banner(s)
    assert banner is not None and "20 % of the samples were lost" in banner
    assert "1 stride(s) and 1 single value(s)" in banner
    assert data_banner(whole) is None


def test_a_pod_that_drops_out_for_good_leaves_the_other_foot_to_count(tmp_path: Path) -> None:
    """The right pod is lost half-way through a ten-minute run and never comes back: the
    left foot's strides are the distance and the moving time from there (the right foot's
    track stayed flat and was averaged in: a quarter of the run, distance and time, was
    missing, and the km splits straddling the loss were wrong)."""
    strides = factory.strides(factory.EFFICIENT, 10.0, seed=5)
    whole = full(record(tmp_path / "whole", strides))
    t_mid = strides[len(strides) // 2].ic_s
    t_end = strides[-1].end_ic_s
    kept = [s for s in strides if s.foot is Foot.LEFT or s.end_ic_s < t_mid]
    gaps = [Gap(Foot.RIGHT, t_mid, t_end, round(208 * (t_end - t_mid)), "pod disconnected")]
    s = full(record(tmp_path / "half", kept, gaps=gaps))
    assert s.distance_m == pytest.approx(whole.distance_m, rel=0.01)
    assert s.moving_time_s == pytest.approx(whole.moving_time_s, rel=0.01)
    assert s.pace_s_per_km == pytest.approx(whole.pace_s_per_km, rel=0.01)
    assert len(s.splits_km) == len(whole.splits_km)
    for split, ref in zip(s.splits_km, whole.splits_km, strict=True):
        if ref.distance_m > 990:
            assert split.pace_s_per_km == pytest.approx(ref.pace_s_per_km, rel=0.02)


def test_walking_double_support_is_not_an_impossible_value(tmp_path: Path) -> None:
    """A walking stride's flight time is negative by definition (both feet on the ground,
    docs/metrics.md): a walk-run session had every walking stride's flight time left out as
    impossible, and its report said data was missing."""
    from gaitcoach.session.report import data_banner

    strides = factory.strides(factory.EFFICIENT, 6.0, seed=5)
    walk = [
        dataclasses.replace(s, activity=Activity.WALKING, flight_time_s=-0.12)
        if s.ic_s < 120.0
        else s
        for s in strides
    ]
    s = full(record(tmp_path, walk))
    assert s.data_quality.excluded_values == 0
    assert data_banner(s) is None


def test_impossible_strides_stay_out_of_cue_effects(tmp_path: Path) -> None:
    """Strides with an impossible cadence are left out of every number, but the cue effects
    read them: a glitch in most strides before a cadence cue made the cue look as if it did
    not work."""
    strides = factory.strides(factory.OVERSTRIDER, 10.0, seed=5)
    cue_t = 300.0
    glitched = [
        dataclasses.replace(s, cadence_spm=400.0)
        if cue_t - 30.0 <= s.ic_s < cue_t and s.index % 5 < 3
        else s
        for s in strides
    ]
    raised = [
        dataclasses.replace(s, cadence_spm=s.cadence_spm + 10.0) if s.ic_s > cue_t else s
        for s in glitched
    ]
    cue = factory.cue(CueKind.CADENCE, cue_t, {"cadence_spm": 154.0})
    s = full(record(tmp_path, raised, cues=[cue]))
    [effect] = s.cues
    assert effect.before == pytest.approx(154.0, abs=2.0)
    assert effect.moved is True
