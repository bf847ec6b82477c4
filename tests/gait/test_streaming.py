"""Streaming in any chunking equals batch, exactly; gaps reset the stride in progress."""

from __future__ import annotations

import numpy as np
import pytest

from gaitcoach.gait import (
    FootAnalyzer,
    GaitAnalyzer,
    GaitConfig,
    GaitInputError,
    analyze,
    analyze_all,
)
from gaitcoach.gait.config import DEFAULT_CONFIG
from gaitcoach.types import Foot, Gap, ImuChunk, StrideRecord
from tests.gait.simdata import chunks_of, interleaved, recording
from validation.scoring import score


def _stream(chunks: list[ImuChunk], config: GaitConfig = DEFAULT_CONFIG) -> list[StrideRecord]:
    ga = GaitAnalyzer(config)
    out: list[StrideRecord] = []
    for c in chunks:
        out += ga.push(c)
    out += ga.finish()
    return sorted(out, key=lambda s: (s.ic_s, str(s.foot)))


@pytest.mark.parametrize(("seed", "max_size"), [(1, 10_000), (2, 300), (3, 12)])
def test_random_chunks_equal_batch_exactly(seed: int, max_size: int) -> None:
    rec = recording("walk-run", 1.0, 208.0, seed=4)
    batch = analyze(rec.imu)
    assert len(batch) > 60
    assert _stream(interleaved(rec.imu, seed, max_size)) == batch


def test_one_sample_chunks_equal_batch() -> None:
    rec = recording("efficient-midfoot", 0.3, 104.0, seed=5)
    batch = analyze(rec.imu)
    assert len(batch) > 20
    chunks = interleaved(rec.imu, 7, 1)
    assert _stream(chunks) == batch


def test_bilateral_fields_filled_and_one_foot_mode_releases_at_once() -> None:
    rec = recording("efficient-midfoot", 0.5, 208.0, seed=6)
    both = analyze(rec.imu)
    inner = both[4:-4]
    assert all(s.step_time_s is not None and s.flight_time_s is not None for s in inner)
    # One-foot mode: strides are released by the push that completes them.
    ga = GaitAnalyzer(GaitConfig(expect_both_feet=False))
    released = [s for c in chunks_of(rec.imu[Foot.LEFT], np.full(10_000, 50)) for s in ga.push(c)]
    assert len(released) > 10
    assert all(s.step_time_s is None and s.flight_time_s is None for s in released)


def test_strides_held_until_other_foot_covers_them() -> None:
    rec = recording("efficient-midfoot", 0.5, 208.0, seed=6)
    ga = GaitAnalyzer()
    assert ga.push(rec.imu[Foot.LEFT]) == []  # the right foot has not covered them yet
    released = ga.push(rec.imu[Foot.RIGHT])
    assert {s.foot for s in released} == {Foot.LEFT, Foot.RIGHT}


def test_gap_resets_stride_in_progress_and_is_reported() -> None:
    rec = recording("heel-overstrider", 1.0, 208.0, seed=7)
    left = rec.imu[Foot.LEFT]
    t_gap = 30.0
    keep = (left.t_s < t_gap) | (left.t_s > t_gap + 0.5)
    cut = ImuChunk(Foot.LEFT, left.t_s[keep], left.acc_mps2[keep], left.gyr_radps[keep])
    fa = FootAnalyzer(Foot.LEFT)
    for c in chunks_of(cut, np.full(100_000, 97)):
        fa.push(c)
    fa.finish()
    assert [g.reason for g in fa.gaps_] == ["time jump"]
    gap = fa.gaps_[0]
    assert gap.start_s < t_gap < t_gap + 0.5 < gap.end_s
    assert gap.lost_samples == pytest.approx(0.5 * 208, abs=3)
    # No stride spans the gap, and every stride found is a true one (nothing invented).
    assert all(s.end_ic_s <= gap.start_s or s.ic_s >= gap.end_s for s in fa.strides_)
    truth = [t for t in rec.truth if t.foot is Foot.LEFT]
    sc = score(truth, fa.strides_, 208.0)
    assert sc.n_false == 0
    assert sc.n_found >= sc.n_truth - 4  # the strides touching the gap are lost, no more
    assert np.median(np.abs(sc.ic_err_samples)) <= 1.0


