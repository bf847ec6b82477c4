"""The compiled kernels (gaitcoach.gait.kernel) against the numpy reference, and the
zero-copy input path (the caller's arrays are read in place but never kept or written)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gaitcoach.gait import FootAnalyzer, GaitConfig, analyze
from gaitcoach.gait.buffer import SampleBuffer
from gaitcoach.gait.foot import SegmentResult
from gaitcoach.gait.kernel import find_anchors, scan_clean
from gaitcoach.gait.validation import load_fuzzy_run
from gaitcoach.types import Foot, ImuChunk
from tests.gait.simdata import SHARED_DATA, recording
from tests.support import require


def _segments(
    chunk: ImuChunk, reference: bool, monkeypatch: pytest.MonkeyPatch
) -> list[SegmentResult]:
    with monkeypatch.context() as m:
        if reference:
            m.setattr(FootAnalyzer, "_measure", FootAnalyzer._measure_reference)
        fa = FootAnalyzer(chunk.foot)
        fa.push(chunk)
        fa.finish()
    return fa.segments_


def _assert_same(chunk: ImuChunk, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Kernel and numpy reference give the same segments; returns (segments, values found)."""
    fast = _segments(chunk, False, monkeypatch)
    ref = _segments(chunk, True, monkeypatch)
    assert len(fast) == len(ref)
    found = 0
    for a, b in zip(fast, ref, strict=True):
        for f in dataclasses.fields(SegmentResult):
            x, y = getattr(a, f.name), getattr(b, f.name)
            assert (x is None) == (y is None), f.name
            if isinstance(x, float) and isinstance(y, float):
                # Same algorithm, same order of operations, except the kernel's Taylor
                # sin/cos: rounding-level differences only.
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (f.name, x, y)
                found += 1
            else:
                assert x == y, f.name
    return len(fast), found


@pytest.mark.parametrize(
    ("profile", "rate_hz"), [("heel-overstrider", 104.0), ("forefoot", 416.0), ("walk-run", 208.0)]
)
def test_kernel_measures_like_the_numpy_reference(
    profile: str, rate_hz: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = recording(profile, 0.5, rate_hz, seed=3).imu[Foot.LEFT]
    n, found = _assert_same(chunk, monkeypatch)
    assert n > 20
    assert found >= 8 * n  # most values are found (not all None on both sides)


def test_kernel_measures_like_the_numpy_reference_on_a_foot_that_never_rests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # fuzzy-run/tom: relaxed anchors, cut and joined segments, toe-offs without a pivot.
    path = SHARED_DATA / "fuzzy-run" / "tom.csv"
    require(path.is_file(), f"real running data not found at {path}")
    n, _ = _assert_same(load_fuzzy_run(path, Foot.LEFT), monkeypatch)
    assert n > 150


def test_caller_arrays_are_neither_kept_nor_written() -> None:
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=6)
    clean = analyze(rec.imu)
    chunk = rec.imu[Foot.RIGHT]
    t, acc, gyr = chunk.t_s.copy(), chunk.acc_mps2.copy(), chunk.gyr_radps.copy()
    saved = (t.copy(), acc.copy(), gyr.copy())
    # align_stances high: segments wait for the alignment past the first push.
    cfg = GaitConfig(align_stances=40)
    fa = FootAnalyzer(Foot.RIGHT, cfg)
    cut = 6000  # above the buffer's initial capacity: the block is read in place
    fa.push(ImuChunk(Foot.RIGHT, t[:cut], acc[:cut], gyr[:cut]))
    for a, b in zip((t, acc, gyr), saved, strict=True):
        assert np.array_equal(a, b)  # not written
    # The caller reuses its arrays: what the analyzer kept must not change.
    acc[:cut] = 0.0
    gyr[:cut] = 99.0
    fa.push(ImuChunk(Foot.RIGHT, t[cut:], acc[cut:], gyr[cut:]))
    fa.finish()
    ref = FootAnalyzer(Foot.RIGHT, cfg)
    ref.push(chunk)
    ref.finish()
    assert fa.strides_ == ref.strides_
    assert len(ref.strides_) > 60
    # the batch input itself is left as it was
    assert analyze(rec.imu) == clean


def test_buffer_adopts_a_large_first_block_and_detaches_it() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    t = np.arange(n) / 100.0
    acc = rng.normal(size=(n, 3))
    gyr = rng.normal(size=(n, 3))
    original = acc.copy()
    buf = SampleBuffer(capacity=16)
    buf.append(t, acc, gyr)
    assert np.shares_memory(buf.acc(0, n), acc)
    buf.drop_before(4000)
    assert buf.base == 4000 and np.array_equal(buf.acc(4000, n), acc[4000:])
    buf.detach()
    assert not np.shares_memory(buf.acc(4000, n), acc)
    acc[:] = 0.0
    buf.append(t[:3] + 100.0, acc[:3] + 1.0, gyr[:3])
    assert np.array_equal(buf.acc(4000, n), original[4000:])
    assert buf.end == n + 3


