"""Real recordings in ../shared/data: motion-capture walking (timing truth), annotated walking
of nine people (recall), outdoor running (no lab truth). Figures: docs/validation.md.

Tests named ``test_regression_*`` pin one instant of one recording: they guard a behaviour
found there, not accuracy in general.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import pytest

from gaitcoach.gait import FootAnalyzer, GaitAnalyzer, GaitConfig, analyze_all
from gaitcoach.types import Foot, ImuChunk, StrideRecord
from tests.gait.simdata import SHARED_DATA, chunks_of
from tests.support import require
from validation.datasets import ipol_trial_names, load_fuzzy_run, load_ipol_trial
from validation.reference import IpolReport, ipol_reference, running_reference, walking_reference
from validation.scoring import spectral_cadence_spm

WALK = SHARED_DATA / "gaitmap-walking"
RUN = SHARED_DATA / "fuzzy-run"
IPOL = SHARED_DATA / "ipol-walking-dev"


@lru_cache(maxsize=1)
def _walk() -> dict[str, float]:
    require(WALK.is_dir(), f"real walking data not found at {WALK}")
    return walking_reference(WALK)


def test_gaitmap_walking_events_and_stride_length_against_motion_capture() -> None:
    w = _walk()
    assert w["matched"] == w["mocap_strides"] >= 50
    assert w["to_abs_median_ms"] <= 10.0
    assert w["to_abs_p95_ms"] <= 15.0
    assert w["length_abs_median_pct"] <= 4.0
    # Walking IC = end of the terminal-swing dorsiflexion (the impact onset alone is about
    # 20 ms late against the motion capture; docs/validation.md). No landing is taken early
    # from a transient in the swing: the 95th percentile stays within 20 ms.
    assert w["ic_abs_median_ms"] <= 10.0
    assert abs(w["ic_signed_median_ms"]) <= 10.0
    assert w["ic_abs_p95_ms"] <= 20.0


def test_gaitmap_walking_ic_method_is_what_meets_the_target() -> None:
    require(WALK.is_dir(), f"real walking data not found at {WALK}")
    w = walking_reference(WALK, GaitConfig(walking_ic_window_s=0.0))
    assert w["ic_signed_median_ms"] > 15.0


@lru_cache(maxsize=1)
def _ipol() -> IpolReport:
    require(IPOL.is_dir(), f"annotated walking data not found at {IPOL}")
    return ipol_reference(IPOL)


def test_ipol_walking_recall_and_false_detections() -> None:
    # Nine people aged 35-75 (development data: subjects 1-9 of 19), starts, U-turns, stops
    # and packet loss; swings matched one to one to the annotations within 150 ms. The
    # issue's targets (98 % recall, 1 % false) are not met yet: these are the levels reached
    # (docs/validation.md), asserted so a regression fails.
    r = _ipol()
    everything = r.categories["all"]
    assert everything.ic.truth == everything.to.truth >= 1800
    assert everything.ic.recall_pct >= 96.5 and everything.to.recall_pct >= 97.0
    assert everything.ic.false_pct <= 2.2 and everything.to.false_pct <= 1.6
    steady = r.categories["steady"]
    assert steady.ic.recall_pct >= 99.3 and steady.to.recall_pct >= 99.4
    # Every first toe-off from standing is an event now (there is no stride before it).
    assert r.categories["first"].to.recall_pct >= 92.0
    assert r.categories["last"].ic.recall_pct >= 75.0
    # A turning step lifts the foot and puts it down turned, maybe not displaced.
    assert r.categories["turn"].ic.recall_pct >= 89.0
    # A pivot's toe-off is where its rest ends when it does not roll over its toes.
    assert r.categories["turn"].to.recall_pct >= 93.0
    assert r.categories["aged 60+"].ic.recall_pct >= 95.0
    # Every unmatched annotation is given one reason (bench accuracy's breakdown).
    for event, count in (("IC", everything.ic), ("TO", everything.to)):
        assert sum(r.misses[event].values()) == count.truth - count.found


def test_ipol_walking_no_foot_has_a_flipped_frame() -> None:
    # Slow walkers pause their rotation just after toe-off; with anchors only between swings
    # and the heading decided on whole strides, no frame is turned by 180 deg.
    r = _ipol()
    assert r.feet == 104
    assert r.flipped_feet == []
    assert r.unconfident_feet == []


def test_ipol_walking_timing_offset_against_the_annotations() -> None:
    # The annotations come from published detectors: a constant offset of a few samples is
    # a difference of definition (timing truth is gaitmap-walking's motion capture).
    r = _ipol()
    ic = np.median(r.categories["steady"].ic.errors_s)
    to = np.median(r.categories["steady"].to.errors_s)
    assert -0.04 <= ic <= 0.0 and -0.04 <= to <= 0.0


@pytest.mark.parametrize("name", ["3-1", "9-5"])
def test_ipol_walking_stream_equals_batch(name: str) -> None:
    require(IPOL.is_dir(), f"annotated walking data not found at {IPOL}")
    trial = load_ipol_trial(IPOL, name)
    batch = analyze_all(trial.imu)
    ga = GaitAnalyzer()
    out: list[StrideRecord] = []
    rng = np.random.default_rng(3)
    queues = {f: chunks_of(c, rng.integers(1, 40, size=len(c))) for f, c in trial.imu.items()}
    while any(queues.values()):
        for q in queues.values():
            if q:
                out += ga.push(q.pop(0))
    out += ga.finish()
    assert sorted(out, key=lambda s: (s.ic_s, str(s.foot))) == batch.strides
    assert len(batch.strides) > 20


def test_ipol_trial_names_cover_the_folder() -> None:
    require(IPOL.is_dir(), f"annotated walking data not found at {IPOL}")
    names = ipol_trial_names(IPOL)
    assert len(names) == 52 and names[0] == "1-1" and names[-1] == "9-6"


@lru_cache(maxsize=4)
def _run(runner: str) -> dict[str, float]:
    path = RUN / f"{runner}.csv"
    require(path.is_file(), f"real running data not found at {path}")
    return running_reference(path)


@pytest.mark.parametrize("runner", ["matt", "misha", "tom"])
def test_fuzzy_run_no_crash_and_plausible_cadence(runner: str) -> None:
    r = _run(runner)
    assert r["strides"] >= 100
    assert 150.0 <= r["cadence_median_spm"] <= 200.0
    assert 0.15 <= r["contact_p50_s"] <= 0.4


@pytest.mark.parametrize("runner", ["matt", "misha", "tom"])
def test_fuzzy_run_every_stride_bearing_swing_gives_a_stride(runner: str) -> None:
    # Against the swings counted independently of the events (misha: some fall in gaps).
    r = _run(runner)
    assert r["strides"] >= 0.97 * r["swings"]
    assert r["one_swing_pct"] == 100.0
    assert r["windows"] >= 15
    # Hann-weighted stride cadence vs the swing peaks' timing with the same weighting, in
    # every 20 s window (tom's stutter at 116-117 s is his worst).
    assert r["cadence_vs_swings_max_abs_spm"] <= (1.5 if runner == "tom" else 1.0)


@pytest.mark.parametrize("runner", ["matt", "misha"])
def test_fuzzy_run_cadence_agrees_with_the_spectrum(runner: str) -> None:
    # Zero-padded spectral peak, 20 s windows every 5 s (tom's cadence swings inside a
    # window: the peak follows its steadiest part; docs/validation.md).
    r = _run(runner)
    assert r["cadence_vs_spectral_median_abs_spm"] <= 1.0
    assert r["cadence_vs_spectral_max_abs_spm"] <= 4.0


def test_fuzzy_run_matt_found_from_start_to_stop() -> None:
    r = _run("matt")
    assert r["strides"] >= 0.97 * r["expected_strides"]
    assert r["first_ic_after_start_s"] <= 1.0 and r["longest_hole_s"] <= 0.05
    assert r["last_ic_before_stop_s"] <= 1.0


def test_fuzzy_run_tom_foot_that_never_rests_is_tracked() -> None:
    # tom's foot keeps turning at 1-4 rad/s through stance: swings come first, the anchor
    # is his stillest sample between two swings whether or not it is at rest.
    r = _run("tom")
    assert r["swings"] >= 170
    assert r["first_ic_after_start_s"] <= 1.0 and r["last_ic_before_stop_s"] <= 1.0
    assert 175.0 <= r["cadence_median_spm"] <= 195.0
    assert r["cadence_vs_swings_median_abs_spm"] <= 0.5


def _analyzed(runner: str) -> tuple[FootAnalyzer, list[StrideRecord]]:
    path = RUN / f"{runner}.csv"
    require(path.is_file(), f"real running data not found at {path}")
    fa = FootAnalyzer(Foot.UNKNOWN)
    strides = fa.push(load_fuzzy_run(path)) + fa.finish()
    return fa, strides


def test_regression_fuzzy_run_misha_first_landing_after_a_gap() -> None:
    # misha loses 40.66-40.76 s just before a toe-off (40.80 s). The swing after it lands
    # with a 9 g impact at 41.32 s: its toe-off is an event and its landing starts a stride.
    fa, strides = _analyzed("misha")
    assert any(g.start_s < 40.7 < g.end_s for g in fa.gaps_)
    after = [s for s in strides if 40.7 < s.ic_s < 42.5]
    assert after and abs(after[0].ic_s - 41.32) <= 0.02
    assert any(w.to_s is not None and abs(w.to_s - 40.80) <= 0.03 for w in fa.swings_)


def test_regression_fuzzy_run_tom_stillest_just_after_toe_off() -> None:
    # tom's foot is stillest at 17.69 s, just after his toe-off, already turning toes-up
    # into the next swing: no anchor goes there (anchors lie between swings), so the strides
    # around it chain and the toe-off is found.
    fa, strides = _analyzed("tom")
    near = [s for s in strides if 16.6 < s.ic_s < 18.7]
    assert len(near) == 4
    assert all(a.end_ic_s == b.ic_s for a, b in itertools.pairwise(near))
    assert 17.4 < near[1].to_s < 17.65
    assert all(abs(w.start_s - 17.69) > 0.1 for w in fa.swings_ if 17.3 < w.start_s < 17.9)


def test_regression_fuzzy_run_tom_late_swing_stillness() -> None:
    # At 50.51 s tom's foot is still in the late swing (no foot-flat): both strides around
    # it are measured.
    _, strides = _analyzed("tom")
    spans = [(s.ic_s, s.end_ic_s) for s in strides]
    for start, end in ((49.97, 50.66), (50.66, 51.34)):
        assert any(abs(a - start) < 0.02 and abs(b - end) < 0.02 for a, b in spans), start


def test_spectral_cadence_resolves_a_fraction_of_a_step() -> None:
    # A synthetic gyro norm at 83.3 strides/min (166.6 spm) with harmonics and noise.
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 20.0, 0.01)
    f = 166.6 / 120.0
    w = 5 + 4 * np.sin(2 * np.pi * f * t) + 2 * np.sin(4 * np.pi * f * t + 1.0)
    gyr = np.column_stack([w + rng.normal(0, 0.5, t.size), np.zeros(t.size), np.zeros(t.size)])
    chunk = ImuChunk(Foot.LEFT, t, np.tile([0.0, 0.0, 9.81], (t.size, 1)), gyr)
    assert spectral_cadence_spm(chunk, 0.0, 20.0) == pytest.approx(166.6, abs=0.1)


def test_fuzzy_run_misha_short_holes_bridged_long_ones_are_gaps() -> None:
    path = RUN / "misha.csv"
    require(path.is_file(), f"real running data not found at {path}")
    chunk = load_fuzzy_run(path, Foot.UNKNOWN)
    fa = FootAnalyzer(Foot.UNKNOWN)
    strides = fa.push(chunk) + fa.finish()
    holes = np.diff(chunk.t_s)
    # 1518 doubled steps and ~140 holes of 20-97 ms are bridged; only the holes over nine
    # sample periods (127-236 ms) are gaps.
    assert len(fa.gaps_) == int(np.sum(holes > 9 * 0.01 + 1e-9))
    assert all(g.reason == "time jump" and g.end_s - g.start_s > 0.09 for g in fa.gaps_)
    assert all(not (s.ic_s < g.start_s < s.end_ic_s) for s in strides for g in fa.gaps_)
    strict = FootAnalyzer(Foot.UNKNOWN, GaitConfig(max_dt_factor=3.5))
    few = strict.push(chunk) + strict.finish()
    assert len(strides) >= 2.0 * len(few)
    # Cut into short runs, the frame is the same and the strike angles plausible.
    assert strict.alignment_ is not None and fa.alignment_ is not None
    assert float(np.sum(strict.alignment_.r_fs_ * fa.alignment_.r_fs_)) >= 2.9


@pytest.mark.parametrize(("runner", "max_size"), [("misha", 700), ("tom", 700), ("tom", 12)])
def test_fuzzy_run_stream_equals_batch(runner: str, max_size: int) -> None:
    # misha: irregular timestamps and gaps; tom: a foot that never rests.
    path = RUN / f"{runner}.csv"
    require(path.is_file(), f"real running data not found at {path}")
    chunk = load_fuzzy_run(path, Foot.UNKNOWN)
    batch = FootAnalyzer(Foot.UNKNOWN)
    expected = batch.push(chunk) + batch.finish()
    streamed = FootAnalyzer(Foot.UNKNOWN)
    got: list[StrideRecord] = []
    sizes = np.random.default_rng(5).integers(1, max_size, size=len(chunk))
    for part in chunks_of(chunk, sizes):
        got += streamed.push(part)
    got += streamed.finish()
    assert got == expected and len(expected) > 30
    assert list(streamed.gaps_) == list(batch.gaps_)
    assert list(streamed.swings_) == list(batch.swings_)