def test_reported_gap_equals_missing_samples_and_is_recorded() -> None:
    rec = recording("heel-overstrider", 1.0, 208.0, seed=7)
    left = rec.imu[Foot.LEFT]
    i0, i1 = 5000, 5100
    gap = Gap(Foot.LEFT, float(left.t_s[i0 - 1]), float(left.t_s[i1]), i1 - i0)
    before = ImuChunk(Foot.LEFT, left.t_s[:i0], left.acc_mps2[:i0], left.gyr_radps[:i0])
    after = ImuChunk(Foot.LEFT, left.t_s[i1:], left.acc_mps2[i1:], left.gyr_radps[i1:])
    streamed = FootAnalyzer(Foot.LEFT)
    streamed.push(before)
    streamed.push_gap(gap)
    streamed.push(after)
    streamed.finish()
    assert gap in streamed.gaps_
    batch = [s for s in analyze({Foot.LEFT: left}, [gap]) if s.foot is Foot.LEFT]
    # analyze() applies the gap at its place in the stream: the samples inside it are dropped
    # by the gap's reset, so only strides outside the gap remain in both.
    assert all(s.end_ic_s <= gap.start_s or s.ic_s >= gap.end_s for s in streamed.strides_)
    assert len(batch) > 50


def test_other_foot_gap_gives_one_foot_values_only_there() -> None:
    rec = recording("efficient-midfoot", 0.5, 208.0, seed=6)
    right = rec.imu[Foot.RIGHT]
    cut0, cut1 = 10.0, 14.0
    i0, i1 = np.searchsorted(right.t_s, [cut0, cut1])
    gap = Gap(Foot.RIGHT, float(right.t_s[i0 - 1]), float(right.t_s[i1]), int(i1 - i0), "link lost")
    ga = GaitAnalyzer()
    ga.push(rec.imu[Foot.LEFT])
    ga.push(ImuChunk(Foot.RIGHT, right.t_s[:i0], right.acc_mps2[:i0], right.gyr_radps[:i0]))
    ga.push_gap(gap)
    ga.push(ImuChunk(Foot.RIGHT, right.t_s[i1:], right.acc_mps2[i1:], right.gyr_radps[i1:]))
    ga.finish()
    left = [s for s in ga.strides_ if s.foot is Foot.LEFT]
    inside = [s for s in left if gap.start_s + 0.5 < s.ic_s < gap.end_s - 0.5]
    outside = [s for s in left if s.ic_s > gap.end_s + 1.5 and s.end_ic_s < right.t_s[-1] - 1.0]
    assert inside and outside
    assert all(s.step_time_s is None for s in inside)
    assert all(s.step_time_s is not None for s in outside)
    assert gap in ga.gaps_


def test_unknown_foot_streams_alone_and_push_after_finish_is_refused() -> None:
    rec = recording("efficient-midfoot", 0.3, 208.0, seed=6)
    c = rec.imu[Foot.LEFT]
    ga = GaitAnalyzer()
    released = ga.push(ImuChunk(Foot.UNKNOWN, c.t_s, c.acc_mps2, c.gyr_radps))
    assert len(released) > 10 and all(s.foot is Foot.UNKNOWN for s in released)
    ga.finish()
    with pytest.raises(GaitInputError, match="finish"):
        ga.push(c)


