"""Bad input: a clear error, or flagged and skipped; never a crash or silent nonsense."""

from __future__ import annotations

import numpy as np
import pytest

from gaitcoach.frames import G_MPS2
from gaitcoach.gait import FootAnalyzer, GaitAnalyzer, GaitInputError
from gaitcoach.types import Foot, ImuChunk
from tests.gait.simdata import chunks_of, recording
from validation.scoring import score


def _left(minutes: float = 1.0) -> ImuChunk:
    return recording("heel-overstrider", minutes, 208.0, seed=11).imu[Foot.LEFT]


def _with(chunk: ImuChunk, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> ImuChunk:
    return ImuChunk(chunk.foot, t, acc, gyr)


def _run(chunk: ImuChunk, size: int = 64) -> FootAnalyzer:
    fa = FootAnalyzer(chunk.foot)
    for c in chunks_of(chunk, np.full(len(chunk), size)):
        fa.push(c)
    fa.finish()
    return fa


def _truth_left() -> list:
    rec = recording("heel-overstrider", 1.0, 208.0, seed=11)
    return [t for t in rec.truth if t.foot is Foot.LEFT]


def test_nan_and_inf_samples_are_skipped_counted_and_reset_the_stride() -> None:
    c = _left()
    acc, gyr = c.acc_mps2.copy(), c.gyr_radps.copy()
    bad = np.array([3000, 3001, 7000, 9000])
    acc[bad[:2], 1] = np.nan
    gyr[bad[2], 0] = np.inf
    acc[bad[3], 2] = -np.inf
    fa = _run(_with(c, c.t_s, acc, gyr))
    assert fa.rejected_.non_finite == 4
    assert [g.reason for g in fa.gaps_] == ["bad samples skipped"] * 3
    sc = score(_truth_left(), fa.strides_, 208.0)
    assert sc.n_false == 0
    # A reset loses the stride in progress and the next one (its IC was in the lost swing).
    assert sc.n_found >= sc.n_truth - 3 * 3
    assert np.median(np.abs(sc.ic_err_samples)) <= 1.0


def test_non_monotonic_timestamps_are_skipped() -> None:
    c = _left()
    t = c.t_s.copy()
    t[4000] = t[3990]  # goes back
    t[6000] = t[5999]  # repeats
    fa = _run(_with(c, t, c.acc_mps2, c.gyr_radps))
    assert fa.rejected_.non_monotonic == 2
    sc = score(_truth_left(), fa.strides_, 208.0)
    assert sc.n_false == 0 and sc.n_found >= sc.n_truth - 2


def test_stuck_sensor_is_skipped_and_saturation_flagged() -> None:
    c = _left()
    acc, gyr = c.acc_mps2.copy(), c.gyr_radps.copy()
    swing = int(np.argmax(np.linalg.norm(gyr[5000:], axis=1) > 5.0)) + 5000
    acc[swing : swing + 300] = acc[swing]
    gyr[swing : swing + 300] = gyr[swing]
    acc[2000, 2] = 16 * G_MPS2
    fa = _run(_with(c, c.t_s, acc, gyr))
    assert fa.rejected_.stuck == 300 - fa.config.stuck_samples + 1
    assert fa.rejected_.saturated >= 1
    assert any(g.reason == "bad samples skipped" for g in fa.gaps_)
    sc = score(_truth_left(), fa.strides_, 208.0)
    assert sc.n_false == 0


def test_acceleration_in_g_is_a_clear_error_and_counted() -> None:
    c = _left()
    fa = FootAnalyzer(Foot.LEFT)
    in_g = _with(c, c.t_s, c.acc_mps2 / G_MPS2, c.gyr_radps)
    with pytest.raises(GaitInputError, match="g passed as m/s"):
        for part in chunks_of(in_g, np.full(len(c), 40)):
            fa.push(part)
    assert fa.rejected_.wrong_units == 1
    with pytest.raises(GaitInputError):
        fa.push(c)  # the decision sticks for this stream
    assert fa.rejected_.wrong_units == 2


def test_gyro_in_deg_per_s_is_a_clear_error_and_the_service_continues() -> None:
    rec = recording("heel-overstrider", 1.0, 208.0, seed=11)
    c = rec.imu[Foot.LEFT]
    ga = GaitAnalyzer()
    in_deg = _with(c, c.t_s, c.acc_mps2, np.degrees(c.gyr_radps))
    with pytest.raises(GaitInputError, match="deg/s"):
        ga.push(in_deg)
    assert ga.feet_[Foot.LEFT].rejected_.wrong_units == 1
    # The refused chunk was not consumed: the good data still gives every stride.
    ga.push(c)
    ga.push(rec.imu[Foot.RIGHT])
    out = ga.finish()
    assert len(ga.strides_) >= len(rec.truth) - 2
    assert out is not None


def test_constant_input_gives_no_strides_and_no_crash() -> None:
    t = np.arange(0, 20, 1 / 208)
    # A perfectly still sensor (noise-free data at rest) is valid input, not a fault.
    rest = _run(
        ImuChunk(Foot.LEFT, t, np.tile([0.0, 0.0, G_MPS2], (len(t), 1)), np.zeros((len(t), 3)))
    )
    assert list(rest.strides_) == [] and rest.rejected_.stuck == 0 and list(rest.gaps_) == []
    # A sensor frozen away from rest is stuck: skipped and counted.
    frozen = _run(
        ImuChunk(
            Foot.LEFT,
            t,
            np.tile([20.0, 3.0, 1.0], (len(t), 1)),
            np.tile([4.0, 0.0, 0.0], (len(t), 1)),
        )
    )
    assert list(frozen.strides_) == []
    assert frozen.rejected_.stuck == len(t) - frozen.config.stuck_samples + 1


def test_wrong_foot_is_refused() -> None:
    c = _left(0.1)
    with pytest.raises(GaitInputError, match="right"):
        FootAnalyzer(Foot.RIGHT).push(c)


def test_random_corruption_never_crashes_and_good_data_still_works() -> None:
    rng = np.random.default_rng(21)
    c = _left(0.5)
    fa = FootAnalyzer(Foot.LEFT)
    pos = 0
    kinds = ["nan", "inf", "huge_acc", "huge_gyr", "shuffle_t", "repeat_t", "stuck", "ok"]
    while pos < len(c):
        k = int(rng.integers(1, 400))
        t = c.t_s[pos : pos + k].copy()
        acc = c.acc_mps2[pos : pos + k].copy()
        gyr = c.gyr_radps[pos : pos + k].copy()
        pos += k
        kind = kinds[int(rng.integers(len(kinds)))]
        i = int(rng.integers(len(t)))
        if kind == "nan":
            acc[i, int(rng.integers(3))] = np.nan
        elif kind == "inf":
            gyr[i, int(rng.integers(3))] = -np.inf
        elif kind == "huge_acc":
            acc[i] = 1e6
        elif kind == "huge_gyr":
            gyr[i] = 1e4
        elif kind == "shuffle_t":
            rng.shuffle(t)
        elif kind == "repeat_t":
            t[i:] = t[i]
        elif kind == "stuck":
            acc[:] = acc[0]
            gyr[:] = gyr[0]
        try:
            fa.push(ImuChunk(Foot.LEFT, t, acc, gyr))
        except GaitInputError as exc:
            assert kind in ("huge_acc", "huge_gyr"), exc
    fa.finish()
    counts = fa.rejected_
    assert counts.wrong_units >= 1 and counts.skipped > 0
    assert all(s.ic_s < s.to_s < s.end_ic_s for s in fa.strides_)
    assert all(0.1 < s.contact_time_s < 0.5 for s in fa.strides_)


def test_a_sample_rate_below_the_minimum_is_refused_with_the_reason() -> None:
    # Foot IMUs at 17-29 Hz (some lab sets) cannot time impacts or toe-offs: one clear
    # error, not strides that are silently wrong.
    rec = recording("efficient-midfoot", 0.2, 104.0, seed=2)
    c = rec.imu[Foot.LEFT]
    slow = ImuChunk(Foot.LEFT, c.t_s[::4], c.acc_mps2[::4], c.gyr_radps[::4])  # 26 Hz
    fa = FootAnalyzer(Foot.LEFT)
    with pytest.raises(GaitInputError, match="minimum of 50 Hz"):
        fa.push(slow)
    # Timestamps in milliseconds instead of seconds say so too.
    ms = ImuChunk(Foot.LEFT, c.t_s * 1000.0, c.acc_mps2, c.gyr_radps)
    with pytest.raises(GaitInputError, match="seconds"):
        FootAnalyzer(Foot.LEFT).push(ms)


def test_a_short_recording_in_g_is_refused_at_the_end() -> None:
    # Fewer samples than the units probe: judged on what there is when the data ends.
    rec = recording("efficient-midfoot", 0.2, 104.0, seed=2)
    c = rec.imu[Foot.LEFT].slice(0, 120)
    in_g = ImuChunk(Foot.LEFT, c.t_s, c.acc_mps2 / G_MPS2, c.gyr_radps)
    fa = FootAnalyzer(Foot.LEFT)
    fa.push(in_g)
    with pytest.raises(GaitInputError, match="in g"):
        fa.finish()
    assert fa.rejected_.wrong_units == 1


def test_one_foot_without_alignment_holds_nothing_back() -> None:
    # The right pod stops before the runner moves, so its alignment is never decided: the
    # left foot's strides are all released at the end (with one-foot values).
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=12)
    right = rec.imu[Foot.RIGHT]
    first = min(t.ic_s for t in rec.truth if t.foot is Foot.RIGHT)
    cut = int(np.searchsorted(right.t_s, first - 0.5))
    ga = GaitAnalyzer()
    strides = ga.push(rec.imu[Foot.LEFT]) + ga.push(right.slice(0, cut)) + ga.finish()
    assert ga.feet_[Foot.RIGHT].alignment_ is None
    left_truth = [t for t in rec.truth if t.foot is Foot.LEFT]
    assert sum(s.foot is Foot.LEFT for s in strides) >= len(left_truth) - 2