def test_scan_clean_flags() -> None:
    t = np.arange(6, dtype=float)
    acc = np.tile([0.0, 0.0, 9.8], (6, 1))
    gyr = np.zeros((6, 3))
    gyr[:, 0] = [0.1, 0.2, 0.2, 0.2, 0.3, 0.3]
    finite, increasing, acc_max, gyr_max, longest, run_end = scan_clean(t, acc, gyr)
    assert (finite, increasing, acc_max, gyr_max, longest, run_end) == (True, True, 9.8, 0.3, 3, 2)
    t[3] = t[2]
    acc[1, 1] = np.nan
    finite, increasing, *_ = scan_clean(t, acc, gyr)
    assert not finite and not increasing


def test_find_anchors_strict_minimum_and_relaxed_rule() -> None:
    # Two rests (energy 0.5 with a dip) between swings, and a slow swing low point at 2.0.
    e = np.full(200, 5.0)
    e[20:40] = 0.6
    e[30] = 0.5
    e[100:110] = 2.5
    e[105] = 2.0
    idx, rested = find_anchors(e, 0, 0, 0, 200, 10, 10, 10, 3.5)
    assert idx.tolist() == [30, 105] and rested.tolist() == [True, False]
    # relaxed rule off (gate 1): only the rest
    idx, _ = find_anchors(e, 0, 0, 0, 200, 10, 10, 10, 1.0)
    assert idx.tolist() == [30]
    # a rest nearby before the low point vetoes it (dq reaches back to the rest)
    idx, _ = find_anchors(e, 0, 0, 0, 200, 10, 10, 80, 3.5)
    assert idx.tolist() == [30]


def test_relaxed_anchor_not_just_before_an_impact() -> None:
    # A foot that never rests: it hangs still (1.5) just before its landing impact (30) and
    # stands less still (2.5, lowest 2.2) after it. Without the lead the hang is the anchor.
    e = np.full(200, 5.0)
    e[96:100] = 1.5
    e[100:103] = 30.0
    e[103:125] = 2.5
    e[112] = 2.2
    idx, _ = find_anchors(e, 0, 0, 0, 200, 10, 35, 45, 3.5)
    assert idx.tolist() == [96]
    idx, rested = find_anchors(e, 0, 5, 0, 200, 10, 35, 45, 3.5)
    assert idx.tolist() == [112] and rested.tolist() == [False]
    # the lead never moves an anchor at rest
    e[96:100] = 0.5
    idx, rested = find_anchors(e, 0, 5, 0, 200, 10, 35, 45, 3.5)
    assert idx.tolist() == [96] and rested.tolist() == [True]


def _anchors_reference(
    e: np.ndarray, h: int, hf: int, lo: int, hi: int, d: int, dw: int, dq: int, gate: float
) -> list[int]:
    """find_anchors written out with numpy windows (docs/metrics.md, Segmentation)."""
    n = len(e)
    run_max = np.array([e[max(i - h, 0) : i + h + 1].max() for i in range(n)])
    lead = np.array(
        [run_max[i] if e[max(i - h, 0) : i + hf + 1].max() < gate else np.inf for i in range(n)]
    )
    out = []
    for k in range(lo, hi):
        arr = run_max if run_max[k] < 1.0 else lead
        v = arr[k]
        before = d if run_max[k] < 1.0 else dw
        if not v < gate or (arr[k + 1 : k + 1 + d] < v).any():
            continue
        if not (v < arr[max(k - before, 0) : k]).all():
            continue
        if run_max[k] >= 1.0 and (run_max[max(k - dq, 0) : k + d + 1] < 1.0).any():
            continue
        out.append(k)
    return out


def test_find_anchors_matches_its_reference_on_random_energy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(20, 300))
        h = int(rng.integers(0, 6))
        hf = int(rng.integers(h, 3 * h + 8))  # both ways of taking the lead maximum
        lo = int(rng.integers(0, n // 2))
        hi = int(rng.integers(lo, n + 1))
        d, dw, dq = (int(x) for x in rng.integers([2, 2, 0], [15, 30, 30]))
        e = rng.gamma(1.5, 1.5, n)
        idx, rested = find_anchors(e, h, hf, lo, hi, d, dw, dq, 3.5)
        assert idx.tolist() == _anchors_reference(e, h, hf, lo, hi, d, dw, dq, 3.5)
        assert rested.tolist() == [bool(e[max(k - h, 0) : k + h + 1].max() < 1.0) for k in idx]
