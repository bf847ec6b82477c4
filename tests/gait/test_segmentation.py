"""Swing-first segmentation on its own (gaitcoach.gait.swings, gaitcoach.gait.segmentation):
swings, anchors between them, steps between rests, and the resumable scan."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gaitcoach.frames import G_MPS2
from gaitcoach.gait import (
    FootAnalyzer,
    PitchSwingDetector,
    StanceEnergyRest,
    SwingSegmenter,
    ZuptStepDetector,
)
from gaitcoach.gait.config import GaitConfig
from gaitcoach.gait.kernels import KIND_PITCH, KIND_STEP, measure_segments
from gaitcoach.gait.segmentation import RunSignals, ScanState, SegmentationParams, scan_segments
from gaitcoach.types import FloatArray, Foot
from tests.gait.simdata import recording

RATE_HZ = 100.0
PARAMS = SegmentationParams(
    h=2,
    swing_rate_radps=1.0,
    swing_bridge_s=0.03,
    swing_min_rotation_deg=20.0,
    min_stride_s=0.4,
    max_stride_s=2.5,
    rest_min_s=0.25,
    step_min_displacement_m=0.15,
    step_min_turn_deg=30.0,
    step_min_lift_m=0.007,
    step_rest_energy=1.0,
    landing_window_s=0.15,
    settle_window_s=0.5,
    stance_search_s=0.5,
)


def _hump(t: FloatArray, start_s: float, dur_s: float, peak: float) -> FloatArray:
    x = np.clip((t - start_s) / dur_s, 0.0, 1.0)
    return peak * np.sin(np.pi * x)


def _signals(gml: FloatArray, impacts: tuple[float, ...] = ()) -> RunSignals:
    """Synthetic foot-frame samples: ``gml`` about the ml axis, gravity on si, a brief
    specific-force transient at each impact time; energy from StanceEnergyRest."""
    n = len(gml)
    t = np.arange(n) / RATE_HZ
    gyr = np.zeros((n, 3))
    gyr[:, 1] = gml
    acc = np.tile([0.0, 0.0, G_MPS2], (n, 1))
    for at in impacts:
        acc[(t >= at) & (t < at + 0.03), 2] += 15.0
    rest = StanceEnergyRest().detect(t, acc, gyr, RATE_HZ)
    ad = np.abs(np.linalg.norm(acc, axis=1) - G_MPS2)
    return RunSignals(t, gml.copy(), acc, gyr, rest.energy_, ad)


def _segment(signals: RunSignals) -> np.ndarray:
    return SwingSegmenter(PARAMS).segment(signals).spans_


def test_one_segment_per_swing_with_anchors_in_the_stances() -> None:
    t = np.arange(300) / RATE_HZ
    gml = _hump(t, 0.5, 0.3, -8.0) + _hump(t, 1.6, 0.3, -8.0)
    spans = _segment(_signals(gml, impacts=(0.85, 1.95)))
    assert len(spans) == 2
    for sp in spans:
        assert sp["a0"] < sp["swing_start"] < sp["swing_end"] <= sp["land"] <= sp["a1"]
        assert sp["kind"] == KIND_PITCH
    # The end anchor of the first swing lies before the second swing starts.
    assert spans[0]["a1"] < spans[1]["swing_start"]
    assert spans[0]["a1"] <= spans[1]["a0"]


def test_small_or_close_toes_up_runs_are_not_swings() -> None:
    t = np.arange(300) / RATE_HZ
    # 0.1 s at 2 rad/s: 11 deg, below 20 deg; then a swing and 0.2 s later a second run
    # (rotation ringing after the landing): one swing.
    gml = _hump(t, 0.3, 0.1, -2.0) + _hump(t, 1.0, 0.3, -8.0) + _hump(t, 1.35, 0.1, -8.0)
    swings = PitchSwingDetector().detect(t, gml).swings_
    assert len(swings) == 1
    assert t[swings[0, 0]] == pytest.approx(1.0, abs=0.05)


def test_a_pause_in_a_swing_within_the_bridge_does_not_split_it() -> None:
    t = np.arange(200) / RATE_HZ
    gml = _hump(t, 0.5, 0.4, -6.0)
    gml[(t > 0.68) & (t < 0.70)] = 0.0  # 20 ms pause (bridge 30 ms)
    assert len(PitchSwingDetector().detect(t, gml).swings_) == 1


def test_a_lull_after_toe_off_is_no_anchor() -> None:
    # Slow walker: push-off (toes down), a 60 ms lull with no rotation at 1 g, then the
    # swing. The anchor before the swing is in the real stance, not in the lull.
    t = np.arange(400) / RATE_HZ
    gml = _hump(t, 1.0, 0.3, 5.0) + _hump(t, 1.36, 0.35, -6.0)
    spans = _segment(_signals(gml, impacts=(1.75,)))
    assert len(spans) == 1
    assert t[spans[0]["a0"]] < 1.0  # before the push-off, not at 1.30-1.36


def _slow_step(n: int = 400) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A slow first step from standing: 0.3 m forward in 0.6 s from t = 1 s, the foot
    turning at 1.8 rad/s, so that the anchors' stance energy stays below 1 throughout."""
    t = np.arange(n) / RATE_HZ
    acc = np.tile([0.0, 0.0, G_MPS2], (n, 1))
    gyr = np.zeros((n, 3))
    move = (t >= 1.0) & (t < 1.6)
    acc[move, 0] = (0.3 * 2 * np.pi / 0.6**2 * np.sin(2 * np.pi * (t - 1.0) / 0.6))[move]
    gyr[move, 2] = 1.8
    return t, acc, gyr


