"""Real walking in the simulator: slow walkers who pause after toe-off, knocks, scuffs and
brakes in the swing, starts and stops, U-turns with pivot steps; per-swing truth for all."""

from __future__ import annotations

import dataclasses
import itertools
from functools import lru_cache
from typing import Any

import numpy as np
import pytest

from firmware_sim.params import Mode, Profile, Segment, SwingEvents, UTurn
from firmware_sim.profiles import EVERYDAY_WALK, PROFILES
from firmware_sim.simulation import Simulation
from firmware_sim.trajectory import SwingKind, TruthSwing
from gaitcoach.frames import G_MPS2
from gaitcoach.types import Foot
from tests.sim.integrate import orientation_error_deg, position_error_m

FEET = (Foot.LEFT, Foot.RIGHT)
WALKING = ["slow-walker", "walk-knocks", "start-stop", "u-turns", "walk-trials"]
TOE_F = np.array([0.26, 0.0, 0.0])


@lru_cache(maxsize=16)
def _sim(name: str, seed: int = 1, **event_changes: Any) -> Simulation:
    """A noise-free 416 Hz simulation of a profile, planned to its end; ``event_changes``
    switch swing events of every segment (the other draws stay the same)."""
    prof = PROFILES[name]
    if event_changes:
        prof = dataclasses.replace(
            prof,
            segments=tuple(
                dataclasses.replace(s, events=dataclasses.replace(s.events, **event_changes))
                if s.events is not None
                else s
                for s in prof.segments
            ),
        )
    sim = Simulation(prof, seed=seed, rate_hz=416, noise=False)
    sim.run_until(prof.duration_s)
    return sim


def _swings(name: str, seed: int = 1) -> list[TruthSwing]:
    sim = _sim(name, seed)
    return sim.truth_swings(until_s=sim.duration_s)


