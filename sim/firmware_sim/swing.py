"""Swings with walking events: a pause after toe-off, a sharp brake before landing, knocks and
scuffs, built as sums of polynomial pieces and cut into track segments.

A plain swing is one quintic (plus a lift bump) from the toe-off state to the landing state
(``trajectory.GaitPlanner._finish_previous``). A swing with events is a chain of quintic
Hermite pieces through intermediate states of the heel and the pitch (every piece matches
position, velocity and acceleration at its ends, so the motion stays C2), plus additive
perturbations that vanish with their first two derivatives at both ends of their window
(degree-6 bumps): the sum is as smooth as the plain swing and its IMU signals are exact.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from math import comb

import numpy as np

from firmware_sim.kinematics import F64, bump, orientation_matrix, quintic
from gaitcoach.frames import G_MPS2

PAUSE_BRAKING_S = 0.06
"""Time in which the foot's plantarflexion after toe-off slows to (almost) nothing."""
PAUSE_RATE_RADPS = math.radians(1.5)
"""Pitch rate at the ends of a pause (it passes through zero in the middle)."""
PAUSE_SPEED_SHARE = 0.4
"""Horizontal speed of the foot in a pause, as a share of its mean speed over the swing."""
PAUSE_RISE_MPS = 0.25
"""Upward speed of the foot in a pause (the toe keeps rising)."""
BRAKE_WIDTH_S = 0.04
"""Duration of the pre-landing deceleration (its peak is in the middle)."""
BRAKE_SLOW_MPS = 0.1
"""Horizontal speed above the landing speed left after the pre-landing deceleration."""
MIN_FREE_SHARE = 0.55
"""Share of a swing left between a pause and a brake, at least (else there is no brake)."""
RING_HALF_WAVES = 3
"""Half-waves of the gyro ringing after a knock (each half the amplitude of the one before)."""

_BUMP_PEAK_ACC = 24.0
"""Peak |second derivative| of ``64 s^3 (1-s)^3`` (at s = 1/2): acceleration = 24 A / w^2."""
_BUMP_PEAK_RATE = 192.0 / (25.0 * math.sqrt(5.0))
"""Peak |first derivative| of ``64 s^3 (1-s)^3`` (at 1 - 2s = 1/sqrt(5)): rate = 3.43 A / w."""


def shift_poly(coef: F64, c: float) -> F64:
    """Coefficients of ``p(u + c)`` from those of ``p(u)`` (increasing power, last axis)."""
    k = coef.shape[-1]
    m = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            m[i, j] = comb(j, i) * c ** (j - i)
    out: F64 = coef @ m.T
    return out


@dataclass(frozen=True, slots=True)
class Piece:
    """A polynomial contribution on ``[t0_s, t1_s)`` in local time ``u = t - t0_s``: heel
    position (3, 7) and Euler angles yaw, pitch, roll (3, 7); ``None`` adds nothing."""

    t0_s: float
    t1_s: float
    pos: F64 | None = None
    ang: F64 | None = None


def assemble(pieces: list[Piece]) -> list[tuple[float, F64, F64]]:
    """Sum the pieces on every interval between their ends: ``(t0_s, pos, ang)`` per interval,
    each polynomial in local time from ``t0_s``."""
    cuts = sorted({p.t0_s for p in pieces} | {p.t1_s for p in pieces})
    out = []
    for a, b in itertools.pairwise(cuts):
        pos = np.zeros((3, 7))
        ang = np.zeros((3, 7))
        for p in pieces:
            if p.t0_s <= a and b <= p.t1_s:
                if p.pos is not None:
                    pos += shift_poly(p.pos, a - p.t0_s)
                if p.ang is not None:
                    ang += shift_poly(p.ang, a - p.t0_s)
        out.append((a, pos, ang))
    return out


def evaluate_pieces(pieces: list[Piece], t: F64) -> tuple[F64, F64]:
    """Heel position (n, 3) and angles (n, 3) of the summed pieces at times ``t``."""
    pos = np.zeros((len(t), 3))
    ang = np.zeros((len(t), 3))
    for p in pieces:
        m = (t >= p.t0_s) & (t < p.t1_s)
        if not m.any():
            continue
        u = t[m] - p.t0_s
        powers = u[:, None] ** np.arange(7)
        if p.pos is not None:
            pos[m] += powers @ p.pos.T
        if p.ang is not None:
            ang[m] += powers @ p.ang.T
    return pos, ang