@pytest.mark.parametrize(("profile", "median_s", "max_s"), [("efficient-midfoot", 0.5, 0.6)])
def test_strides_are_emitted_about_half_a_second_after_their_end(
    profile: str, median_s: float, max_s: float
) -> None:
    rec = recording(profile, 0.5, 208.0, seed=6)
    c = rec.imu[Foot.LEFT]
    fa = FootAnalyzer(Foot.LEFT)
    latency: list[float] = []
    decided: float | None = None
    for part in chunks_of(c, np.full(len(c), 10)):
        out = fa.push(part)
        if fa.alignment_ is not None and decided is None:
            decided = float(part.t_s[-1])
        if decided is not None:
            latency += [float(part.t_s[-1]) - s.end_ic_s for s in out if s.end_ic_s > decided]
    assert len(latency) > 20
    # Strides before the alignment is decided wait for it; after, a stride is final when the
    # anchor after its landing is: the next swing has started, or 0.5 s after the landing.
    steady = np.array(latency)
    assert np.median(steady) <= median_s
    assert steady.max() <= max_s


def test_short_timestamp_holes_are_bridged_not_gaps() -> None:
    # Irregular timestamps of real pods: holes of 1-8 missing samples are integrated across
    # (no gap, no reset); a hole of 9 or more periods is a gap.
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=13)
    left = rec.imu[Foot.LEFT]
    rng = np.random.default_rng(13)
    drop = np.zeros(len(left), dtype=bool)
    for start in rng.choice(np.arange(1000, len(left) - 1000), size=40, replace=False):
        drop[start : start + int(rng.integers(1, 9))] = True
    keep = ~drop
    holed = ImuChunk(Foot.LEFT, left.t_s[keep], left.acc_mps2[keep], left.gyr_radps[keep])
    fa = FootAnalyzer(Foot.LEFT)
    for c in chunks_of(holed, np.full(100_000, 50)):
        fa.push(c)
    fa.finish()
    assert list(fa.gaps_) == []
    truth = [t for t in rec.truth if t.foot is Foot.LEFT]
    sc = score(truth, fa.strides_, 208.0)
    # A hole that swallows the impact or the toe-off spoils that stride's event (40 holes in
    # 83 strides here; docs/metrics.md): a few, not a run of garbage.
    assert sc.n_false <= 2 and sc.n_found >= sc.n_truth - 3
    assert np.median(np.abs(sc.ic_err_samples)) <= 1.0
    assert np.median(np.abs(sc.to_err_samples)) <= 1.0
    assert np.mean(np.abs(sc.to_err_samples) > 3.0) <= 0.05
    assert float(np.mean(np.abs(sc.length_rel_err))) <= 0.03
    # Nine missing samples: a gap that resets the stride in progress.
    i = len(left) // 2
    cut = np.r_[0:i, i + 9 : len(left)]
    nine = ImuChunk(Foot.LEFT, left.t_s[cut], left.acc_mps2[cut], left.gyr_radps[cut])
    fb = FootAnalyzer(Foot.LEFT)
    fb.push(nine)
    fb.finish()
    assert [g.lost_samples for g in fb.gaps_] == [9]


def test_untaken_swings_stay_bounded_and_batch_swings_stay_complete() -> None:
    # A live service that never calls take_swings() ran for hours: the swing event stream
    # grew by every swing of both feet. It keeps the latest history_size, like swings_.
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=6)
    small = GaitConfig(history_size=16)
    ga = GaitAnalyzer(small)
    for c in interleaved(rec.imu, 3, 50):
        ga.push(c)
    ga.finish()
    kept = ga.take_swings()
    full = analyze_all(rec.imu).swings
    assert len(full) > 100
    for foot in (Foot.LEFT, Foot.RIGHT):
        mine = [s for s in kept if s.foot is foot]
        assert mine == [s for s in full if s.foot is foot][-16:]
    # The batch takes them as it goes: every swing, whatever history_size.
    assert analyze_all(rec.imu, config=small).swings == full


