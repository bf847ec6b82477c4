"""The compiled per-segment measurement (gaitcoach.gait.kernels) against the readable numpy
reference (tests/gait/reference.py), and the input-check kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gaitcoach.gait import FootAnalyzer, GaitConfig, analyze
from gaitcoach.gait.kernels import (
    KIND_STEP,
    SEGMENT_FIELDS,
    _mean_acc,
    measure_segments,
    scan_clean,
)
from gaitcoach.gait.segmentation import ScanState, scan_segments
from gaitcoach.types import Foot, ImuChunk
from tests.gait import reference
from tests.gait.simdata import SHARED_DATA, recording
from tests.support import require
from validation.datasets import load_fuzzy_run, load_ipol_trial


def _compare(chunk: ImuChunk) -> tuple[int, int, int]:
    """Segments of one foot measured by the kernel and by the reference: equal to rounding.
    Returns (segments, values found, steps timed from their motion onset)."""
    cfg = GaitConfig()
    fa = FootAnalyzer(chunk.foot, cfg)
    fa.push(chunk)
    fa.finish()
    assert fa.alignment_ is not None and fa.rate_hz_ is not None
    r = fa.alignment_.r_fs_
    params = fa._seg_params()
    run = fa._new_run()
    run.buf.set_axis(r[1])
    run.buf.append(chunk.t_s, chunk.acc_mps2, chunk.gyr_radps)
    run.buf.close()
    sig = run.buf.signals()
    t, acc, gyr = sig.t, sig.acc, sig.gyr
    spans, _ = scan_segments(sig, ScanState(), True, params)
    win = max(1, round(cfg.impact_window_s * fa.rate_hz_))
    fast = measure_segments(
        t,
        acc,
        gyr,
        spans,
        r,
        h=params.h,
        flat_max_tilt_deg=cfg.flat_max_tilt_deg,
        impact_onset_fraction=cfg.impact_onset_fraction,
        impact_rise_s=cfg.impact_rise_s,
        toe_speed_levels_mps=cfg.toe_speed_levels_mps,
        heel_off_fraction=cfg.heel_off_fraction,
        impact_window_samples=win,
        walking_ic_window_s=cfg.walking_ic_window_s,
    )
    found = onsets = 0
    for sp, row in zip(spans, fast, strict=True):
        a, b, icf = int(sp["a0"]), int(sp["a1"]) + 1, int(sp["ic_from"])
        step = sp["kind"] == KIND_STEP
        until = int(sp["swing_end"]) - a + params.h + 1 if step else b - a
        onset = int(sp["swing_start"]) - a + params.h if step else -1
        onsets += step and float(row["to_s"]) == t[a + onset]
        ref = reference.measure_segment(
            t[a:b],
            acc[a:b],
            gyr[a:b],
            _mean_acc(acc, a - params.h, a + params.h + 1),
            _mean_acc(acc, b - 1 - params.h, b + params.h),
            r,
            (int(sp["swing_start"]) - a, int(sp["swing_end"]) - a),
            icf - a if icf >= 0 else -1,
            until,
            flat_max_tilt_deg=cfg.flat_max_tilt_deg,
            onset_fraction=cfg.impact_onset_fraction,
            rise_s=cfg.impact_rise_s,
            levels=cfg.toe_speed_levels_mps,
            heel_off_fraction=cfg.heel_off_fraction,
            win=win,
            walking_window_s=cfg.walking_ic_window_s,
            onset=onset,
        )
        for name in SEGMENT_FIELDS:
            x, y = float(row[name]), ref[name]
            assert math.isnan(x) == math.isnan(y), (name, x, y)
            if not math.isnan(x):
                # Same algorithm; the kernel's Taylor sin/cos and summation order differ in
                # the last bits only.
                assert math.isclose(x, y, rel_tol=1e-8, abs_tol=1e-8), (name, x, y)
                found += 1
    return len(spans), found, onsets


@pytest.mark.parametrize(
    ("profile", "rate_hz"), [("heel-overstrider", 104.0), ("forefoot", 416.0), ("walk-run", 208.0)]
)
def test_kernel_measures_like_the_numpy_reference(profile: str, rate_hz: float) -> None:
    n, found, _ = _compare(recording(profile, 0.5, rate_hz, seed=3).imu[Foot.LEFT])
    assert n > 20
    assert found >= 12 * n  # most values are found (not NaN on both sides)


def test_kernel_measures_like_the_numpy_reference_on_a_foot_that_never_rests() -> None:
    path = SHARED_DATA / "fuzzy-run" / "tom.csv"
    require(path.is_file(), f"real running data not found at {path}")
    chunk = load_fuzzy_run(path, Foot.LEFT)
    keep = np.concatenate(([True], np.diff(chunk.t_s) > 0))
    clean = ImuChunk(Foot.LEFT, chunk.t_s[keep], chunk.acc_mps2[keep], chunk.gyr_radps[keep])
    n, _, _ = _compare(clean)
    assert n > 150


def test_kernel_measures_like_the_numpy_reference_on_turn_and_pivot_steps() -> None:
    # Real U-turns: step-kind swings, some timed from their motion onset (no roll over the
    # toes for the pivot model to time).
    folder = SHARED_DATA / "ipol-walking-dev"
    require(folder.is_dir(), f"annotated walking data not found at {folder}")
    n, _, onsets = _compare(load_ipol_trial(folder, "1-2").imu[Foot.RIGHT])
    assert n > 15
    assert onsets >= 1


def test_caller_arrays_are_neither_kept_nor_written() -> None:
    rec = recording("efficient-midfoot", 1.0, 208.0, seed=6)
    clean = analyze(rec.imu)
    chunk = rec.imu[Foot.RIGHT]
    t, acc, gyr = chunk.t_s.copy(), chunk.acc_mps2.copy(), chunk.gyr_radps.copy()
    saved = (t.copy(), acc.copy(), gyr.copy())
    fa = FootAnalyzer(Foot.RIGHT)
    cut = 6000
    fa.push(ImuChunk(Foot.RIGHT, t[:cut], acc[:cut], gyr[:cut]))
    for a, b in zip((t, acc, gyr), saved, strict=True):
        assert np.array_equal(a, b)  # not written
    # The caller reuses its arrays: what the analyzer kept must not change.
    acc[:cut] = 0.0
    gyr[:cut] = 99.0
    fa.push(ImuChunk(Foot.RIGHT, t[cut:], acc[cut:], gyr[cut:]))
    fa.finish()
    ref = FootAnalyzer(Foot.RIGHT)
    ref.push(chunk)
    ref.finish()
    assert list(fa.strides_) == list(ref.strides_)
    assert len(ref.strides_) > 60
    assert analyze(rec.imu) == clean  # the batch input itself is left as it was


def test_scan_clean_flags() -> None:
    t = np.arange(6, dtype=float)
    acc = np.tile([0.0, 0.0, 9.8], (6, 1))
    gyr = np.zeros((6, 3))
    finite, increasing, acc_max, gyr_max, longest, run = scan_clean(t, acc, gyr)
    assert finite and increasing and acc_max == 9.8 and gyr_max == 0.0
    assert longest == 6 and run == 6
    acc[3, 0] = np.nan
    t[4] = t[3]
    finite, increasing, *_ = scan_clean(t, acc, gyr)
    assert not finite and not increasing