def _q7(
    p0: F64 | float,
    v0: F64 | float,
    a0: F64 | float,
    p1: F64 | float,
    v1: F64 | float,
    a1: F64 | float,
    d: float,
) -> F64:
    """Quintic Hermite coefficients padded to degree 6."""
    q = quintic(p0, v0, a0, p1, v1, a1, d)
    return np.concatenate([q, np.zeros((*q.shape[:-1], 1))], axis=-1)


def _chain(knots: list[tuple[float, F64, F64, F64]]) -> list[F64]:
    """Quintic pieces through ``(t, p, v, a)`` knots (p, v, a of any common shape)."""
    return [
        _q7(p0, v0, a0, p1, v1, a1, t1 - t0)
        for (t0, p0, v0, a0), (t1, p1, v1, a1) in itertools.pairwise(knots)
    ]


@dataclass(frozen=True, slots=True)
class SwingDraw:
    """The random decisions for one swing with events (drawn by the planner)."""

    pause_s: float = 0.0
    knock: bool = False
    knock_g: float = 0.0
    knock_frac: float = 0.5
    knock_width_s: float = 0.015
    knock_dir: tuple[float, float, float] = (0.0, 1.0, 0.0)
    ring_dps: float = 0.0
    ring_half_s: float = 0.014
    ring_phase: float = 0.0
    scuff: bool = False
    scuff_g: float = 0.0
    scuff_frac: float = 0.3
    brake: bool = False
    brake_g: float = 0.0
    brake_before_ic_s: float = 0.065

    @property
    def any(self) -> bool:
        return self.pause_s > 0 or self.knock or self.scuff or self.brake


@dataclass(frozen=True, slots=True)
class SwingMarks:
    """Where the events of a swing ended up (true times, s); ``None`` = not in this swing."""

    pause_start_s: float | None = None
    pause_s: float = 0.0
    knock_s: float | None = None
    scuff_s: float | None = None
    brake_s: float | None = None


@dataclass(frozen=True, slots=True)
class SwingEnds:
    """Boundary states of a swing: heel position, velocity, acceleration (world) and pitch
    (rad) with its rate at toe-off and at initial contact; yaw at both ends; roll bump height;
    lift of the heel (m)."""

    t_to: float
    t_ic: float
    heel_to: tuple[F64, F64, F64]
    heel_ic: tuple[F64, F64, F64]
    pitch_to: tuple[float, float]
    pitch_ic: tuple[float, float]
    yaw_to: float
    yaw_ic: float
    roll_rad: float
    lift_m: float


