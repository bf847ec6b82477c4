"""One swing per stride: segments are cut at missed stances and joined across spurious
anchors (gaitcoach.gait.kernel.split_swings and FootAnalyzer)."""

from __future__ import annotations

import numpy as np
import pytest

from gaitcoach.frames import G_MPS2
from gaitcoach.gait import FootAnalyzer
from gaitcoach.gait.kernel import split_swings
from gaitcoach.types import Foot, ImuChunk
from tests.gait.simdata import recording

RATE_HZ = 100.0


def _hump(t: np.ndarray, start_s: float, dur_s: float, peak: float) -> np.ndarray:
    x = np.clip((t - start_s) / dur_s, 0.0, 1.0)
    return peak * np.sin(np.pi * x)


def _segment(
    gml: np.ndarray, t: np.ndarray | None = None, still_s: float = 0.9
) -> tuple[int, list[int], list[int]]:
    """Swing count, cut rows and swing middles of one synthetic segment (foot frame =
    sensor frame): ``gml`` on the ml axis, a 2 rad/s turn about the pa axis except for 50 ms
    from ``still_s``, gravity on si."""
    n = len(gml)
    if t is None:
        t = np.arange(n) / RATE_HZ
    gyr = np.zeros((n, 3))
    gyr[:, 1] = gml
    gyr[:, 0] = np.where((t >= still_s) & (t <= still_s + 0.05), 0.0, 2.0)
    acc = np.tile([0.0, 0.0, G_MPS2], (n, 1))
    counts, cuts, _, mids = split_swings(
        t,
        acc,
        gyr,
        np.array([0]),
        np.array([n]),
        np.eye(3),
        rate_radps=1.0,
        bridge_s=0.03,
        min_rotation_rad=np.radians(20.0),
        min_piece_s=0.4,
        gyr_scale=2.5,
        acc_scale=3.5,
        h=2,
    )
    return (
        int(counts[0]),
        [c for c in cuts[0].tolist() if c >= 0],
        [m for m in mids[0].tolist() if m >= 0],
    )


def test_two_swings_are_cut_at_the_stance_between_them() -> None:
    t = np.arange(200) / RATE_HZ
    gml = _hump(t, 0.3, 0.2, -8.0) + _hump(t, 1.3, 0.2, -8.0)
    count, cuts, mids = _segment(gml)
    assert count == 2
    assert len(cuts) == 1 and 0.90 <= t[cuts[0]] <= 0.95
    assert [round(t[m], 2) for m in mids] == [0.4, 1.4]


def test_small_or_close_toes_up_runs_are_not_swings() -> None:
    t = np.arange(200) / RATE_HZ
    # 12 deg of toes-up rotation (a heel drop after a forefoot landing): not a swing.
    count, cuts, _ = _segment(_hump(t, 0.3, 0.2, -8.0) + _hump(t, 1.3, 0.2, -1.7))
    assert (count, cuts) == (1, [])
    # 25 deg of it right after the landing, the foot still just before: a cut there would
    # leave a piece shorter than a stride, so the two runs are one stride's.
    heel_drop = _hump(t, 1.82, 0.12, -5.7)
    count, cuts, _ = _segment(_hump(t, 0.3, 0.2, -8.0) + heel_drop, still_s=1.72)
    assert (count, cuts) == (1, [])
    # The same run with the stance (the still foot) mid-way: two strides.
    count, cuts, _ = _segment(_hump(t, 0.3, 0.2, -8.0) + heel_drop, still_s=0.9)
    assert count == 2 and len(cuts) == 1
    # Push-off only (toes-down): no swing.
    count, cuts, mids = _segment(_hump(t, 0.3, 0.2, 8.0))
    assert (count, cuts, mids) == (0, [], [])


def test_a_timestamp_hole_inside_a_swing_does_not_split_it() -> None:
    t = np.arange(200) / RATE_HZ
    t[40:] += 0.06  # 6 samples lost in the middle of the swing (bridge is 30 ms)
    gml = _hump(t, 0.3, 0.25, -8.0)  # each side of the hole alone turns the foot > 20 deg
    count, cuts, mids = _segment(gml, t)
    assert (count, cuts) == (1, []) and len(mids) == 1


