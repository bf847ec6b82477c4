"""The running-gait model: a step planner and the piecewise-polynomial foot trajectory.

Each foot is a rigid body. Its motion is a sequence of segments; in every segment a reference
point ``X(t)`` of the foot (a polynomial of degree <= 6) and the Euler angles (quintics) are
given, and the heel's sole point is ``H = X - R_WF @ lever``. Segments of one stride:

* impact: the landing point (heel for a toes-up strike, front of the sole for a toes-down
  strike: the model's foot is rigid) arrives
  with velocity ``v_in`` and is stopped by a C2 smoothstep over ``tau`` (sharp for rearfoot);
* rotation to flat: the foot rotates about that resting point until the sole is flat;
* foot-flat: no motion at all (zero velocity);
* heel-off: rotation about the resting toe tip until toe-off;
* swing: quintic Hermite motion of the heel from the toe-off state to the next landing state,
  plus a C2 lift for clearance; pitch, yaw and roll are quintics too. Swings with walking
  events (a pause after toe-off, knocks, scuffs, a brake before landing) are chains of such
  pieces (``firmware_sim.swing``).

Walking adds U-turns (turn and pivot steps, stance feet that rotate on the ground) and stops
with a closing step. Truth comes per stride (:class:`TruthStride`, IC to IC) and per swing
(:class:`TruthSwing`, TO to IC, including the first swing from standing and the last one
before a stop).

Position, velocity and acceleration are continuous everywhere, orientation and angular rate too,
so the synthesised IMU signals are consistent with the true trajectory to numerical precision.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from firmware_sim.kinematics import (
    F64,
    bump,
    cross,
    orientation,
    polyval,
    quintic,
    smoothstep_travel,
    yaw_matrix,
)
from firmware_sim.params import Mode, Profile, Segment, SwingEvents, UTurn
from firmware_sim.swing import SwingDraw, SwingEnds, SwingMarks, assemble, build_swing
from gaitcoach.types import Activity, Foot, StrideRecord, classify_strike

# Foot geometry in the foot frame (origin at the heel's sole point).
HEEL_F = np.array([0.0, 0.0, 0.0])
TOE_F = np.array([0.26, 0.0, 0.0])
MID_F = np.array([0.13, 0.0, 0.0])
"""Middle of the foot: in a U-turn the feet are placed with it around the turning spot."""
BALL_F = np.array([0.18, 0.0, 0.0])
"""Ball of the foot: a stance foot turning on the ground rotates about it."""

MIN_FLAT_S = 0.03
"""Every stance has at least this much foot-flat (zero velocity)."""


@dataclass(frozen=True, slots=True)
class TruthStride:
    """Exact truth of one stride of one foot (initial contact to the next initial contact).

    Times are true simulation time (s). ``stride_length_m`` is the horizontal displacement of
    the pod between the two foot-flat phases; ``landing_distance_m`` the horizontal distance of
    the first contact point ahead of the centre of mass at IC; ``clearance_m`` the pod's maximum
    height in swing above its foot-flat height; ``cadence_spm`` = 120 / stride time.
    """

    foot: Foot
    index: int
    ic_s: float
    to_s: float
    end_ic_s: float
    contact_time_s: float
    swing_time_s: float
    stride_time_s: float
    flight_time_s: float
    step_time_s: float | None
    stride_length_m: float
    speed_mps: float
    foot_strike_angle_deg: float
    landing_distance_m: float
    cadence_spm: float
    clearance_m: float
    activity: Activity

    @property
    def strike_pattern(self) -> str:
        return classify_strike(self.foot_strike_angle_deg).value

    def to_record(self) -> StrideRecord:
        """The truth as the gait engine's output record (for coach and summary tests)."""
        return StrideRecord(
            foot=self.foot,
            index=self.index,
            ic_s=self.ic_s,
            to_s=self.to_s,
            end_ic_s=self.end_ic_s,
            contact_time_s=self.contact_time_s,
            swing_time_s=self.swing_time_s,
            stride_time_s=self.stride_time_s,
            cadence_spm=self.cadence_spm,
            activity=self.activity,
            flight_time_s=self.flight_time_s,
            step_time_s=self.step_time_s,
            stride_length_m=self.stride_length_m,
            speed_mps=self.speed_mps,
            clearance_m=self.clearance_m,
            foot_strike_angle_deg=self.foot_strike_angle_deg,
            strike_pattern=classify_strike(self.foot_strike_angle_deg),
            overstride_m=self.landing_distance_m,
        )


class SwingKind(StrEnum):
    """What a swing is part of. A swing that is several of these gets the first that applies:
    initiation, termination, pivot, turn, normal."""

    NORMAL = "normal"
    INITIATION = "initiation"
    """The foot's first swing of a walk or run: its stance began standing (one per foot)."""
    TERMINATION = "termination"
    """The foot's last swing before standing (one per foot; the closing step is one)."""
    TURN = "turn"
    """A step of a U-turn that turns with ordinary foot rotation."""
    PIVOT = "pivot"
    """A U-turn step whose foot lifts, turns and moves 10-30 cm while barely pitching."""