def build_swing(
    ends: SwingEnds, draw: SwingDraw, toe_f: F64, sensor_f: F64
) -> tuple[list[Piece], SwingMarks]:
    """The pieces of a swing with events, and where the events are.

    Heel knots: toe-off; with a pause, the start and end of the pause (the rotation has nearly
    stopped and the heel moves at constant velocity, so |f| is 1 g); with a brake, the start and
    end of the deceleration; initial contact. The lift bump and the yaw and roll motion span the
    free swing between the pause and the brake. A scuff lowers the foot until the toe (or heel)
    just touches the floor and adds a short deceleration there; a knock adds a 10-20 ms
    acceleration spike and decaying gyro ringing about the pod (``sensor_f``, foot frame).
    """
    t_to, t_ic = ends.t_to, ends.t_ic
    h0, v0, a0 = ends.heel_to
    h1, v1, a1 = ends.heel_ic
    th0, w0 = ends.pitch_to
    th1, w1 = ends.pitch_ic
    zero = np.zeros(3)
    marks: dict[str, float | None] = {}
    heel = [(t_to, h0, v0, a0)]
    pitch = [(t_to, np.array(th0), np.array(w0), np.array(0.0))]
    t_free = t_to
    # Like the brake below, a pause that would leave less than MIN_FREE_SHARE of the swing
    # (a short running swing) is not made.
    if draw.pause_s > 0 and PAUSE_BRAKING_S + draw.pause_s <= (1 - MIN_FREE_SHARE) * (t_ic - t_to):
        ta = t_to + PAUSE_BRAKING_S
        tb = ta + draw.pause_s
        span = h1 - h0
        horiz = np.array([span[0], span[1], 0.0])
        mean_speed = float(np.linalg.norm(horiz)) / (t_ic - t_to)
        va = horiz / max(float(np.linalg.norm(horiz)), 1e-9) * PAUSE_SPEED_SHARE * mean_speed
        va[2] = PAUSE_RISE_MPS
        ha = h0 + 0.5 * (v0 + va) * PAUSE_BRAKING_S  # trapezoid: no overshoot
        heel += [(ta, ha, va, zero), (tb, ha + va * draw.pause_s, va, zero)]
        tha = th0 + 0.5 * (w0 - PAUSE_RATE_RADPS) * PAUSE_BRAKING_S
        pitch += [
            (ta, np.array(tha), np.array(-PAUSE_RATE_RADPS), np.array(0.0)),
            (tb, np.array(tha), np.array(PAUSE_RATE_RADPS), np.array(0.0)),
        ]
        t_free = tb
        marks["pause_start_s"] = ta
        marks["pause_s"] = draw.pause_s
    t_land = t_ic
    brake_start = t_ic - draw.brake_before_ic_s - BRAKE_WIDTH_S / 2
    # A brake that would leave less than MIN_FREE_SHARE of the swing between the pause and
    # the brake is not made (it would need an unphysical sprint of the foot in between).
    if draw.brake and brake_start - t_free >= MIN_FREE_SHARE * (t_ic - t_to):
        # The quintic between two states with zero acceleration and the trapezoid distance
        # changes velocity as a cubic smoothstep: peak deceleration 1.5 dv / width.
        fwd = np.array([math.cos(ends.yaw_ic), math.sin(ends.yaw_ic), 0.0])
        t_peak = t_ic - draw.brake_before_ic_s
        tb0, tb1 = t_peak - BRAKE_WIDTH_S / 2, t_peak + BRAKE_WIDTH_S / 2
        vb1 = v1 + fwd * BRAKE_SLOW_MPS
        hb1 = h1 - 0.5 * (vb1 + v1) * (t_ic - tb1)
        vb0 = vb1 + fwd * (draw.brake_g * G_MPS2 * BRAKE_WIDTH_S / 1.5)
        hb0 = hb1 - 0.5 * (vb0 + vb1) * BRAKE_WIDTH_S
        heel += [(tb0, hb0, vb0, zero), (tb1, hb1, vb1, zero)]
        t_land = tb0
        marks["brake_s"] = t_peak
    heel.append((t_ic, h1, v1, a1))
    pitch.append((t_ic, np.array(th1), np.array(w1), np.array(0.0)))

    pieces: list[Piece] = []
    for ((ta, *_), (tb, *_)), c in zip(itertools.pairwise(heel), _chain(heel), strict=True):
        pieces.append(Piece(ta, tb, pos=c))
    for ((ta, *_), (tb, *_)), c in zip(itertools.pairwise(pitch), _chain(pitch), strict=True):
        ang = np.zeros((3, 7))
        ang[1] = c
        pieces.append(Piece(ta, tb, ang=ang))
    # Heading and roll before the free swing stay as at toe-off.
    if t_free > t_to:
        hold = np.zeros((3, 7))
        hold[0, 0] = ends.yaw_to
        pieces.append(Piece(t_to, t_free, ang=hold))
    d = t_ic - t_free
    free_ang = np.zeros((3, 7))
    free_ang[0, :6] = quintic(ends.yaw_to, 0.0, 0.0, ends.yaw_ic, 0.0, 0.0, d)
    free_ang[2] = bump(ends.roll_rad, d)
    pieces.append(Piece(t_free, t_ic, ang=free_ang))
    lift = np.zeros((3, 7))
    lift[2] = bump(ends.lift_m, t_land - t_free)
    pieces.append(Piece(t_free, t_land, pos=lift))

    span_s = t_land - t_free
    if draw.knock:
        # Anywhere from early to late swing (150-400 ms before landing in real data); the
        # place does not depend on the other events.
        lo = t_free + 0.15 * span_s
        hi = t_land - 0.06  # the ringing ends before the brake or landing
        t_k = lo + draw.knock_frac * max(hi - lo, 0.0)
        pieces += _knock(t_k, draw, pieces, sensor_f)
        marks["knock_s"] = t_k
    if draw.scuff:  # after the knock: the sole touches the floor with everything added
        touch, scuff_pieces = _scuff(pieces, t_free, span_s, draw, ends.yaw_ic, toe_f)
        pieces += scuff_pieces
        marks["scuff_s"] = touch
    return pieces, SwingMarks(**marks)  # type: ignore[arg-type]


