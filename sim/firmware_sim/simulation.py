"""A simulated run of both feet: the gait planner, the pods' IMUs and the truth."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from firmware_sim.imu import SensorErrors, ideal_imu, lsb, quantise
from firmware_sim.kinematics import F64, euler_zyx
from firmware_sim.params import ImuSpec, Mounting, Profile
from firmware_sim.pod_source import PodSamples
from firmware_sim.profiles import get_profile
from firmware_sim.trajectory import FootState, GaitPlanner, TruthStride, TruthSwing, evaluate
from gaitcoach.types import Foot, StrideRecord

FEET = (Foot.LEFT, Foot.RIGHT)
_BLOCK = 65536  # samples evaluated at once (bounds memory)


class SimPod:
    """One footpod's IMU: an endless :class:`~firmware_sim.pod_source.PodStream`."""

    def __init__(
        self, sim: Simulation, foot: Foot, spec: ImuSpec, rng: np.random.Generator
    ) -> None:
        self.foot = foot
        self.rate_hz = spec.rate_hz
        self.acc_lsb_mps2, self.gyr_lsb_radps = lsb(spec)
        self._sim = sim
        self._spec = spec
        self._errors = SensorErrors(spec, rng)
        self._k = 0  # index of the next sample
        # The sensor ticks at its nominal rate on its own clock, which runs fast by `ppm`.
        self._true_dt = 1.0 / (spec.rate_hz * (1.0 + spec.clock_drift_ppm * 1e-6))

    def read(self, n: int) -> PodSamples:
        if n < 1:
            raise ValueError(f"n = {n!r} is out of range; allowed >= 1 samples")
        k = np.arange(self._k, self._k + n, dtype=float)
        self._k += n
        t_true = k * self._true_dt
        t_sensor = self._spec.clock_offset_s + k / self._spec.rate_hz
        acc = np.empty((n, 3), dtype=np.int16)
        gyr = np.empty((n, 3), dtype=np.int16)
        for i in range(0, n, _BLOCK):
            sl = slice(i, min(n, i + _BLOCK))
            a, w = self._sim.ideal_imu(self.foot, t_true[sl])
            acc[sl], gyr[sl] = self._errors.apply(a, w)
        return PodSamples(t_true, t_sensor, acc, gyr)


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated run (recorded in a recording's metadata)."""

    profile: str
    seed: int
    rate_hz: float
    noise: bool
    variability: bool
    imu: ImuSpec
    mountings: dict[Foot, Mounting]


class Simulation:
    """A simulated runner with two footpods.

    Parameters
    ----------
    profile
        A :class:`~firmware_sim.params.Profile` or the name of one in ``PROFILES``.
    seed
        Seeds the stride variability and each pod's sensor errors.
    rate_hz
        Sample rate, one of 104, 208, 416 Hz.
    noise
        With ``False`` the IMU has no noise, bias, scale or clock errors (quantisation and
        saturation stay: they are the data format).
    variability
        Stride-to-stride variability of the profile on or off.
    imu, mounting
        Sensor model and mounting (one for both feet or one per foot, see
        :func:`firmware_sim.mounting.random_mountings`); defaults are an LSM6DSx-class IMU on
        the laces.
    """

    def __init__(
        self,
        profile: Profile | str,
        seed: int = 0,
        rate_hz: float = 208.0,
        noise: bool = True,
        variability: bool = True,
        imu: ImuSpec | None = None,
        mounting: Mounting | Mapping[Foot, Mounting] | None = None,
    ) -> None:
        prof = get_profile(profile) if isinstance(profile, str) else profile
        spec = replace(imu or ImuSpec(), rate_hz=float(rate_hz))
        if not noise:
            spec = spec.noiseless()
        spec.validate()
        if isinstance(mounting, Mapping):
            missing = [f.value for f in FEET if f not in mounting]
            if missing:
                raise ValueError(
                    f"mounting has no entry for {', '.join(missing)}; allowed: "
                    "one Mounting or one per foot (left and right)"
                )
            mounts = {f: mounting[f] for f in FEET}
        else:
            mounts = {f: mounting or Mounting() for f in FEET}
        for m in mounts.values():
            m.validate()
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed = {seed!r} is out of range; allowed: an integer >= 0")
        self.profile = prof
        self.config = SimConfig(prof.name, seed, float(rate_hz), noise, variability, spec, mounts)
        self._r_fs = {f: euler_zyx(m.yaw_deg, m.pitch_deg, m.roll_deg) for f, m in mounts.items()}
        self._sensor_f = {f: np.array(m.position_m, dtype=float) for f, m in mounts.items()}
        self._same_mounting = mounts[Foot.LEFT] == mounts[Foot.RIGHT]
        self.planner = GaitPlanner(
            prof,
            seed,
            self._sensor_f[Foot.LEFT] if self._same_mounting else self._sensor_f,
            variability,
        )
        self._pods = {
            foot: SimPod(self, foot, spec, np.random.default_rng([seed, i + 1, 104729]))
            for i, foot in enumerate(FEET)
        }

    @property
    def r_fs(self) -> F64:
        """Sensor-to-foot rotation of both pods (an error when the feet's mountings differ)."""
        return self._r_fs[self._common_foot("r_fs")]

    @property
    def sensor_f(self) -> F64:
        """Pod position in the foot frame of both feet (an error when the mountings differ)."""
        return self._sensor_f[self._common_foot("sensor_f")]

    def _common_foot(self, what: str) -> Foot:
        if not self._same_mounting:
            raise ValueError(f"{what}: the feet have different mountings; use {what}_of(foot)")
        return Foot.LEFT

    def r_fs_of(self, foot: Foot) -> F64:
        """Sensor-to-foot rotation of one foot's pod."""
        return self._r_fs[foot]

    def sensor_f_of(self, foot: Foot) -> F64:
        """Position of one foot's pod in its foot frame."""
        return self._sensor_f[foot]

    @property
    def duration_s(self) -> float:
        """Length of the profile (standing forever afterwards)."""
        return self.profile.duration_s

    def pod(self, foot: Foot) -> SimPod:
        return self._pods[foot]

    def run_until(self, t_s: float) -> None:
        """Plan the run so that everything up to ``t_s`` is final."""
        self.planner.plan_until(t_s + 0.5)

    def state(self, foot: Foot, t_s: F64) -> FootState:
        """True kinematics of the pod at times ``t_s``."""
        t = np.asarray(t_s, dtype=float)
        if t.size:
            self.run_until(float(t.max()))
        return evaluate(self.planner.tracks[foot], t, self._sensor_f[foot])

    def ideal_imu(self, foot: Foot, t_s: F64) -> tuple[F64, F64]:
        """Error-free specific force and angular rate in the sensor frame at any times."""
        return ideal_imu(self.state(foot, t_s), self._r_fs[foot])

    def ideal_counts(self, foot: Foot, t_s: F64) -> tuple[F64, F64]:
        """Error-free signals after saturation and quantisation, in SI units."""
        acc, gyr = self.ideal_imu(foot, t_s)
        al, gl = lsb(self.config.imu)
        return quantise(acc, al) * np.float64(al), quantise(gyr, gl) * np.float64(gl)

    def truth_strides(
        self, foot: Foot | None = None, until_s: float | None = None
    ) -> list[TruthStride]:
        """Strides planned so far (ending by ``until_s`` if given), in order of IC."""
        out = [
            s
            for s in self.planner.flush_truth()
            if (foot is None or s.foot is foot) and (until_s is None or s.end_ic_s <= until_s)
        ]
        return sorted(out, key=lambda s: (s.ic_s, s.foot.value))

    def truth_swings(
        self, foot: Foot | None = None, until_s: float | None = None
    ) -> list[TruthSwing]:
        """Swings planned so far (landing by ``until_s`` if given), in order of toe-off: every
        swing, including the first from standing and the last before a stop."""
        out = [
            s
            for s in self.planner.flush_swings()
            if (foot is None or s.foot is foot) and (until_s is None or s.ic_s <= until_s)
        ]
        return sorted(out, key=lambda s: (s.to_s, s.foot.value))

    def truth_records(self, until_s: float | None = None) -> list[StrideRecord]:
        """The truth as :class:`~gaitcoach.types.StrideRecord`, ordered by stride end."""
        recs = [s.to_record() for s in self.truth_strides(until_s=until_s)]
        return sorted(recs, key=lambda r: (r.end_ic_s, r.foot.value))

    def adjust(self, **deltas: float) -> None:
        """Change the runner's gait from the next planned step on (closed-loop coaching).

        ``deltas`` are additive offsets to profile parameters, e.g. ``cadence_spm=8``; they
        replace earlier adjustments of the same parameter.
        """
        from firmware_sim.params import PARAM_NAMES

        for k, v in deltas.items():
            if k not in PARAM_NAMES or not math.isfinite(v):
                raise ValueError(
                    f"adjust: {k} = {v!r} is invalid; "
                    f"allowed: finite offsets of {', '.join(PARAM_NAMES)}"
                )
        self.planner.adjustments.update(deltas)