@pytest.mark.parametrize("mode", ["one_foot_mode", "unknown_foot"])
def test_contacts_nobody_pairs_are_not_kept(mode: str) -> None:
    # A single pod (expect_both_feet = False, or a foot of unknown side) kept every initial
    # contact of the run for a bilateral pairing that never happens.
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=6)
    c = rec.imu[Foot.LEFT]
    config = GaitConfig(expect_both_feet=mode != "one_foot_mode")
    foot = Foot.LEFT if mode == "one_foot_mode" else Foot.UNKNOWN
    ga = GaitAnalyzer(config)
    released = []
    for piece in chunks_of(ImuChunk(foot, c.t_s, c.acc_mps2, c.gyr_radps), np.full(10_000, 50)):
        released += ga.push(piece)
    assert len(released) > 50
    assert len(ga.feet_[foot].ic_times()) <= 2


def streams_right_strides_on_time(imu: dict[Foot, ImuChunk]) -> GaitAnalyzer:
    """Stream ``imu`` (the left foot odd from 20 to 50 s): every right stride ending in 25-45 s
    comes within 3 s of its end, and the records equal batch's. Returns the analyzer."""
    ga = GaitAnalyzer()
    out: list[StrideRecord] = []
    lag_s = []
    for c in interleaved(imu, 5, 13):
        for s in ga.push(c):
            out.append(s)
            if s.foot is Foot.RIGHT and 25.0 < s.end_ic_s < 45.0:
                lag_s.append(float(c.t_s[-1]) - s.end_ic_s)
    out += ga.finish()
    assert len(lag_s) > 10 and max(lag_s) < 3.0, (len(lag_s), max(lag_s, default=None))
    assert sorted(out, key=lambda s: (s.ic_s, str(s.foot))) == analyze(imu)
    return ga


def test_a_foot_moving_without_a_stance_does_not_hold_the_other_foot() -> None:
    # Half a minute of the left foot swinging without ever resting (the step detector's
    # candidate stayed open, so its scan never resumed past its last segment): its buffer
    # grew with every sample, every chunk rescanned all of it, and its horizon stood still,
    # holding every right stride until the left foot stood or ran again.
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=6)
    left = rec.imu[Foot.LEFT]
    t = left.t_s
    inside = (t >= 20.0) & (t < 50.0)
    rng = np.random.default_rng(0)
    w = 2 * np.pi * 1.5
    acc, gyr = left.acc_mps2.copy(), left.gyr_radps.copy()
    ts = t[inside]
    acc[inside] = acc[np.flatnonzero(inside)[0] - 1] + 0.5 * rng.standard_normal((len(ts), 3))
    acc[inside, :2] += 20 * np.column_stack([np.sin(w * ts), np.cos(w * ts)])
    gyr[inside] = np.column_stack([0.2 * np.sin(w * ts), 5 * np.sin(w * ts), 0.2 * np.cos(w * ts)])
    streams_right_strides_on_time(
        {Foot.LEFT: ImuChunk(Foot.LEFT, t, acc, gyr), Foot.RIGHT: rec.imu[Foot.RIGHT]}
    )


def test_a_stuck_sensor_on_one_foot_does_not_hold_the_other_foot() -> None:
    # Half a minute of bit-identical samples away from rest on the left pod (a stuck sensor):
    # they are skipped, and the gap they make was reported only at the next good sample, so
    # every right stride was held until then (25 s late). Now the gap is reported as it grows.
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=6)
    left = rec.imu[Foot.LEFT]
    t = left.t_s
    inside = (t >= 20.0) & (t < 50.0)
    acc, gyr = left.acc_mps2.copy(), left.gyr_radps.copy()
    acc[inside] = acc[np.flatnonzero(inside)[0] - 1]
    gyr[inside] = [0.0, 4.0, 0.0]
    imu = {Foot.LEFT: ImuChunk(Foot.LEFT, t, acc, gyr), Foot.RIGHT: rec.imu[Foot.RIGHT]}
    ga = streams_right_strides_on_time(imu)
    whole = GaitAnalyzer()
    for chunk in imu.values():
        whole.push(chunk)
    whole.finish()
    assert ga.gaps_ == whole.gaps_  # the gap reported while it grew is the batch's
    gap = ga.gaps_[0]
    assert gap.reason == "bad samples skipped" and gap.start_s > 19.9 and 49.9 < gap.end_s < 50.1