def test_a_stance_hidden_from_the_anchor_rules_still_gives_its_strides() -> None:
    # Shake the gyro (+-10 rad/s at 40 Hz across the foot) through one stance of a
    # simulated runner: its energy stays above every anchor rule, so one segment holds two
    # swings (without the cut, 3 of 38 strides are lost). Cut at the stance, the strides
    # around it are still measured.
    rec = recording("efficient-midfoot", 0.5, 208.0, seed=4)
    chunk = rec.imu[Foot.LEFT]
    clean = FootAnalyzer(Foot.LEFT)
    clean.push(chunk)
    clean.finish()
    truth = [s for s in rec.truth if s.foot is Foot.LEFT]
    hidden = truth[10]
    t = chunk.t_s
    shake = (t >= hidden.ic_s - 0.1) & (t <= hidden.to_s + 0.05)
    gyr = chunk.gyr_radps.copy()
    gyr[shake, 0] += 10.0 * np.sin(2 * np.pi * 40.0 * t[shake])
    shaken = ImuChunk(Foot.LEFT, t, chunk.acc_mps2, gyr)
    fa = FootAnalyzer(Foot.LEFT)
    fa.push(shaken)
    fa.finish()
    ics = np.array([s.ic_s for s in fa.strides_])
    for true_ic in (truth[9].ic_s, hidden.ic_s, truth[11].ic_s):
        assert np.min(np.abs(ics - true_ic)) <= 2 / 208.0, true_ic
    assert len(fa.strides_) == len(clean.strides_) >= 35


@pytest.mark.parametrize("profile", ["efficient-midfoot", "heel-overstrider"])
def test_an_anchor_inside_a_swing_is_joined_to_the_rest_of_the_stride(profile: str) -> None:
    # The foot holds still for 60 ms early in one swing (rate x 0.05, |f| = g): the anchor
    # rules take the pause for a stance. The piece before it holds no swing and is joined
    # to the next one (without the join, the stride is lost).
    rec = recording(profile, 0.5, 208.0, seed=4)
    chunk = rec.imu[Foot.LEFT]
    clean = FootAnalyzer(Foot.LEFT)
    clean.push(chunk)
    clean.finish()
    stride = [s for s in rec.truth if s.foot is Foot.LEFT][10]
    t = chunk.t_s
    pause = (t >= stride.to_s + 0.06) & (t <= stride.to_s + 0.12)
    gyr = chunk.gyr_radps.copy()
    acc = chunk.acc_mps2.copy()
    gyr[pause] *= 0.05
    acc[pause] *= G_MPS2 / np.linalg.norm(acc[pause], axis=1)[:, None]
    fa = FootAnalyzer(Foot.LEFT)
    fa.push(ImuChunk(Foot.LEFT, t, acc, gyr))
    fa.finish()
    assert len(fa.strides_) == len(clean.strides_) >= 30
    ics = np.array([s.ic_s for s in fa.strides_])
    for true_ic in (stride.ic_s, stride.end_ic_s):
        assert np.min(np.abs(ics - true_ic)) <= 2 / 208.0, true_ic
    # One segment spans the pause.
    assert any(s.start_s < stride.to_s < stride.to_s + 0.12 < s.end_s for s in fa.segments_)


def test_a_landing_piece_is_not_joined_forward() -> None:
    # The first step from standing: an anchor falls in the air before the first landing, so
    # the piece after it holds the landing and no swing. Joined forward it would pair that
    # step's early IC with the next stride's (a false stride); it holds no push-off, so it
    # is not joined.
    rec = recording("heel-overstrider", 0.5, 104.0, seed=4)
    fa = FootAnalyzer(Foot.RIGHT)
    fa.push(rec.imu[Foot.RIGHT])
    fa.finish()
    truth = np.array([s.ic_s for s in rec.truth if s.foot is Foot.RIGHT])
    assert len(fa.strides_) >= len(truth) - 2
    for s in fa.strides_:
        assert np.min(np.abs(truth - s.ic_s)) <= 2 / 104.0, s.ic_s