def test_a_slow_step_under_the_anchor_rest_level_is_found() -> None:
    # Its whole swing is "rest" for the anchors (energy < 1); a stricter rest level for the
    # step detector (0.6) still sees the motion, and the step's toe-off is where its rest
    # ends (no roll over the toes to time it by).
    t, acc, gyr = _slow_step()
    energy = StanceEnergyRest().detect(t, acc, gyr, RATE_HZ).energy_
    assert energy.max() < 1.0
    assert len(ZuptStepDetector().detect(t, acc, gyr, energy, 0.25, 2).swings_) == 0
    steps = ZuptStepDetector(rest_energy=0.6).detect(t, acc, gyr, energy, 0.25, 2).swings_
    assert len(steps) == 1
    ad = np.abs(np.linalg.norm(acc, axis=1) - G_MPS2)
    strict = dataclasses.replace(PARAMS, step_rest_energy=0.6)
    sig = RunSignals(t, gyr[:, 1].copy(), acc, gyr, energy, ad)
    assert len(_segment(sig)) == 0
    spans = SwingSegmenter(strict).segment(sig).spans_
    assert [int(s["kind"]) for s in spans] == [KIND_STEP]
    cfg = GaitConfig()
    seg = measure_segments(
        t,
        acc,
        gyr,
        spans,
        np.eye(3),
        h=PARAMS.h,
        flat_max_tilt_deg=cfg.flat_max_tilt_deg,
        impact_onset_fraction=cfg.impact_onset_fraction,
        impact_rise_s=cfg.impact_rise_s,
        toe_speed_levels_mps=cfg.toe_speed_levels_mps,
        heel_off_fraction=cfg.heel_off_fraction,
        impact_window_samples=3,
        walking_ic_window_s=cfg.walking_ic_window_s,
    )
    assert seg["to_s"][0] == pytest.approx(1.0, abs=0.03)
    assert seg["length_m"][0] == pytest.approx(0.3, abs=0.03)


def test_a_step_between_two_rests_is_found_when_the_foot_moves() -> None:
    # A pivot-like step: no toes-up rotation to speak of, but the foot moves forward 0.3 m
    # between two rests. A turn in place (rotation only) is no step.
    n = 400
    t = np.arange(n) / RATE_HZ
    acc = np.tile([0.0, 0.0, G_MPS2], (n, 1))
    gyr = np.zeros((n, 3))
    move = (t >= 1.0) & (t < 1.6)
    # Forward acceleration then deceleration: 0.3 m in 0.6 s.
    a = 0.3 * 2 * np.pi / 0.6**2 * np.sin(2 * np.pi * (t - 1.0) / 0.6)
    acc[move, 0] = a[move]
    gyr[move, 2] = 3.0  # turning as it steps (and moving enough to leave rest)
    step_energy = StanceEnergyRest().detect(t, acc, gyr, RATE_HZ).energy_
    steps = ZuptStepDetector().detect(t, acc, gyr, step_energy, 0.25, 2).swings_
    assert len(steps) == 1
    turn = np.zeros((n, 3))
    turn[move, 2] = 3.0  # 100 deg about the vertical, no displacement
    still = np.tile([0.0, 0.0, G_MPS2], (n, 1))
    turn_energy = StanceEnergyRest().detect(t, still, turn, RATE_HZ).energy_
    assert len(ZuptStepDetector().detect(t, still, turn, turn_energy, 0.25, 2).swings_) == 0
    # In the segmentation the step becomes a segment of its own kind.
    ad = np.abs(np.linalg.norm(acc, axis=1) - G_MPS2)
    e = step_energy
    spans = _segment(RunSignals(t, gyr[:, 1].copy(), acc, gyr, e, ad))
    assert [int(s["kind"]) for s in spans] == [KIND_STEP]