def _scuff(
    pieces: list[Piece], t_free: float, span_s: float, draw: SwingDraw, yaw: float, toe_f: F64
) -> tuple[float, list[Piece]]:
    """Lower the foot over a window in early/mid swing until its lowest sole point just touches
    the floor (tangentially: there it has no vertical velocity), and add a short deceleration
    centred on the touch."""
    # A long window keeps the dip gentle (about 1 g): the whole swing is lower, as when a
    # walker scuffs; the touch itself falls in early or mid swing.
    w = 0.7 * span_s
    t0 = t_free + (0.02 + 0.1 * draw.scuff_frac) * span_s

    def ratio(s: F64) -> F64:
        """Height of the lowest sole point (the sole is the heel-toe line; roll does not move
        the x axis) over the dip's shape: its minimum is the depth that makes them touch."""
        pos, ang = evaluate_pieces(pieces, t0 + s * w)
        low = np.minimum(pos[:, 2], pos[:, 2] + toe_f[0] * np.sin(ang[:, 1]))
        out: F64 = low / (64.0 * s**3 * (1 - s) ** 3)
        return out

    # A coarse grid, then a fine one around its minimum (touching to well under a micrometre).
    s = np.linspace(0.0, 1.0, 801)[1:-1]
    k = int(np.argmin(ratio(s)))
    s = np.linspace(s[max(k - 1, 0)], s[min(k + 1, len(s) - 1)], 801)
    r = ratio(s)
    k = int(np.argmin(r))
    depth = float(r[k])
    touch = float(t0 + s[k] * w)
    dip = np.zeros((3, 7))
    dip[2] = bump(-depth, w)
    wh = 0.03
    fwd = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    brush = np.outer(fwd, bump(draw.scuff_g * G_MPS2 * wh**2 / _BUMP_PEAK_ACC, wh))
    return touch, [Piece(t0, t0 + w, pos=dip), Piece(touch - wh / 2, touch + wh / 2, pos=brush)]


def _knock(t_k: float, draw: SwingDraw, pieces: list[Piece], sensor_f: F64) -> list[Piece]:
    """A 10-20 ms acceleration spike (a degree-6 bump of the position, peak ``knock_g`` in the
    middle) and ringing: half-waves of roll and yaw of alternating sign, halving each time.

    The ringing turns the foot about the pod, not the heel: the heel moves by minus the pod's
    displacement of the rotation at the foot's orientation at the knock (small angles), so the
    ringing is seen by the gyroscope and hardly by the accelerometer (the remainder is the
    change of orientation during the ringing)."""
    w = draw.knock_width_s
    amp = draw.knock_g * G_MPS2 * w**2 / _BUMP_PEAK_ACC
    spike = np.outer(np.asarray(draw.knock_dir), bump(amp, w))
    out = [Piece(t_k - w / 2, t_k + w / 2, pos=spike)]
    _, ang = evaluate_pieces(pieces, np.array([t_k]))
    yaw, pitch, roll = ang[0]
    r = orientation_matrix(yaw, pitch, roll)
    lever = r @ sensor_f  # heel -> pod, world
    yaw_shift = np.cross([0.0, 0.0, 1.0], lever)  # pod displacement per rad of yaw
    roll_shift = np.cross(r[:, 0], lever)  # ... per rad of roll (about the foot's x axis)
    h = draw.ring_half_s
    rate = math.radians(draw.ring_dps)
    t0 = t_k - w / 2
    for j in range(RING_HALF_WAVES):
        a = (-1) ** j * rate * 0.5**j * h / _BUMP_PEAK_RATE
        a_yaw, a_roll = a * math.sin(draw.ring_phase), a * math.cos(draw.ring_phase)
        ang = np.zeros((3, 7))
        ang[0] = bump(a_yaw, h)
        ang[2] = bump(a_roll, h)
        pos = -np.outer(yaw_shift * a_yaw + roll_shift * a_roll, bump(1.0, h))
        out.append(Piece(t0 + j * h, t0 + (j + 1) * h, pos=pos, ang=ang))
    return out