@dataclass(frozen=True, slots=True)
class TruthSwing:
    """Exact truth of one swing of one foot (toe-off to initial contact), for every swing
    including the first from standing and the last before a stop.

    Times are true simulation time (s): ``ho_s`` heel-off (the toe-rocker starts), ``to_s``
    toe-off, ``ic_s`` initial contact, ``flat_s`` the start of the foot-flat that follows.
    ``length_m`` is the horizontal displacement of the pod from the foot-flat before the swing
    (after any rotation on the ground) to the one after it; ``turn_deg`` the foot's heading
    change in the air (positive = left) and ``swivel_deg`` its rotation on the ground (about
    the ball of the foot, no swing and no event) in the stance before ``ho_s``.
    ``pitch_range_deg`` is the foot's largest minus smallest pitch from heel-off to foot-flat;
    ``clearance_m`` the pod's maximum height in the swing above its foot-flat height.
    Events inside the swing: ``pause_start_s`` and ``pause_s`` (the rotation nearly stops
    after toe-off; ``pause_s`` = 0 without a pause), ``knock_s`` (peak of a knock),
    ``scuff_s`` (the instant the sole touches the floor), ``brake_s`` (peak of a sharp
    deceleration before landing); ``None`` = not in this swing.
    """

    foot: Foot
    index: int
    ho_s: float
    to_s: float
    ic_s: float
    flat_s: float
    kind: SwingKind
    activity: Activity
    length_m: float
    turn_deg: float
    swivel_deg: float
    strike_angle_deg: float
    pitch_range_deg: float
    clearance_m: float
    pause_start_s: float | None
    pause_s: float
    knock_s: float | None
    scuff_s: float | None
    brake_s: float | None

    @property
    def swing_time_s(self) -> float:
        return self.ic_s - self.to_s


@dataclass(frozen=True, slots=True)
class _SwingStart:
    """What planning a swing knows before its landing is made."""

    ho_s: float
    to_s: float
    kind: SwingKind
    marks: SwingMarks
    swivel_rad: float


# U-turn steps (see params.UTurn): short steps on the spot.
TURN_LANDING_M = 0.05
"""How far ahead of the turning spot the middle of the foot lands in a turn step."""
TURN_ADVANCE_M = 0.0
"""Centre-of-mass advance per turn step: the walker turns on the spot."""
TURN_ANGLE_SHARE = 0.7
"""Toe-off and strike angles of a turn step, as a share of the walking ones."""
PIVOT_TOE_OFF_DEG = -5.0
PIVOT_STRIKE_DEG = 3.0
PIVOT_HEEL_OFF_S = 0.12
PIVOT_LIFT_M = 0.035
SWIVEL_MAX_S = 0.4
SWIVEL_MIN_S = 0.12


@dataclass
class Contact:
    """One ground contact of one foot (``t_ic`` is None for a contact that began standing)."""

    t_ic: float | None
    t_flat: float
    yaw: float
    heel_rest: F64
    landing_distance_m: float = 0.0
    strike_deg: float = 0.0
    contact_s: float = 0.0
    heel_off_s: float = 0.0
    toe_off_deg: float = -38.0
    activity: Activity = Activity.STANDING
    t_ho: float | None = None
    t_to: float | None = None
    step_time_s: float | None = None
    stopped: bool = False
    """The runner stopped on this contact: the next step starts from standing."""
    heel_land: F64 | None = None
    """Heel rest position and yaw as landed, when a rotation on the ground moved them since."""
    yaw_land: float | None = None
    swing_kind: SwingKind = SwingKind.NORMAL
    """Kind of the swing that ended in this contact, and its toe-off."""
    swing_to_s: float | None = None
    swivel_share: float = 0.0
    """While this contact's swing was in the air the other foot turned on the ground by this
    share of its heading change (U-turns)."""
    swivel: tuple[float, float, float] | None = None
    """(start s, end s, angle rad) of this contact's rotation on the ground."""


class FootTrack:
    """Segments of one foot, in time order; each lasts until the next one starts.

    Stored in growable arrays so that evaluation stays cheap however long the run.
    """

    def __init__(self) -> None:
        self.n = 0
        self._t0 = np.zeros(64)
        self._tref = np.zeros(64)
        self._pos = np.zeros((64, 3, 7))
        self._lever = np.zeros((64, 3))
        self._ang = np.zeros((64, 3, 7))
        self.contacts: list[Contact] = []

    def add(self, t0: float, pos: F64, lever: F64, ang: F64, tref: float | None = None) -> None:
        if self.n and t0 < self._t0[self.n - 1] - 1e-12:
            raise AssertionError("segments out of order")
        if self.n == len(self._t0):
            for name in ("_t0", "_tref", "_pos", "_lever", "_ang"):
                a = getattr(self, name)
                setattr(self, name, np.concatenate([a, np.zeros_like(a)]))
        i = self.n
        self._t0[i] = t0
        self._tref[i] = t0 if tref is None else tref
        self._pos[i] = pos
        self._lever[i] = lever
        self._ang[i] = ang
        self.n += 1

    def arrays(self) -> tuple[F64, F64, F64, F64, F64]:
        n = self.n
        return self._t0[:n], self._tref[:n], self._pos[:n], self._lever[:n], self._ang[:n]


def _opt_float(v: float | None) -> float | None:
    return None if v is None else float(v)


def _const_poly(v: F64, k: int) -> F64:
    c = np.zeros((len(v), k))
    c[:, 0] = v
    return c


@dataclass(frozen=True, slots=True)
class FootState:
    """Kinematics of the pod (sensor point) and the foot at given times (world frame)."""

    t_s: F64
    pos_m: F64
    vel_mps: F64
    acc_mps2: F64
    r_wf: F64
    omega_radps: F64
    alpha_radps2: F64
    pitch_rad: F64


def evaluate(track: FootTrack, t: F64, sensor_f: F64) -> FootState:
    """Pod kinematics at times ``t`` (any order) for a foot track."""
    t0 = track.arrays()[0]
    idx = np.clip(np.searchsorted(t0, t, side="right") - 1, 0, len(t0) - 1)
    return evaluate_segments(track, t, idx, sensor_f)