@pytest.mark.parametrize(("lift_m", "steps"), [(0.0, 0), (0.003, 0), (0.02, 1)])
def test_a_turn_in_place_is_a_step_only_if_the_foot_is_lifted(lift_m: float, steps: int) -> None:
    # A turning step of a U-turn: the foot is lifted, turned 100 deg about the vertical and
    # put down where it was. A stance foot swivelling on the ground turns alike, unlifted.
    n = 400
    t = np.arange(n) / RATE_HZ
    move = (t >= 1.0) & (t < 1.6)
    gyr = np.zeros((n, 3))
    gyr[move, 2] = 3.0
    acc = np.tile([0.0, 0.0, G_MPS2], (n, 1))
    # Height lift_m * (1 - cos(2 pi tau / T)) / 2 over the T = 0.6 s of the turn.
    w = 2 * np.pi / 0.6
    acc[move, 2] += (lift_m / 2 * w**2 * np.cos(w * (t - 1.0)))[move]
    energy = StanceEnergyRest().detect(t, acc, gyr, RATE_HZ).energy_
    found = ZuptStepDetector().detect(t, acc, gyr, energy, 0.25, 2).swings_
    assert len(found) == steps
    # A threshold of its own: with a higher minimum turn the lifted turn is no step either.
    strict = ZuptStepDetector(min_turn_deg=120.0).detect(t, acc, gyr, energy, 0.25, 2)
    assert len(strict.swings_) == 0


@pytest.mark.parametrize(("profile", "seed"), [("walk-run", 2), ("heel-overstrider", 5)])
def test_resumable_scan_equals_one_scan(profile: str, seed: int) -> None:
    # The scan resumes from a three-number state; fed the data in random pieces, it returns
    # exactly the segments of one scan over everything.
    rec = recording(profile, 0.5, 208.0, seed=seed)
    c = rec.imu[Foot.LEFT]
    fa = FootAnalyzer(Foot.LEFT)
    fa.push(c)
    fa.finish()
    assert fa.alignment_ is not None
    run = fa._new_run()
    run.buf.set_axis(fa.alignment_.r_fs_[1])
    run.buf.append(c.t_s, c.acc_mps2, c.gyr_radps)
    run.buf.close()
    sig = run.buf.signals()
    params = fa._seg_params()
    whole, _ = scan_segments(sig, ScanState(), True, params)
    assert len(whole) > 15
    rng = np.random.default_rng(seed)
    state = ScanState()
    pieces: list[np.ndarray] = []
    stop = 0
    while stop < len(sig.t):
        stop = min(len(sig.t), stop + int(rng.integers(1, 400)))
        spans, state = scan_segments(sig.head(stop), state, stop == len(sig.t), params)
        pieces.append(spans)
    streamed = np.concatenate(pieces)
    assert np.array_equal(streamed, whole)


def test_a_long_rest_moves_the_resume_point_forward() -> None:
    # Standing after a swing: the scan does not keep its start at the last swing (so a
    # standing foot is not rescanned from there at every chunk), and a later swing is found
    # as in one scan.
    t = np.arange(1500) / RATE_HZ
    gml = _hump(t, 0.5, 0.3, -8.0) + _hump(t, 12.0, 0.3, -8.0)
    sig = _signals(gml, impacts=(0.85, 12.35))
    whole = _segment(sig)
    assert len(whole) == 2
    spans, state = scan_segments(sig.head(800), ScanState(), False, PARAMS)
    assert len(spans) == 1
    assert t[state.lo] > 7.0  # resumed inside the rest, not at the swing's end (0.8 s)
    rest, _ = scan_segments(sig, state, True, PARAMS)
    assert np.array_equal(np.concatenate([spans, rest]), whole)


def test_detectors_name_their_method_and_parameters() -> None:
    for algo in (PitchSwingDetector(), ZuptStepDetector(), StanceEnergyRest()):
        assert algo.__doc__ and "References" in algo.__doc__
        params = algo.get_params()
        assert params and all(math.isfinite(float(v)) for v in params.values())
        assert type(algo).__name__ in repr(algo)
