"""Rigid-foot kinematics helpers: polynomials, rotations and their rates (vectorised).

A foot's orientation is ``R_WF = Rz(yaw) @ Ry(-pitch) @ Rx(roll)`` (``docs/frames.md``: pitch
positive toes up is a negative rotation about the left-pointing y axis).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

EZ = np.array([0.0, 0.0, 1.0])


def polyval(coefs: F64, u: F64, deriv: int = 0) -> F64:
    """Evaluate polynomials with coefficients in increasing power along the last axis.

    ``coefs`` has shape ``(n, ..., k)`` and ``u`` shape ``(n,)``; returns shape ``(n, ...)``.
    """
    k = coefs.shape[-1]
    c = coefs
    for _ in range(deriv):
        c = c[..., 1:] * np.arange(1, c.shape[-1], dtype=float)
        k -= 1
    if k <= 0:
        return np.zeros(coefs.shape[:-1])
    uu = u.reshape(u.shape + (1,) * (c.ndim - 2))
    out = c[..., k - 1].copy()
    for i in range(k - 2, -1, -1):
        out *= uu
        out += c[..., i]
    return out


def quintic(
    p0: float | F64,
    v0: float | F64,
    a0: float | F64,
    p1: float | F64,
    v1: float | F64,
    a1: float | F64,
    d: float,
) -> F64:
    """Coefficients (increasing power, last axis of length 6) of the quintic Hermite curve
    matching position, velocity and acceleration at ``u = 0`` and ``u = d``."""
    p0, v0, a0, p1, v1, a1 = (np.asarray(x, dtype=np.float64) for x in (p0, v0, a0, p1, v1, a1))
    dp = p1 - p0
    c3 = (20 * dp - (8 * v1 + 12 * v0) * d - (3 * a0 - a1) * d**2) / (2 * d**3)
    c4 = (-30 * dp + (14 * v1 + 16 * v0) * d + (3 * a0 - 2 * a1) * d**2) / (2 * d**4)
    c5 = (12 * dp - 6 * (v1 + v0) * d + (a1 - a0) * d**2) / (2 * d**5)
    return np.stack(np.broadcast_arrays(p0, v0, a0 / 2, c3, c4, c5), axis=-1)


def bump(height: float, d: float) -> F64:
    """Coefficients of ``height * 64 s^3 (1-s)^3``, ``s = u/d``: zero value, slope and
    curvature at both ends, ``height`` in the middle (degree 6)."""
    h = 64.0 * height
    return np.array([0.0, 0.0, 0.0, h / d**3, -3 * h / d**4, 3 * h / d**5, -h / d**6])


def smoothstep_travel(v: F64, tau: float) -> F64:
    """Position offset polynomial (degree 6, shape (3, 7)) of a point whose velocity falls
    from ``v`` to zero over ``tau`` as ``v (1 - S(u/tau))`` with the C2 smoothstep ``S``.
    The offset is zero at ``u = tau`` (rest) and ``-v tau / 2`` at ``u = 0``."""
    v = np.asarray(v, dtype=float)
    c = np.zeros((3, 7))
    c[:, 0] = -0.5 * v * tau
    c[:, 1] = v
    c[:, 4] = -2.5 * v / tau**3
    c[:, 5] = 3.0 * v / tau**4
    c[:, 6] = -1.0 * v / tau**5
    return c


def cross(a: F64, b: F64) -> F64:
    """Cross product along the last axis (np.cross is several times slower on small arrays)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def yaw_matrix(yaw: float) -> F64:
    """Rotation about z by a scalar angle (rad)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_z(a: F64) -> F64:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack(
        [np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2
    )


def rot_y(a: F64) -> F64:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack(
        [np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2
    )


def rot_x(a: F64) -> F64:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack(
        [np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2
    )


def orientation(
    yaw: F64,
    pitch: F64,
    roll: F64,
    dyaw: F64,
    dpitch: F64,
    droll: F64,
    ddyaw: F64,
    ddpitch: F64,
    ddroll: F64,
) -> tuple[F64, F64, F64]:
    """``R_WF``, angular velocity and angular acceleration (world frame) from the Euler angles
    (rad) and their first and second time derivatives. Shapes ``(n,3,3)``, ``(n,3)``, ``(n,3)``."""
    rz = rot_z(yaw)
    rzy = rz @ rot_y(-pitch)
    r = rzy @ rot_x(roll)
    ez = np.broadcast_to(EZ, (*rz.shape[:-2], 3))
    w_z = dyaw[..., None] * ez
    ey_w = rz[..., :, 1]  # Rz e_y
    ex_w = rzy[..., :, 0]  # Rz Ry e_x
    w_zy = w_z - dpitch[..., None] * ey_w
    omega = w_zy + droll[..., None] * ex_w
    alpha = (
        ddyaw[..., None] * ez
        - ddpitch[..., None] * ey_w
        + cross(w_z, -dpitch[..., None] * ey_w)
        + ddroll[..., None] * ex_w
        + cross(w_zy, droll[..., None] * ex_w)
    )
    return r, omega, alpha


def orientation_matrix(yaw: float, pitch: float, roll: float) -> F64:
    """``R_WF`` of one foot orientation (rad; pitch positive toes up)."""
    a = np.array
    return rot_z(a(yaw)) @ rot_y(a(-pitch)) @ rot_x(a(roll))


def euler_zyx(yaw_deg: float, pitch_deg: float, roll_deg: float) -> F64:
    """A fixed rotation (3x3) from intrinsic z-y-x angles in degrees (pitch about +y)."""
    y, p, r = np.radians([yaw_deg, pitch_deg, roll_deg])
    return rot_z(np.array(y)) @ rot_y(np.array(p)) @ rot_x(np.array(r))
