"""IMU synthesis: ideal specific force and angular rate in the sensor frame, then the sensor's
errors (scale, bias, bias random walk, white noise), range saturation and int16 quantisation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from firmware_sim.kinematics import F64
from firmware_sim.params import ImuSpec
from firmware_sim.trajectory import FootState
from gaitcoach.footpod.profile import acc_lsb_mps2, gyr_lsb_radps
from gaitcoach.frames import G_MPS2, GRAVITY_W

I16 = npt.NDArray[np.int16]


def ideal_imu(state: FootState, r_fs: F64) -> tuple[F64, F64]:
    """Specific force (m/s^2) and angular rate (rad/s) in the sensor frame, without errors."""
    r_ws = state.r_wf @ r_fs  # sensor -> world
    f_w = state.acc_mps2 - GRAVITY_W
    acc = np.einsum("nji,nj->ni", r_ws, f_w)
    gyr = np.einsum("nji,nj->ni", r_ws, state.omega_radps)
    return acc, gyr


def lsb(spec: ImuSpec) -> tuple[float, float]:
    """Scale of one count: (m/s^2 per LSB, rad/s per LSB); full range maps to +-32768."""
    return acc_lsb_mps2(spec.acc_range_g), gyr_lsb_radps(spec.gyr_range_dps)


class SensorErrors:
    """Stateful error model of one IMU; draws continue across calls (chunking-independent)."""

    def __init__(self, spec: ImuSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self._rng = rng
        g = G_MPS2
        self.acc_scale = 1.0 + spec.acc_scale_sd * rng.standard_normal(3)
        self.gyr_scale = 1.0 + spec.gyr_scale_sd * rng.standard_normal(3)
        self.acc_bias = spec.acc_bias_sd_mg * 1e-3 * g * rng.standard_normal(3)
        self.gyr_bias = np.radians(spec.gyr_bias_sd_dps) * rng.standard_normal(3)
        dt = 1.0 / spec.rate_hz
        self._acc_walk = spec.acc_bias_walk_mg_per_rts * 1e-3 * g * np.sqrt(dt)
        self._gyr_walk = np.radians(spec.gyr_bias_walk_dps_per_rts) * np.sqrt(dt)
        bw = np.sqrt(spec.rate_hz / 2.0)
        self._acc_sigma = spec.acc_noise_density_ug * 1e-6 * g * bw
        self._gyr_sigma = np.radians(spec.gyr_noise_density_mdps * 1e-3) * bw
        self.acc_lsb, self.gyr_lsb = lsb(spec)

    def apply(self, acc: F64, gyr: F64) -> tuple[I16, I16]:
        """Corrupt ideal signals and return int16 counts."""
        n = acc.shape[0]
        rng = self._rng
        # One draw of 12 normals per sample, summed sequentially from the carried bias state,
        # so that any split into reads gives bit-identical data.
        z = rng.standard_normal((n, 12))
        acc_b = np.cumsum(np.vstack([self.acc_bias, z[:, 0:3] * self._acc_walk]), axis=0)[1:]
        gyr_b = np.cumsum(np.vstack([self.gyr_bias, z[:, 3:6] * self._gyr_walk]), axis=0)[1:]
        if n:
            self.acc_bias, self.gyr_bias = acc_b[-1].copy(), gyr_b[-1].copy()
        a = acc * self.acc_scale + acc_b + z[:, 6:9] * self._acc_sigma
        w = gyr * self.gyr_scale + gyr_b + z[:, 9:12] * self._gyr_sigma
        return quantise(a, self.acc_lsb), quantise(w, self.gyr_lsb)


def quantise(x: F64, step: float) -> I16:
    """Round to counts and saturate at the int16 range (= the sensor's full scale)."""
    return np.clip(np.rint(x / step), -32768, 32767).astype(np.int16)
