"""Sensor-to-foot alignment: find ``R_FS`` (sensor frame -> foot frame) from the data."""

from __future__ import annotations

import numpy as np

from gaitcoach.types import FloatArray


def _unit(v: FloatArray) -> FloatArray:
    return v / np.linalg.norm(v)


class SensorAlignment:
    """Rotation from the pod's sensor frame to the foot frame (``pa``, ``ml``, ``si``).

    Method
    ------
    1. ``si`` (up) is the mean specific force over the zero-velocity samples of several stance
       phases (foot flat on the ground: the accelerometer reads gravity only).
    2. ``ml`` is the dominant rotation axis while the foot swings: the principal eigenvector
       of the angular-rate covariance during swing (the foot mostly pitches about its
       medio-lateral axis), made orthogonal to ``si``.
    3. ``pa = ml x si``. The eigenvector's sign is ambiguous; it is fixed afterwards by the
       direction of travel (:meth:`flip`): a stride moves the foot toward its toes.

    This follows the idea of the gravity/PCA alignment in gaitmap
    (``align_dataset_to_gravity`` and ``PcaAlignment``, Küderle et al. 2024), written from
    the description.

    Parameters
    ----------
    None: the inputs are the samples to use.

    Attributes
    ----------
    r_fs_
        (3, 3) rotation matrix: ``v_foot = r_fs_ @ v_sensor``.
    """

    r_fs_: FloatArray

    def estimate(self, acc_rest: FloatArray, gyr_swing: FloatArray) -> SensorAlignment:
        """Estimate from rest specific forces (N, 3) and swing angular rates (M, 3)."""
        si = _unit(acc_rest.mean(axis=0))
        cov = gyr_swing.T @ gyr_swing
        _, vecs = np.linalg.eigh(cov)
        axis = vecs[:, -1]
        ml = _unit(axis - (axis @ si) * si)
        pa = np.cross(ml, si)
        self.r_fs_ = np.stack([pa, ml, si])
        return self

    def flip(self) -> None:
        """Turn the frame by 180 deg about ``si`` (``pa`` and ``ml`` change sign)."""
        self.r_fs_ = self.r_fs_ * np.array([[-1.0], [-1.0], [1.0]])