def evaluate_segments(
    track: FootTrack, t: F64, idx: npt.NDArray[np.intp], sensor_f: F64
) -> FootState:
    """Pod kinematics at times ``t`` using the given segment of each time."""
    _, tref, pos, lever, ang = track.arrays()
    u = t - tref[idx]
    a = ang[idx]
    yaw, pitch, roll = (polyval(a[:, i], u) for i in range(3))
    dyaw, dpitch, droll = (polyval(a[:, i], u, 1) for i in range(3))
    ddyaw, ddpitch, ddroll = (polyval(a[:, i], u, 2) for i in range(3))
    r, omega, alpha = orientation(yaw, pitch, roll, dyaw, dpitch, droll, ddyaw, ddpitch, ddroll)
    pc = pos[idx]
    x, xd, xdd = polyval(pc, u), polyval(pc, u, 1), polyval(pc, u, 2)
    d = np.einsum("nij,nj->ni", r, sensor_f[None, :] - lever[idx])
    p = x + d
    v = xd + cross(omega, d)
    acc = xdd + cross(alpha, d) + cross(omega, cross(omega, d))
    return FootState(t, p, v, acc, r, omega, alpha, pitch)


class GaitPlanner:
    """Plans steps of both feet lazily and builds their trajectories and truth.

    Parameters
    ----------
    profile
        The technique profile (validated here).
    seed
        Seed of the stride-to-stride variability.
    sensor_f
        Pod position in the foot frame (for truth stride length and clearance), the same for
        both feet or one per foot.
    variability
        Whether to apply the profile's stride-to-stride variability.
    """

    def __init__(
        self,
        profile: Profile,
        seed: int = 0,
        sensor_f: F64 | Mapping[Foot, F64] | None = None,
        variability: bool = True,
    ) -> None:
        profile.validate()
        self.profile = profile
        if isinstance(sensor_f, Mapping):
            self._sensor_f = {f: np.asarray(sensor_f[f], float) for f in (Foot.LEFT, Foot.RIGHT)}
        else:
            one = np.asarray(sensor_f if sensor_f is not None else (0.15, 0.0, 0.075), float)
            self._sensor_f = {Foot.LEFT: one, Foot.RIGHT: one}
        self.sensor_f = self._sensor_f[Foot.LEFT]
        self.variability = variability
        self._rng = np.random.default_rng([seed, 7919])
        # Swing events draw from their own stream: switching them on or off leaves the steps.
        self._event_rng = np.random.default_rng([seed, 7919, 2])
        self.tracks: dict[Foot, FootTrack] = {Foot.LEFT: FootTrack(), Foot.RIGHT: FootTrack()}
        self.truth: list[TruthStride] = []
        self._stride_index = {Foot.LEFT: 0, Foot.RIGHT: 0}
        # Swing truth; clearance and pitch range are evaluated later, for many swings at once.
        self._swings: list[TruthSwing] = []
        self._unevaluated: list[int] = []
        self._swing_count = {Foot.LEFT: 0, Foot.RIGHT: 0}
        self._last_swing: dict[Foot, int] = {}
        self._bounds = np.cumsum([0.0] + [s.duration_s for s in profile.segments])
        self._bounds_list: list[float] = self._bounds.tolist()
        self._has_turns = any(s.u_turn is not None for s in profile.segments)
        # Runner state at the next step.
        self._t = 0.0
        self._foot = Foot.LEFT
        self._com = np.zeros(2)
        self._heading = 0.0
        self._last_ic: dict[Foot, float | None] = {Foot.LEFT: None, Foot.RIGHT: None}
        self._moving = False
        self._run_start = 0.0
        self._last_step_t = 0.0
        self._turn_segment = -1
        self._turn_step = 0
        self._turn_heading0 = 0.0
        self.adjustments: dict[str, float] = {}
        """Additive parameter offsets applied to steps planned from now on (closed loop)."""
        self.horizon_s = 0.0
        self._pending: list[tuple[int, Foot, int, float, float, float]] = []
        for foot in (Foot.LEFT, Foot.RIGHT):
            side = 1.0 if foot is Foot.LEFT else -1.0
            heel = np.array([-0.1, side * 0.06, 0.0])
            self._start_contact(foot, Contact(None, -1e9, 0.0, heel))

    def sensor_of(self, foot: Foot) -> F64:
        """Pod position in the foot frame of ``foot``."""
        return self._sensor_f[foot]

    # ------------------------------------------------------------------ parameters
    def _segment_at(self, t: float) -> int:
        # bisect on a list: the same index as np.searchsorted(side="right"), several times faster
        i = bisect.bisect_right(self._bounds_list, t) - 1
        return min(max(i, 0), len(self.profile.segments))

    def mode_at(self, t: float) -> Mode:
        i = self._segment_at(t)
        return self.profile.segments[i].mode if i < len(self.profile.segments) else Mode.STAND

    def _params_at(self, t: float) -> dict[str, float]:
        """Base parameters at ``t``: drift applied, blended over the transition at boundaries."""
        segs = self.profile.segments
        i = self._segment_at(t)

        def of(j: int, tt: float) -> dict[str, float] | None:
            if j < 0 or j >= len(segs) or segs[j].mode is Mode.STAND:
                return None
            seg = segs[j]
            vals = {k: float(getattr(seg.params, k)) for k in seg.params.__dataclass_fields__}
            if seg.drift is not None:
                frac = min(max((tt - self._bounds[j]) / seg.drift.over_s, 0.0), 1.0)
                for k, dv in seg.drift.deltas.items():
                    vals[k] += frac * dv
            return vals

        cur = of(i, t)
        assert cur is not None
        tr = self.profile.transition_s
        since = t - self._bounds[i]
        if tr > 0 and since < tr:
            prev = of(i - 1, t)
            w = 0.5 + 0.5 * since / tr  # halfway at the boundary, fully current after tr
            if prev is not None:
                cur = {k: w * cur[k] + (1 - w) * prev[k] for k in cur}
        # Accelerating from a standstill: slower, shorter steps for the first seconds.
        ramp = min(max((t - self._run_start) / max(tr, 1e-9), 0.0), 1.0) if tr > 0 else 1.0
        if ramp < 1.0:
            cur["speed_mps"] *= 0.55 + 0.45 * ramp
            cur["cadence_spm"] *= 0.9 + 0.1 * ramp
            cur["landing_distance_m"] *= 0.7 + 0.3 * ramp
        for k, dv in self.adjustments.items():
            cur[k] += dv
        if self.adjustments:  # a runner's response cannot leave the physical ranges
            cur["landing_distance_m"] = max(cur["landing_distance_m"], 0.03)
            cur["strike_angle_deg"] = min(max(cur["strike_angle_deg"], -20.0), 35.0)
            cur["cadence_spm"] = min(max(cur["cadence_spm"], 60.0), 240.0)
        return cur

    def flush_truth(self) -> list[TruthStride]:
        """All truth so far, with the swing clearance of new strides computed (vectorised)."""
        if self._pending:
            k = 60
            for foot in (Foot.LEFT, Foot.RIGHT):
                mine = [p for p in self._pending if p[1] is foot]
                if not mine:
                    continue
                frac = np.linspace(0.0, 1.0, k)
                t = np.concatenate([a + (b - a) * frac for _, _, _, a, b, _ in mine])
                seg = np.repeat([p[2] for p in mine], k)
                track = self.tracks[foot]
                if (seg < 0).any():  # a swing of several segments: find each time's segment
                    found = np.searchsorted(track.arrays()[0], t, side="right") - 1
                    seg = np.where(seg < 0, found, seg)
                z = evaluate_segments(track, t, seg, self.sensor_of(foot)).pos_m[:, 2]
                zmax = z.reshape(len(mine), k).max(axis=1)
                for (i, *_, z0), top in zip(mine, zmax, strict=True):
                    self.truth[i] = dataclasses.replace(self.truth[i], clearance_m=float(top - z0))
            self._pending.clear()
        return self.truth

    def flush_swings(self) -> list[TruthSwing]:
        """Truth of every swing planned so far, in planning order (clearance and pitch range
        are evaluated here, for all new swings at once)."""
        k = 60
        frac = np.linspace(0.0, 1.0, k)
        for foot in (Foot.LEFT, Foot.RIGHT):
            mine = [i for i in self._unevaluated if self._swings[i].foot is foot]
            if not mine:
                continue
            sw = [self._swings[i] for i in mine]
            swing_t = np.concatenate([s.to_s + (s.ic_s - s.to_s) * frac for s in sw])
            rock_t = np.concatenate([s.ho_s + (s.flat_s - s.ho_s) * frac for s in sw])
            sensor = self.sensor_of(foot)
            st = evaluate(self.tracks[foot], np.concatenate([swing_t, rock_t]), sensor)
            n = len(swing_t)
            # Clearance above the pod's foot-flat height (the foot flat: sensor height).
            top = st.pos_m[:n, 2].reshape(len(mine), k).max(axis=1) - sensor[2]
            pitch = np.degrees(st.pitch_rad[n:]).reshape(len(mine), k)
            prange = pitch.max(axis=1) - pitch.min(axis=1)
            for i, s, c, pr in zip(mine, sw, top, prange, strict=True):
                self._swings[i] = dataclasses.replace(
                    s, clearance_m=float(c), pitch_range_deg=float(pr)
                )
        self._unevaluated.clear()
        return self._swings

    # ------------------------------------------------------------------ planning
    def plan_until(self, t_end: float) -> None:
        """Plan steps so that both feet's trajectories are final up to ``t_end``."""
        while self.horizon_s < t_end:
            self._plan_step()

    def _plan_step(self) -> None:
        t = self._t
        i = self._segment_at(t)
        segs = self.profile.segments
        if i >= len(segs) or segs[i].mode is Mode.STAND:
            if self._moving:
                last = segs[min(self._segment_at(self._last_step_t), len(segs) - 1)]
                if last.closing_step:
                    self._step(t, last, -1, closing=True)
                self._stop()
            nxt = self._bounds[i + 1] if i + 1 < len(self._bounds) else math.inf
            if math.isinf(nxt):
                self._t = t + 3600.0
            else:
                self._t = float(nxt)
            self._update_horizon()
            return
        if not self._moving:
            self._moving = True
            self._run_start = t
        self._step(t, segs[i], i)

    def _stop(self) -> None:
        """Both feet are down; the body comes to rest between them. Their last swings were
        the termination of this walk or run."""
        self._moving = False
        for tr in self.tracks.values():
            tr.contacts[-1].stopped = True
        heels = [tr.contacts[-1].heel_rest[:2] for tr in self.tracks.values()]
        self._com = np.mean(heels, axis=0) + yaw_matrix(self._heading)[:2, 0] * 0.1
        for i in self._last_swing.values():
            if self._swings[i].kind is not SwingKind.INITIATION:
                self._swings[i] = dataclasses.replace(self._swings[i], kind=SwingKind.TERMINATION)

    def _step(self, t: float, seg: Segment, seg_index: int, closing: bool = False) -> None:
        """Plan the next step, landing at ``t``: an ordinary one, a U-turn step, or (with
        ``closing``) the step that brings the trailing foot beside the other one to stop."""
        p = self._params_at(self._last_step_t if closing else t)
        foot = self._foot
        other = Foot.RIGHT if foot is Foot.LEFT else Foot.LEFT
        right = foot is Foot.RIGHT
        asym = self.profile.asymmetry
        if right:
            for name in ("contact_time_s", "strike_angle_deg", "landing_distance_m", "clearance_m"):
                p[name] += getattr(asym, name)
        var = self.profile.variability
        rng = self._rng
        z = rng.standard_normal(5)  # always drawn: the same seed gives the same plan
        if self.variability:
            p["cadence_spm"] *= 1 + var.cadence_cv * z[0]
            p["speed_mps"] *= 1 + var.speed_cv * z[1]
            p["contact_time_s"] *= 1 + var.contact_cv * z[2]
            p["strike_angle_deg"] += var.strike_sd_deg * z[3]
            p["landing_distance_m"] += var.landing_sd_m * z[4]
        step_s = 60.0 / p["cadence_spm"]
        ratio = asym.step_time_ratio
        # The step that follows lands on the other foot.
        step_s *= 1.0 / math.sqrt(ratio) if right else math.sqrt(ratio)
        activity = Activity.RUNNING if seg.mode is Mode.RUN else Activity.WALKING
        walking = activity is Activity.WALKING
        heading = self._heading
        kind = SwingKind.TERMINATION if closing else SwingKind.NORMAL
        turn = None if closing else seg.u_turn
        if turn is not None:
            heading, step_s, kind = self._turn_step_params(turn, seg_index, p, step_s)

        # Where the foot lands: ahead of the centre of mass, off the centre line.
        rz = yaw_matrix(heading)
        side = -1.0 if right else 1.0
        strike = p["strike_angle_deg"]
        pivot = HEEL_F if strike >= 0 else TOE_F
        yaw = heading + side * math.radians(p["toe_out_deg"])
        if closing or kind in (SwingKind.TURN, SwingKind.PIVOT):
            if closing:  # beside the other foot, one step width to the side
                beside = self.tracks[other].contacts[-1].heel_rest
                heel_rest = beside + rz @ np.array([0.0, side * p["step_width_m"], 0.0])
            else:  # turning on the spot: the middle of the foot lands around it
                mid = np.array([self._com[0], self._com[1], 0.0]) + rz @ np.array(
                    [TURN_LANDING_M, side * p["step_width_m"] / 2, 0.0]
                )
                heel_rest = mid - yaw_matrix(yaw) @ MID_F
            land = heel_rest + yaw_matrix(yaw) @ pivot
            p["landing_distance_m"] = float(rz[:2, 0] @ (land[:2] - self._com))
        else:
            land = np.array([self._com[0], self._com[1], 0.0]) + rz @ np.array(
                [p["landing_distance_m"], side * p["step_width_m"] / 2, 0.0]
            )
            heel_rest = land - yaw_matrix(yaw) @ pivot
        heel_rest[2] = 0.0

        contact = Contact(
            t_ic=t,
            t_flat=0.0,
            yaw=yaw,
            heel_rest=heel_rest,
            landing_distance_m=p["landing_distance_m"],
            strike_deg=strike,
            contact_s=p["contact_time_s"],
            heel_off_s=0.40 * p["contact_time_s"],
            toe_off_deg=p["toe_off_angle_deg"],
            activity=activity,
            step_time_s=None if self._last_ic[other] is None else t - float(self._last_ic[other]),  # type: ignore[arg-type]
        )
        start = self._finish_previous(foot, contact, p, walking, kind, seg.events)
        self._start_landing(foot, contact, p, walking)
        contact.swing_kind, contact.swing_to_s = start.kind, start.to_s
        if turn is not None and kind in (SwingKind.TURN, SwingKind.PIVOT):
            contact.swivel_share = turn.swivel_share
        self._add_swing_truth(foot, start, contact)
        self._last_ic[foot] = t
        self._last_step_t = t
        # Advance the body to the next step; into a U-turn only up to this landing: the turn
        # steps land around that spot.
        if self._has_turns and kind is SwingKind.NORMAL and self._turn_ahead(t + step_s, seg_index):
            self._com = self._com + rz[:2, 0] * p["landing_distance_m"]
        else:
            self._com = self._com + rz[:2, 0] * p["speed_mps"] * step_s
        self._heading = heading + math.radians(p["turn_rate_dps"]) * step_s
        self._t = t + step_s
        self._foot = other
        self._update_horizon()

    def _turn_ahead(self, t_next: float, seg_index: int) -> bool:
        """Whether the next step is the first of a U-turn."""
        i = self._segment_at(t_next)
        segs = self.profile.segments
        return i != seg_index and i < len(segs) and segs[i].u_turn is not None

    def _turn_step_params(
        self, turn: UTurn, seg_index: int, p: dict[str, float], step_s: float
    ) -> tuple[float, float, SwingKind]:
        """Heading, step time and kind of a step of a segment that starts with a U-turn (the
        parameters are changed in place); after the turn, the walking heading and step time.

        Turn step ``k`` of ``n`` lands facing ``(k + 1) / n`` of the way round, a short step on
        the spot; the first step and the last of three or more turn with ordinary foot motion,
        the others are pivot steps."""
        if self._turn_segment != seg_index:
            self._turn_segment, self._turn_step, self._turn_heading0 = (
                seg_index,
                0,
                self._heading,
            )
        k = self._turn_step
        if k >= turn.steps:
            return self._heading, step_s, SwingKind.NORMAL
        self._turn_step += 1
        last_turns = k == turn.steps - 1 and turn.steps > 2
        kind = SwingKind.TURN if k == 0 or last_turns else SwingKind.PIVOT
        sign = 1.0 if turn.left else -1.0
        heading = self._turn_heading0 + sign * math.pi * (k + 1) / turn.steps
        step_s *= turn.step_time_factor
        p["contact_time_s"] *= turn.step_time_factor
        p["landing_distance_m"] = TURN_LANDING_M
        p["speed_mps"] = TURN_ADVANCE_M / step_s
        p["turn_rate_dps"] = 0.0
        if kind is SwingKind.PIVOT:
            p["strike_angle_deg"] = PIVOT_STRIKE_DEG
        else:
            p["strike_angle_deg"] *= TURN_ANGLE_SHARE
        return heading, step_s, kind

    def _draw(self, ev: SwingEvents, foot: Foot, yaw: float) -> SwingDraw:
        """The random events of one swing; always 16 draws (see SwingEvents)."""
        u = self._event_rng.random(16)

        def within(r: tuple[float, float], x: float) -> float:
            return r[0] + (r[1] - r[0]) * float(x)

        # A knock comes mostly from the side of the other foot, partly from ahead and below.
        medial = -1.0 if foot is Foot.LEFT else 1.0
        d = yaw_matrix(yaw) @ np.array([u[5] - 0.5, medial, 0.6 * (u[6] - 0.5)])
        d /= np.linalg.norm(d)
        return SwingDraw(
            pause_s=within(ev.pause_after_to_s, u[0]) if ev.pause_after_to_s[1] > 0 else 0.0,
            knock=bool(u[1] < ev.knock_share),
            knock_g=within(ev.knock_g, u[2]),
            knock_frac=float(u[3]),
            knock_width_s=0.010 + 0.010 * float(u[4]),
            knock_dir=(float(d[0]), float(d[1]), float(d[2])),
            ring_dps=40.0 + 60.0 * float(u[7]),
            ring_half_s=1.0 / (2.0 * (30.0 + 15.0 * float(u[8]))),
            ring_phase=2.0 * math.pi * float(u[9]),
            scuff=bool(u[10] < ev.scuff_share),
            scuff_g=within(ev.scuff_g, u[11]),
            scuff_frac=float(u[12]),
            brake=bool(u[13] < ev.brake_share),
            brake_g=within(ev.brake_g, u[14]),
            brake_before_ic_s=within(ev.brake_before_ic_s, u[15]),
        )

    def _update_horizon(self) -> None:
        """Segments before each foot's last foot-flat start are final (a standing foot may
        lift up to one slow stride before the next planned step)."""
        self.horizon_s = min(
            c.t_flat if (c.t_ic is not None and not c.stopped) else self._t - 2.5
            for c in (tr.contacts[-1] for tr in self.tracks.values())
        )

    def _start_contact(self, foot: Foot, c: Contact) -> None:
        tr = self.tracks[foot]
        tr.contacts.append(c)
        ang = np.zeros((3, 7))
        ang[0, 0] = c.yaw
        tr.add(c.t_flat, _const_poly(c.heel_rest, 7), HEEL_F.copy(), ang)

    def _finish_previous(
        self,
        foot: Foot,
        new: Contact,
        p: dict[str, float],
        walking: bool,
        kind: SwingKind = SwingKind.NORMAL,
        events: SwingEvents | None = None,
    ) -> _SwingStart:
        """Heel-off and toe-off of the foot's current contact (after a rotation on the ground
        in a U-turn), then the swing to ``new``; returns what the swing truth needs."""
        tr = self.tracks[foot]
        prev = tr.contacts[-1]
        t_ic = float(new.t_ic)  # type: ignore[arg-type]
        stride_guess = 2 * 60.0 / p["cadence_spm"]
        min_swing = 0.28 * stride_guess
        prev_ic = prev.t_ic
        from_standing = prev_ic is None or prev.stopped
        if prev_ic is None or prev.stopped:
            # Starting from standing: leave the ground one swing before landing.
            t_to = t_ic - (stride_guess - p["contact_time_s"])
            heel_off = 0.40 * p["contact_time_s"]
            kind = SwingKind.INITIATION
        else:
            t_to = prev_ic + prev.contact_s
            heel_off = prev.heel_off_s
            if t_ic - t_to < min_swing:  # a sudden change of pace: shorten that stance
                t_to = t_ic - min_swing
                heel_off = min(heel_off, 0.4 * (t_to - prev_ic))
        toe_off_deg = prev.toe_off_deg
        if kind is SwingKind.PIVOT:  # a short, shallow toe rocker: the foot barely pitches
            heel_off = min(heel_off, PIVOT_HEEL_OFF_S)
            toe_off_deg = PIVOT_TOE_OFF_DEG
        elif kind is SwingKind.TURN:
            toe_off_deg *= TURN_ANGLE_SHARE
        t_ho = t_to - heel_off
        if t_ho < prev.t_flat + MIN_FLAT_S:
            raise ValueError(
                f"contact_time_s = {p['contact_time_s']:.3f} is too short for this strike angle "
                f"and cadence: foot-flat would be shorter than {MIN_FLAT_S * 1000:.0f} ms"
            )
        prev.t_ho, prev.t_to = t_ho, t_to
        swivel_rad = 0.0 if from_standing else self._swivel(foot, prev, new, t_ho)
        to_rad = math.radians(toe_off_deg)
        # Still plantarflexing at toe-off; real feet peak at several hundred deg/s.
        dp_to = max(1.3 * to_rad / heel_off, -7.0)
        if kind is SwingKind.PIVOT:
            dp_to = 0.6 * to_rad / heel_off
        # Heel-off: rotation about the resting toe tip.
        toe_rest = prev.heel_rest + yaw_matrix(prev.yaw) @ TOE_F
        ang = np.zeros((3, 7))
        ang[0, 0] = prev.yaw
        ang[1, :6] = quintic(0.0, 0.0, 0.0, to_rad, dp_to, 0.0, heel_off)
        tr.add(t_ho, _const_poly(toe_rest, 7), TOE_F.copy(), ang)

        # Swing: from the toe-off state to the landing state of the new contact.
        d = t_ic - t_to
        strike = math.radians(new.strike_deg)
        dp_ic = -3.0 * strike
        # A little inversion during swing (mirrored for the right foot).
        roll = math.radians(4.0) * (1.0 if foot is Foot.LEFT else -1.0)

        # Heel state at toe-off (rotation about the toe) and at landing (impact start).
        h0, v0, a0 = self._heel_state(toe_rest, np.zeros(3), TOE_F, prev.yaw, to_rad, dp_to)
        land_pivot = HEEL_F if new.strike_deg >= 0 else TOE_F
        v_in, tau = self._impact(new, p, walking)
        pivot_rest = new.heel_rest + yaw_matrix(new.yaw) @ land_pivot
        pivot_ic = pivot_rest - 0.5 * v_in * tau
        h1, v1, a1 = self._heel_state(pivot_ic, v_in, land_pivot, new.yaw, strike, dp_ic)
        lift = p["clearance_m"] * (0.45 if walking else 1.0)
        if kind is SwingKind.PIVOT:
            lift = PIVOT_LIFT_M
        draw = None if events is None else self._draw(events, foot, new.yaw)
        marks = SwingMarks()
        if draw is None or not draw.any:
            swing_ang = np.zeros((3, 7))
            swing_ang[0, :6] = quintic(prev.yaw, 0.0, 0.0, new.yaw, 0.0, 0.0, d)
            swing_ang[1, :6] = quintic(to_rad, dp_to, 0.0, strike, dp_ic, 0.0, d)
            swing_ang[2] = bump(roll, d)
            pos = np.zeros((3, 7))
            pos[:, :6] = quintic(h0, v0, a0, h1, v1, a1, d)
            pos[2] += bump(lift, d)
            tr.add(t_to, pos, HEEL_F.copy(), swing_ang)
            swing_seg = tr.n - 1
        else:
            ends = SwingEnds(
                t_to,
                t_ic,
                (h0, v0, a0),
                (h1, v1, a1),
                (to_rad, dp_to),
                (strike, dp_ic),
                prev.yaw,
                new.yaw,
                roll,
                lift,
            )
            pieces, marks = build_swing(ends, draw, TOE_F, self.sensor_of(foot))
            for t0, pos, ang in assemble(pieces):
                tr.add(t0, pos, HEEL_F.copy(), ang)
            swing_seg = -1  # several segments: found by time when needed

        if not from_standing:
            self._emit_truth(foot, prev, new, t_to, t_ic, swing_seg)
        return _SwingStart(t_ho, t_to, kind, marks, swivel_rad)

    def _add_swing_truth(self, foot: Foot, start: _SwingStart, new: Contact) -> None:
        """The truth of the swing that just ended in ``new`` (clearance and pitch range to
        come, see flush_swings)."""
        prev = self.tracks[foot].contacts[-2]  # after its rotation on the ground, if any
        sx, sy = float(self.sensor_of(foot)[0]), float(self.sensor_of(foot)[1])

        def pod_xy(c: Contact) -> tuple[float, float]:  # the pod of a flat foot (cheap)
            cos, sin = math.cos(c.yaw), math.sin(c.yaw)
            return c.heel_rest[0] + cos * sx - sin * sy, c.heel_rest[1] + sin * sx + cos * sy

        (x0, y0), (x1, y1) = pod_xy(prev), pod_xy(new)
        m = start.marks
        index = self._swing_count[foot]
        self._swing_count[foot] = index + 1
        self._last_swing[foot] = len(self._swings)
        self._unevaluated.append(len(self._swings))
        self._swings.append(
            TruthSwing(
                foot=foot,
                index=index,
                ho_s=float(start.ho_s),
                to_s=float(start.to_s),
                ic_s=float(new.t_ic),  # type: ignore[arg-type]
                flat_s=float(new.t_flat),
                kind=start.kind,
                activity=new.activity,
                length_m=math.hypot(x1 - x0, y1 - y0),
                turn_deg=math.degrees(new.yaw - prev.yaw),
                swivel_deg=math.degrees(start.swivel_rad),
                strike_angle_deg=float(new.strike_deg),
                pitch_range_deg=math.nan,
                clearance_m=math.nan,
                pause_start_s=_opt_float(m.pause_start_s),
                pause_s=float(m.pause_s),
                knock_s=_opt_float(m.knock_s),
                scuff_s=_opt_float(m.scuff_s),
                brake_s=_opt_float(m.brake_s),
            )
        )

    def _swivel(self, foot: Foot, prev: Contact, new: Contact, t_ho: float) -> float:
        """Rotate the stance foot on the ground about its ball while the other foot makes a
        turn or pivot step (before this foot's heel-off); returns the angle (rad)."""
        other = self.tracks[Foot.RIGHT if foot is Foot.LEFT else Foot.LEFT].contacts[-1]
        if other.swivel_share <= 0.0 or other.swing_to_s is None:
            return 0.0
        start = max(prev.t_flat, other.swing_to_s) + 0.02
        end = t_ho - 0.03
        if end - start < SWIVEL_MIN_S:
            return 0.0
        dur = min(SWIVEL_MAX_S, end - start)
        t0 = start + 0.5 * (end - start - dur)
        angle = other.swivel_share * (new.yaw - prev.yaw)
        ball = prev.heel_rest + yaw_matrix(prev.yaw) @ BALL_F
        ang = np.zeros((3, 7))
        ang[0, :6] = quintic(prev.yaw, 0.0, 0.0, prev.yaw + angle, 0.0, 0.0, dur)
        tr = self.tracks[foot]
        tr.add(t0, _const_poly(ball, 7), BALL_F.copy(), ang)
        yaw1 = prev.yaw + angle
        heel1 = ball - yaw_matrix(yaw1) @ BALL_F
        heel1[2] = 0.0
        flat = np.zeros((3, 7))
        flat[0, 0] = yaw1
        tr.add(t0 + dur, _const_poly(heel1, 7), HEEL_F.copy(), flat)
        prev.heel_land, prev.yaw_land = prev.heel_rest, prev.yaw
        prev.heel_rest, prev.yaw = heel1, yaw1
        prev.swivel = (t0, t0 + dur, angle)
        return angle

    def _impact(self, c: Contact, p: dict[str, float], walking: bool) -> tuple[F64, float]:
        """Velocity of the landing point at IC (world) and the impact duration."""
        strike = c.strike_deg
        tau = float(np.clip(0.018 - 0.0004 * strike, 0.008, 0.026))
        vz = -(0.35 + 0.012 * abs(strike))
        vf = 0.20
        if walking:
            vz *= 0.45
            vf *= 0.5
            tau *= 1.6
        return yaw_matrix(c.yaw) @ np.array([vf, 0.0, vz]), tau

    @staticmethod
    def _heel_state(
        point: F64, point_vel: F64, lever: F64, yaw: float, pitch: float, dpitch: float
    ) -> tuple[F64, F64, F64]:
        """Heel position, velocity and acceleration from a foot point's position and velocity
        (its acceleration zero) and the pitch state, with yaw and roll at rest and zero pitch
        acceleration (true at toe-off and at the start of an impact)."""
        c, s = math.cos(-pitch), math.sin(-pitch)
        r = yaw_matrix(yaw) @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        w = -dpitch * r[:, 1]  # rotation about the foot's left axis
        rl = r @ lever
        h = point - rl
        hv = point_vel - cross(w, rl)
        ha = -cross(w, cross(w, rl))
        return h, hv, ha

    def _start_landing(self, foot: Foot, c: Contact, p: dict[str, float], walking: bool) -> None:
        """Impact, rotation to flat and the (open-ended) foot-flat of a new contact."""
        tr = self.tracks[foot]
        t_ic = float(c.t_ic)  # type: ignore[arg-type]
        strike = math.radians(c.strike_deg)
        v_in, tau = self._impact(c, p, walking)
        t_rot = max(tau + 0.012, 0.012 + 0.0022 * abs(c.strike_deg))
        if walking:
            t_rot *= 1.8
        c.t_flat = t_ic + t_rot
        pivot_f = HEEL_F if c.strike_deg >= 0 else TOE_F
        pivot_rest = c.heel_rest + yaw_matrix(c.yaw) @ pivot_f
        ang = np.zeros((3, 7))
        ang[0, 0] = c.yaw
        ang[1, :6] = quintic(strike, -3.0 * strike, 0.0, 0.0, 0.0, 0.0, t_rot)
        pos = smoothstep_travel(v_in, tau)
        pos[:, 0] += pivot_rest
        tr.add(t_ic, pos, pivot_f.copy(), ang)
        # After the impact the pivot rests; the pitch quintic continues (same time origin).
        tr.add(t_ic + tau, _const_poly(pivot_rest, 7), pivot_f.copy(), ang, tref=t_ic)
        flat = np.zeros((3, 7))
        flat[0, 0] = c.yaw
        tr.contacts.append(c)
        tr.add(c.t_flat, _const_poly(c.heel_rest, 7), HEEL_F.copy(), flat)

    def _emit_truth(
        self, foot: Foot, prev: Contact, new: Contact, t_to: float, t_ic: float, swing_seg: int
    ) -> None:
        sensor = self.sensor_of(foot)
        # Between the foot-flats as landed (before any rotation on the ground).
        heel0 = prev.heel_rest if prev.heel_land is None else prev.heel_land
        yaw0 = prev.yaw if prev.yaw_land is None else prev.yaw_land
        p0 = heel0 + yaw_matrix(yaw0) @ sensor
        p1 = new.heel_rest + yaw_matrix(new.yaw) @ sensor
        length = float(np.hypot(*(p1 - p0)[:2]))
        ic = float(prev.t_ic)  # type: ignore[arg-type]
        stride = t_ic - ic
        # Clearance is filled in later for many strides at once (see flush_truth).
        self._pending.append((len(self.truth), foot, swing_seg, t_to, t_ic, float(p0[2])))
        other = self.tracks[Foot.RIGHT if foot is Foot.LEFT else Foot.LEFT]
        later = [c.t_ic for c in other.contacts[-3:] if c.t_ic is not None and c.t_ic > t_to]
        flight = max(0.0, min(later) - t_to) if later else max(0.0, stride / 2 - (t_to - ic))
        self.truth.append(
            TruthStride(
                foot=foot,
                index=self._stride_index[foot],
                ic_s=ic,
                to_s=float(t_to),
                end_ic_s=float(t_ic),
                contact_time_s=float(t_to - ic),
                swing_time_s=float(t_ic - t_to),
                stride_time_s=float(stride),
                flight_time_s=float(flight),
                step_time_s=None if prev.step_time_s is None else float(prev.step_time_s),
                stride_length_m=length,
                speed_mps=length / float(stride),
                foot_strike_angle_deg=float(prev.strike_deg),
                landing_distance_m=float(prev.landing_distance_m),
                cadence_spm=120.0 / float(stride),
                clearance_m=math.nan,
                activity=prev.activity,
            )
        )
        self._stride_index[foot] += 1
