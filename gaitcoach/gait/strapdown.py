"""Strapdown integration of stride segments with zero-velocity updates (ZUPT).

Every segment runs from a zero-velocity sample to the next one. Segments are processed
together, row by row in lockstep, with element-wise arithmetic only: a segment's result does
not depend on which other segments share the call, so streaming equals batch exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.types import FloatArray


@dataclass(frozen=True, slots=True)
class Trajectories:
    """Per-segment results, padded to a common length ``L`` (rows are segments)."""

    quat: FloatArray
    """(S, L, 4) foot-to-world orientation (w, x, y, z), yaw 0 at the segment start."""
    pos_m: FloatArray
    """(S, L, 3) sensor position in the world frame, from the segment start."""
    vel_mps: FloatArray
    """(S, L, 3) sensor velocity in the world frame (zero at both ends)."""
    n: np.ndarray
    """(S,) valid length of each row."""


def norm3(v: FloatArray) -> FloatArray:
    """Euclidean norm over the last axis (length 3), element-wise (no reduction order)."""
    return np.sqrt(v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1] + v[..., 2] * v[..., 2])


def quat_from_gravity(acc: FloatArray) -> FloatArray:
    """Quaternions (w, x, y, z) with zero yaw that turn ``acc`` (N, 3, at rest) to world up."""
    ax, ay, az = acc[:, 0], acc[:, 1], acc[:, 2]
    roll = np.arctan2(ay, az)
    pitch = np.arctan2(-ax, np.hypot(ay, az))
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    # R = Ry(pitch) @ Rx(roll)
    return np.stack([cp * cr, cp * sr, sp * cr, -sp * sr], axis=-1)


def rotate(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4), element-wise."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    # t = 2 * cross(q_vec, v); v' = v + w t + cross(q_vec, t)
    tx = 2 * (y * vz - z * vy)
    ty = 2 * (z * vx - x * vz)
    tz = 2 * (x * vy - y * vx)
    return np.stack(
        [
            vx + w * tx + (y * tz - z * ty),
            vy + w * ty + (z * tx - x * tz),
            vz + w * tz + (x * ty - y * tx),
        ],
        axis=-1,
    )


_SCALAR_ROWS = 8


def _chain_scalar(
    q0: FloatArray, m0: FloatArray, m1: FloatArray, m2: FloatArray, m3: FloatArray
) -> list[list[float]]:
    """``q_j = q_{j-1}[0] m0_j + q_{j-1}[1] m1_j + q_{j-1}[2] m2_j + q_{j-1}[3] m3_j``."""
    w, x, y, z = (float(v) for v in q0)
    out: list[list[float]] = []
    for a, b, c, d in zip(m0.tolist(), m1.tolist(), m2.tolist(), m3.tolist(), strict=True):
        w, x, y, z = (
            w * a[0] + x * b[0] + y * c[0] + z * d[0],
            w * a[1] + x * b[1] + y * c[1] + z * d[1],
            w * a[2] + x * b[2] + y * c[2] + z * d[2],
            w * a[3] + x * b[3] + y * c[3] + z * d[3],
        )
        out.append([w, x, y, z])
    return out


def integrate(
    acc: FloatArray, gyr: FloatArray, dt: FloatArray, n: np.ndarray, acc_rest: FloatArray
) -> Trajectories:
    """Strapdown integration of padded segments (zero velocity at both ends).

    Parameters
    ----------
    acc, gyr
        (S, L, 3) specific force (m/s^2) and angular rate (rad/s) in the foot frame.
    dt
        (S, L) time step before each sample (``dt[:, 0]`` is ignored).
    n
        (S,) valid samples per row; padding beyond must be zeros.
    acc_rest
        (S, 3) mean specific force over the zero-velocity samples at each segment start
        (sets the initial tilt; heading is zero).

    Notes
    -----
    Orientation: first-order quaternion update with the mid-point angular rate. Velocity:
    trapezoid-rule integration of gravity-free acceleration; the linear drift that makes the
    end velocity non-zero is removed (ZUPT with linear de-drifting, as in Rampp et al. 2014
    and gaitmap's ``ForwardBackwardIntegration`` idea, written here from the equations).
    """
    s, length = dt.shape
    dt = dt.copy()
    dt[:, 0] = 0.0
    # Per-step rotation quaternions from the mid-point rate, all at once.
    w_mid = np.empty_like(gyr)
    w_mid[:, 0] = 0.0
    w_mid[:, 1:] = 0.5 * (gyr[:, 1:] + gyr[:, :-1])
    ang = norm3(w_mid) * dt
    half = 0.5 * ang
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(ang > 1e-12, np.sin(half) / np.where(ang > 1e-12, ang, 1.0), 0.5) * dt
    dw = np.cos(half)
    dx, dy, dz = w_mid[..., 0] * k, w_mid[..., 1] * k, w_mid[..., 2] * k
    # q_j = q_{j-1} (x) dq_j written as q_j = sum_i q_{j-1}[i] * M_j[i] (rows of the 4x4
    # right-multiplication matrix): four element-wise multiply-adds per step.
    m0 = np.stack([dw, dx, dy, dz], axis=-1)
    m1 = np.stack([-dx, dw, -dz, dy], axis=-1)
    m2 = np.stack([-dy, dz, dw, -dx], axis=-1)
    m3 = np.stack([-dz, -dy, dx, dw], axis=-1)
    quat = np.empty((s, length, 4))
    q = quat_from_gravity(acc_rest)
    quat[:, 0] = q
    if s <= _SCALAR_ROWS:
        # Few rows (streaming): the same products in plain floats, in the same order, are
        # bit-identical to the vectorised loop and much cheaper per step.
        for r in range(s):
            quat[r, 1:] = _chain_scalar(q[r], m0[r, 1:], m1[r, 1:], m2[r, 1:], m3[r, 1:])
    else:
        # Step-major, contiguous copies: each step reads and writes one block.
        t0, t1, t2, t3 = (np.ascontiguousarray(m.transpose(1, 0, 2)) for m in (m0, m1, m2, m3))
        chain = np.empty((length, s, 4))
        chain[0] = q
        for j in range(1, length):
            q = q[:, 0:1] * t0[j] + q[:, 1:2] * t1[j] + q[:, 2:3] * t2[j] + q[:, 3:4] * t3[j]
            chain[j] = q
        quat = chain.transpose(1, 0, 2).copy()
    quat /= np.sqrt(
        quat[..., 0] * quat[..., 0]
        + quat[..., 1] * quat[..., 1]
        + quat[..., 2] * quat[..., 2]
        + quat[..., 3] * quat[..., 3]
    )[..., None]
    acc_w = rotate(quat, acc)
    acc_w[..., 2] -= G_MPS2
    valid = np.arange(length)[None, :] < n[:, None]
    acc_w *= valid[..., None]
    # Trapezoid rule (dt[:, 0] = 0): no half-sample lag in velocity.
    acc_mid = acc_w.copy()
    acc_mid[:, 1:] = 0.5 * (acc_w[:, 1:] + acc_w[:, :-1])
    vel = np.cumsum(acc_mid * dt[..., None], axis=1)
    t_rel = np.cumsum(dt * valid, axis=1)
    rows = np.arange(s)
    last = n - 1
    frac = t_rel / np.maximum(t_rel[rows, last], 1e-9)[:, None]
    vel -= frac[..., None] * vel[rows, last][:, None, :]
    vel *= valid[..., None]
    vel_mid = vel.copy()
    vel_mid[:, 1:] = 0.5 * (vel[:, 1:] + vel[:, :-1])
    pos = np.cumsum(vel_mid * dt[..., None], axis=1)
    pos -= pos[:, :1]
    return Trajectories(quat=quat, pos_m=pos, vel_mps=vel, n=n)