def _sole(sim: Simulation, foot: Foot, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heel and toe positions (world) at times ``t``."""
    st = sim.state(foot, t)
    heel = st.pos_m - np.einsum("nij,j->ni", st.r_wf, sim.sensor_f_of(foot))
    return heel, heel + np.einsum("nij,j->ni", st.r_wf, TOE_F)


# ---------------------------------------------------------------------- truth per swing
@pytest.mark.parametrize("name", [*WALKING, "walk-run"])
def test_swing_events_are_ordered_and_match_the_strides(name: str) -> None:
    sim = _sim(name)
    end = sim.duration_s
    for foot in FEET:
        swings = sim.truth_swings(foot, until_s=end)
        assert [s.index for s in swings] == list(range(len(swings)))
        for s in swings:
            assert s.ho_s < s.to_s < s.ic_s < s.flat_s
            inside = [x for x in (s.pause_start_s, s.scuff_s, s.knock_s, s.brake_s) if x]
            assert all(s.to_s < x < s.ic_s for x in inside)
        for a, b in itertools.pairwise(swings):
            assert a.flat_s <= b.ho_s
        # Every stride is a swing; the swings without a stride are the first of each walk.
        strides = sim.truth_strides(foot, until_s=end)
        by_to = {(s.to_s, s.ic_s) for s in swings}
        assert all((s.to_s, s.end_ic_s) in by_to for s in strides)
        starts = [s for s in swings if s.kind is SwingKind.INITIATION]
        assert len(swings) == len(strides) + len(starts)


@pytest.mark.parametrize("name", ["slow-walker", "walk-knocks", "u-turns"])
def test_swing_times_are_the_foot_leaving_and_reaching_the_ground(name: str) -> None:
    """At toe-off the toe rests on the floor and leaves it; at IC the foot comes down (it is
    in the air just before and at rest on the floor at the foot-flat)."""
    sim = _sim(name)
    for foot in FEET:
        for s in sim.truth_swings(foot, until_s=sim.duration_s)[::5]:
            t = np.array([s.to_s - 1e-3, s.to_s, s.to_s + 0.02, s.ic_s - 1e-3, s.flat_s + 1e-3])
            heel, toe = _sole(sim, foot, t)
            st = sim.state(foot, t)
            assert abs(toe[1, 2]) < 1e-9 and toe[2, 2] > 1e-5
            assert min(heel[3, 2], toe[3, 2]) > 1e-5 and st.vel_mps[3, 2] < 0
            assert np.abs(st.vel_mps[4]).max() < 1e-9 and abs(heel[4, 2]) < 1e-9


def test_start_stop_has_every_first_and_last_swing() -> None:
    prof = PROFILES["start-stop"]
    sim = _sim("start-stop")
    bounds = np.cumsum([0.0] + [seg.duration_s for seg in prof.segments])
    walks = [
        (bounds[i], bounds[i + 1]) for i, seg in enumerate(prof.segments) if seg.mode is Mode.WALK
    ]
    assert len(walks) == 10
    step_s = 60.0 / EVERYDAY_WALK.cadence_spm
    for a, b in walks:
        last_ic = []
        for foot in FEET:
            swings = sim.truth_swings(foot, until_s=sim.duration_s)
            bout = [s for s in swings if a - 1.5 < s.to_s < b + 1.5]
            assert bout[0].kind is SwingKind.INITIATION and bout[-1].kind is SwingKind.TERMINATION
            assert all(s.kind is SwingKind.NORMAL for s in bout[1:-1])
            # The first toe-off from standing is around the start; standing follows the last
            # landing.
            assert a - 1.0 < bout[0].to_s < a + 1.0
            assert not [s for s in swings if bout[-1].ic_s < s.to_s < b + 3.0]
            last_ic.append(bout[-1].ic_s)
        # One foot lands last in the walk, the other closes up one step later.
        assert b - step_s <= min(last_ic) < b <= max(last_ic) < b + step_s
        assert max(last_ic) - min(last_ic) == pytest.approx(step_s, rel=0.05)
    # The closing step: both feet stand side by side, a step width apart.
    for c_l, c_r in zip(
        [c for c in sim.planner.tracks[Foot.LEFT].contacts if c.stopped],
        [c for c in sim.planner.tracks[Foot.RIGHT].contacts if c.stopped],
        strict=True,
    ):
        fwd = np.array([np.cos(c_l.yaw - np.radians(5.0)), np.sin(c_l.yaw - np.radians(5.0))])
        d = (c_l.heel_rest - c_r.heel_rest)[:2]
        assert abs(d @ fwd) < 0.05
        assert abs(np.hypot(*d) - EVERYDAY_WALK.step_width_m) < 0.05


def test_initiation_and_closing_steps_are_short() -> None:
    swings = _swings("start-stop")
    normal = np.median([s.length_m for s in swings if s.kind is SwingKind.NORMAL])
    first = [s for s in swings if s.kind is SwingKind.INITIATION]
    # The leading foot's first step starts beside the other foot: about half a stride.
    assert min(s.length_m for s in first) < 0.5 * normal
    closing = [s for s in swings if s.kind is SwingKind.TERMINATION]
    assert min(s.length_m for s in closing) < 0.6 * normal


# ---------------------------------------------------------------------- slow walkers
def test_slow_walker_pauses_after_toe_off_looking_like_rest() -> None:
    """40-80 ms after toe-off with almost no rotation and |f| near 1 g while the foot still
    moves: what a rest detector takes for a stance."""
    sim = _sim("slow-walker")
    swings = _swings("slow-walker")
    assert all(0.04 <= s.pause_s <= 0.08 for s in swings)
    for foot in FEET:
        for s in [s for s in swings if s.foot is foot][::4]:
            assert s.pause_start_s is not None
            t = np.arange(s.pause_start_s, s.pause_start_s + s.pause_s, 1e-3)
            acc, gyr = sim.ideal_imu(foot, t)
            rate_dps = np.degrees(np.linalg.norm(gyr, axis=1))
            assert rate_dps.max() < 5.0
            assert np.abs(np.linalg.norm(acc, axis=1) / G_MPS2 - 1.0).max() < 0.06
            assert np.linalg.norm(sim.state(foot, t).vel_mps, axis=1).min() > 0.2
            # The pitch rate (about the foot's y axis) passes through zero inside the pause.
            st = sim.state(foot, t)
            pitch_rate = np.einsum("nij,ni->nj", st.r_wf, st.omega_radps)[:, 1]
            assert pitch_rate.min() < 0.0 < pitch_rate.max()
            # Gyro energy: under 0.1 % of the swing's mean square rate.
            _, g_all = sim.ideal_imu(foot, np.arange(s.to_s, s.ic_s, 1e-3))
            assert np.mean(np.sum(gyr**2, 1)) < 1e-3 * np.mean(np.sum(g_all**2, 1))


def test_slow_walker_walks_slowly_with_long_double_support() -> None:
    strides = _sim("slow-walker").truth_strides()
    mid = [s for s in strides if 15.0 < s.ic_s < 120.0]
    assert 0.6 <= np.median([s.speed_mps for s in mid]) <= 0.9
    assert 85.0 <= np.median([s.cadence_spm for s in mid]) <= 100.0
    # Double support: each foot is down well over half the stride.
    assert np.median([s.contact_time_s / s.stride_time_s for s in mid]) > 0.62


# ---------------------------------------------------------------------- knocks, scuffs, brakes
def test_knocks_are_short_spikes_with_gyro_ringing() -> None:
    """The same walker with and without knocks: identical except in the knock windows, where
    the foot feels a 2-6 g spike (above 0.5 g for 8-25 ms) and the gyro rings."""
    sim = _sim("walk-knocks")
    calm = _sim("walk-knocks", knock_share=0.0)
    swings = _swings("walk-knocks")
    knocks = [s for s in swings if s.knock_s is not None]
    assert 0.12 < len(knocks) / len(swings) < 0.3
    # (Where a scuff shares the swing, its dip depends on the knock: compare the others.)
    for s in [s for s in knocks if s.scuff_s is None]:
        assert s.knock_s is not None
        t = np.arange(s.ho_s, s.flat_s, 1e-4)
        fa, ga = sim.ideal_imu(s.foot, t)
        fb, gb = calm.ideal_imu(s.foot, t)
        df = np.linalg.norm(fa - fb, axis=1) / G_MPS2
        dg = np.degrees(np.linalg.norm(ga - gb, axis=1))
        window = (t > s.knock_s - 0.012) & (t < s.knock_s + 0.07)
        assert df[~window].max() < 1e-6 and dg[~window].max() < 1e-6
        assert 2.0 < df.max() < 6.0
        assert abs(t[df.argmax()] - s.knock_s) < 0.004
        above = t[df > 0.5]
        assert 0.008 < above.max() - above.min() < 0.025
        assert dg.max() > 20.0
        assert s.ic_s - s.knock_s > 0.06


def test_scuffs_touch_the_floor_in_early_or_mid_swing_and_decelerate() -> None:
    sim = _sim("walk-knocks")
    clean = _sim("walk-knocks", scuff_share=0.0)
    swings = _swings("walk-knocks")
    scuffs = [s for s in swings if s.scuff_s is not None]
    assert 0.07 < len(scuffs) / len(swings) < 0.25
    for s in scuffs:
        assert s.scuff_s is not None
        assert 0.1 < (s.scuff_s - s.to_s) / (s.ic_s - s.to_s) < 0.6
        t = np.arange(s.to_s + 0.02, s.ic_s - 0.02, 1e-4)
        heel, toe = _sole(sim, s.foot, t)
        low = np.minimum(heel[:, 2], toe[:, 2])
        assert low.min() > -1e-6  # never through the floor
        at = np.abs(t - s.scuff_s).argmin()
        assert low[at] < 1e-6  # touches it
        _, clean_toe = _sole(clean, s.foot, t[at : at + 1])
        assert clean_toe[0, 2] > 0.01  # which it would not have without the scuff
        # A deceleration along the way the foot goes, centred on the touch.
        st, st0 = sim.state(s.foot, t[at : at + 1]), clean.state(s.foot, t[at : at + 1])
        fwd = st.vel_mps[0, :2] / np.linalg.norm(st.vel_mps[0, :2])
        assert (st.acc_mps2[0, :2] - st0.acc_mps2[0, :2]) @ fwd < -0.8 * G_MPS2


def test_brakes_are_sharp_decelerations_50_to_80_ms_before_landing() -> None:
    """The foot's deceleration peaks at ``brake_s`` (3-5 g) and is the sharpest change of its
    acceleration between toe-off and landing."""
    sim = _sim("walk-knocks")
    swings = [s for s in _swings("walk-knocks") if s.brake_s is not None]
    assert len(swings) > 150
    dt = 1e-4
    for s in [s for s in swings if s.knock_s is None and s.scuff_s is None][::3]:
        assert s.brake_s is not None
        assert 0.05 <= s.ic_s - s.brake_s <= 0.08
        t = np.arange(s.to_s + 0.03, s.ic_s - 0.005, dt)
        heel, _ = _sole(sim, s.foot, t)
        acc = (heel[2:] - 2 * heel[1:-1] + heel[:-2]) / dt**2
        land = next(c for c in sim.planner.tracks[s.foot].contacts if c.t_ic == s.ic_s)
        along = acc @ np.array([np.cos(land.yaw), np.sin(land.yaw), 0.0])
        late = t[1:-1] > s.brake_s - 0.03
        k = np.flatnonzero(late)[along[late].argmin()]
        assert abs(t[1 + k] - s.brake_s) < 0.002
        assert -5.2 * G_MPS2 < along[k] < -2.8 * G_MPS2
        jerk = np.linalg.norm(np.diff(acc, axis=0), axis=1) / dt
        assert abs(t[1 + jerk.argmax()] - s.brake_s) < 0.025


# ---------------------------------------------------------------------- U-turns
def test_u_turns_turn_180_deg_in_2_to_4_steps_with_pivots() -> None:
    prof = PROFILES["u-turns"]
    sim = _sim("u-turns")
    swings = _swings("u-turns")
    bounds = np.cumsum([0.0] + [seg.duration_s for seg in prof.segments])
    turns = [(bounds[i], seg.u_turn) for i, seg in enumerate(prof.segments) if seg.u_turn]
    assert len(turns) == 12
    for start, spec in turns:
        assert spec is not None
        steps = [s for s in swings if start - 0.1 < s.ic_s < start + 4.0]
        steps = [s for s in steps if s.kind in (SwingKind.TURN, SwingKind.PIVOT)]
        assert len(steps) == spec.steps
        assert any(s.kind is SwingKind.PIVOT for s in steps)
        # Each foot faces the other way afterwards (air turns plus turns on the ground).
        for foot in FEET:
            before = [c for c in sim.planner.tracks[foot].contacts if c.t_ic and c.t_ic < start]
            after = [c for c in sim.planner.tracks[foot].contacts if c.t_ic and c.t_ic > start + 4]
            landed = [c.yaw if c.yaw_land is None else c.yaw_land for c in (before[-1], after[0])]
            turned = np.degrees(landed[1] - landed[0])
            assert turned == pytest.approx(180.0 if spec.left else -180.0, abs=1e-9)


def test_pivot_steps_lift_turn_and_move_but_barely_pitch() -> None:
    sim = _sim("u-turns")
    pivots = [s for s in _swings("u-turns") if s.kind is SwingKind.PIVOT]
    assert len(pivots) >= 12
    for s in pivots:
        t = np.arange(s.ho_s, s.flat_s, 5e-4)
        pitch = np.degrees(sim.state(s.foot, t).pitch_rad)
        assert pitch.max() - pitch.min() < 15.0
        assert s.pitch_range_deg == pytest.approx(pitch.max() - pitch.min(), abs=0.1)
        assert 0.10 <= s.length_m <= 0.30
        assert s.clearance_m > 0.03
        assert abs(s.turn_deg) > 30.0


def test_stance_feet_turn_on_the_ground_without_a_swing() -> None:
    sim = _sim("u-turns")
    swivels = 0
    for foot in FEET:
        swings = sim.truth_swings(foot, until_s=sim.duration_s)
        for c in sim.planner.tracks[foot].contacts:
            if c.swivel is None:
                continue
            swivels += 1
            t0, t1, angle = c.swivel
            t = np.linspace(t0, t1, 200)
            st = sim.state(foot, t)
            heel, toe = _sole(sim, foot, t)
            assert np.abs(heel[:, 2]).max() < 1e-12 and np.abs(toe[:, 2]).max() < 1e-12
            assert np.abs(st.vel_mps[:, 2]).max() < 1e-12
            assert np.degrees(np.abs(st.omega_radps[:, 2]).max()) > 50.0
            assert abs(np.degrees(angle)) > 10.0
            assert not [s for s in swings if s.to_s < t1 and s.ic_s > t0]
            # The next swing's truth reports it.
            nxt = next(s for s in swings if s.ho_s > t1)
            assert nxt.swivel_deg == pytest.approx(np.degrees(angle))
            f, _ = sim.ideal_imu(foot, t)  # like standing, but turning
            assert np.abs(np.linalg.norm(f, axis=1) / G_MPS2 - 1).max() < 0.1
    assert swivels >= 24


# ---------------------------------------------------------------------- consistency
def _event_swings(name: str) -> list[TruthSwing]:
    """One swing of each kind and event in a profile."""
    chosen: dict[str, TruthSwing] = {}
    for s in _swings(name):
        for key, present in (
            ("pause", s.pause_s > 0),
            ("knock", s.knock_s is not None),
            ("scuff", s.scuff_s is not None),
            ("brake", s.brake_s is not None),
            ("swivel", s.swivel_deg != 0.0),
            (s.kind.value, True),
        ):
            if present and key not in chosen:
                chosen[key] = s
    return list(chosen.values())


@pytest.mark.parametrize("name", WALKING)
def test_signals_integrate_to_the_truth_through_every_kind_of_swing(name: str) -> None:
    """Gyro integration (416 Hz counts) gives the true orientation within 0.5 deg and double
    integration of the specific force (1 kHz) the true position within 1 cm, from the flat
    before a swing to the flat after it (its stance rotation on the ground included)."""
    sim = _sim(name)
    swings = _event_swings(name)
    assert len(swings) >= 3
    for s in swings:
        t0 = s.ho_s - 0.45 if s.swivel_deg else s.ho_s - 0.01
        assert orientation_error_deg(sim, s.foot, t0, s.flat_s + 0.01) < 0.5, s
        assert position_error_m(sim, s.foot, t0, s.flat_s + 0.01) < 0.01, s


@pytest.mark.parametrize("name", WALKING)
def test_walking_trajectories_are_smooth_and_above_the_floor(name: str) -> None:
    """No jumps of position, velocity, acceleration or angular rate at any segment boundary
    of the new motions (the largest sample-to-sample change shrinks tenfold on a tenfold finer
    grid); heel and toe never below the floor."""
    sim = _sim(name)
    for s in _event_swings(name):
        t0 = s.ho_s - 0.45 if s.swivel_deg else s.ho_s - 0.01
        steps = {}
        for dt in (1e-4, 1e-5):
            st = sim.state(s.foot, np.arange(t0, s.flat_s + 0.01, dt))
            steps[dt] = [
                np.abs(np.diff(x, axis=0)).max()
                for x in (st.pos_m, st.vel_mps, st.acc_mps2, st.omega_radps)
            ]
        for coarse, fine in zip(steps[1e-4], steps[1e-5], strict=True):
            assert fine < 0.2 * coarse, s
    for foot in FEET:
        heel, toe = _sole(sim, foot, np.arange(0.0, sim.duration_s, 1e-3))
        assert heel[:, 2].min() > -1e-6 and toe[:, 2].min() > -1e-6


def test_events_off_is_the_plain_swing() -> None:
    """``SwingEvents`` with nothing switched on changes nothing: same signals as without."""
    walk = Segment(Mode.WALK, 20.0, EVERYDAY_WALK)
    plain = Profile("p", "", (Segment(Mode.STAND, 3.0), walk))
    quiet = Profile(
        "q", "", (Segment(Mode.STAND, 3.0), dataclasses.replace(walk, events=SwingEvents()))
    )
    a = Simulation(plain, seed=4).pod(Foot.LEFT).read(208 * 20)
    b = Simulation(quiet, seed=4).pod(Foot.LEFT).read(208 * 20)
    assert np.array_equal(a.acc_counts, b.acc_counts)
    assert np.array_equal(a.gyr_counts, b.gyr_counts)


def test_events_that_do_not_fit_the_swing_are_not_made() -> None:
    """A quick runner's swing (0.36 s) is too short for a 110-120 ms pause (it would leave
    under 55 % of the swing): none is made, the knocks still are, and the truth says so."""
    from firmware_sim.profiles import EFFICIENT

    events = SwingEvents(pause_after_to_s=(0.11, 0.12), knock_share=0.5)
    quick = dataclasses.replace(EFFICIENT, cadence_spm=200.0, contact_time_s=0.24)
    run = Segment(Mode.RUN, 20.0, quick, events=events)
    sim = Simulation(Profile("r", "", (Segment(Mode.STAND, 3.0), run)), seed=1, noise=False)
    sim.run_until(20.0)
    swings = sim.truth_swings(until_s=20.0)
    for s in swings:  # where one is made (the longer first swings), it fits
        assert s.pause_s == 0.0 or 0.06 + s.pause_s <= 0.45 * (s.ic_s - s.to_s)
    steady = [s for s in swings if s.to_s > 10.0]
    assert steady and all(s.pause_s == 0.0 and s.pause_start_s is None for s in steady)
    assert 0.3 < np.mean([s.knock_s is not None for s in swings]) < 0.7


def test_same_seed_same_events_and_other_seeds_differ() -> None:
    a = Simulation("walk-knocks", seed=7)
    b = Simulation("walk-knocks", seed=7)
    c = Simulation("walk-knocks", seed=8)
    for sim in (a, b, c):
        sim.run_until(60.0)
    assert a.truth_swings(until_s=60.0) == b.truth_swings(until_s=60.0)
    knocks = [[s.knock_s for s in sim.truth_swings(until_s=60.0)] for sim in (a, c)]
    assert knocks[0] != knocks[1]


@pytest.mark.parametrize(
    ("segment", "needle"),
    [
        (
            Segment(Mode.WALK, 9.0, EVERYDAY_WALK, events=SwingEvents(knock_share=1.5)),
            r"events\.knock_share = 1\.5 is out of range; allowed 0\.\.1",
        ),
        (
            Segment(
                Mode.WALK, 9.0, EVERYDAY_WALK, events=SwingEvents(pause_after_to_s=(0.08, 0.04))
            ),
            r"events\.pause_after_to_s\[1\] = 0\.04 is out of range",
        ),
        (
            Segment(Mode.WALK, 9.0, EVERYDAY_WALK, u_turn=UTurn(steps=6)),
            r"u_turn\.steps = 6 is out of range; allowed 2\.\.4",
        ),
    ],
)
def test_bad_walking_parameters(segment: Segment, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        Simulation(Profile("x", "", (segment,)))
