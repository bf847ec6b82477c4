"""Simulated recordings: gaitcoach's recording format (``gaitcoach.recording``, written
through its writer) plus the simulator's exact truth of every stride and swing
(``truth_strides.csv``, ``truth_swings.csv``; ``docs/recording-format.md``)."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware_sim.params import ImuSpec, Mounting
from firmware_sim.simulation import FEET, Simulation
from firmware_sim.trajectory import SwingKind, TruthStride, TruthSwing
from gaitcoach.recording import (
    FORMAT,
    FORMAT_VERSION,
    IMU_COLUMNS,
    ImuRecording,
    RecordingError,
    write_recording,
)
from gaitcoach.recording import (
    load_recording as load_imu_recording,
)
from gaitcoach.types import Activity, Foot, ImuChunk

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "IMU_COLUMNS",
    "Recording",
    "RecordingError",
    "load_recording",
    "record",
]

TRUTH_COLUMNS = tuple(f.name for f in dataclasses.fields(TruthStride))
SWING_COLUMNS = tuple(f.name for f in dataclasses.fields(TruthSwing))


@dataclass
class Recording(ImuRecording):
    """A gaitcoach recording (both feet's IMU data, true time, sensor frame, SI) with the
    truth of every stride (``truth``) and of every swing (``swings``; empty when read from a
    recording written before swing truth)."""

    truth: list[TruthStride]
    swings: list[TruthSwing] = field(default_factory=list)

    def mounting(self, foot: Foot) -> Mounting:
        """The pod's mounting on ``foot``."""
        by_foot = self.meta.get("mounting_by_foot")
        m = by_foot[foot.value] if by_foot else self.meta["mounting"]
        return Mounting(**{**m, "position_m": tuple(m["position_m"])})

    def r_fs(self, foot: Foot) -> np.ndarray:
        """Sensor-to-foot rotation (3x3) of the pod on ``foot``."""
        by_foot = self.meta.get("r_fs_by_foot")
        return np.array(by_foot[foot.value] if by_foot else self.meta["r_fs"], dtype=float)

    def save(self, out_dir: str | Path) -> Path:
        out = write_recording(out_dir, self.imu, self.sensor_time_s, self.meta)
        with open(out / "truth_strides.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(TRUTH_COLUMNS)
            for s in self.truth:
                w.writerow([_cell(getattr(s, c)) for c in TRUTH_COLUMNS])
        with open(out / "truth_swings.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(SWING_COLUMNS)
            for sw in self.swings:
                w.writerow([_cell(getattr(sw, c)) for c in SWING_COLUMNS])
        return out


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, Foot | Activity | SwingKind):
        return v.value
    if isinstance(v, float | np.floating):
        return repr(float(v))  # round-trips exactly
    return str(v)


def record(
    profile: str,
    minutes: float,
    rate_hz: float = 208.0,
    seed: int = 0,
    noise: bool = True,
    variability: bool = True,
    imu: ImuSpec | None = None,
    mounting: Mounting | Mapping[Foot, Mounting] | None = None,
) -> Recording:
    """Simulate ``minutes`` of a profile (cut or repeated to that length, standing included).

    ``mounting`` is one for both pods or one per foot (e.g.
    :func:`firmware_sim.mounting.random_mountings`). The recording holds the truth of every
    stride and every swing that ends (at initial contact) by its last sample."""
    from firmware_sim.profiles import get_profile

    if not (0.05 <= minutes <= 24 * 60):
        raise ValueError(f"minutes = {minutes!r} is out of range; allowed 0.05..1440")
    prof = get_profile(profile).with_minutes(minutes)
    prof = dataclasses.replace(prof, name=profile)
    sim = Simulation(prof, seed, rate_hz, noise, variability, imu, mounting)
    duration = minutes * 60.0
    imu_out: dict[Foot, ImuChunk] = {}
    sensor_t: dict[Foot, np.ndarray] = {}
    for foot in FEET:
        pod = sim.pod(foot)
        n = int(duration * pod.rate_hz)
        s = pod.read(n)
        imu_out[foot] = s.to_chunk(foot, pod.acc_lsb_mps2, pod.gyr_lsb_radps)
        sensor_t[foot] = s.t_sensor_s
    end = min(float(c.t_s[-1]) for c in imu_out.values())
    truth = sim.truth_strides(until_s=end)
    swings = sim.truth_swings(until_s=end)
    cfg = sim.config
    same = cfg.mountings[Foot.LEFT] == cfg.mountings[Foot.RIGHT]
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "profile": profile,
        "minutes": minutes,
        "seed": seed,
        "rate_hz": float(rate_hz),
        "noise": noise,
        "variability": variability,
        "imu": dataclasses.asdict(cfg.imu),
        "mounting": dataclasses.asdict(cfg.mountings[Foot.LEFT]) if same else None,
        "r_fs": sim.r_fs_of(Foot.LEFT).tolist() if same else None,
        "acc_lsb_mps2": sim.pod(Foot.LEFT).acc_lsb_mps2,
        "gyr_lsb_radps": sim.pod(Foot.LEFT).gyr_lsb_radps,
        "feet": [f.value for f in FEET],
    }
    if not same:
        meta["mounting_by_foot"] = {
            f.value: dataclasses.asdict(m) for f, m in cfg.mountings.items()
        }
        meta["r_fs_by_foot"] = {f.value: sim.r_fs_of(f).tolist() for f in FEET}
    return Recording(imu_out, sensor_t, meta, truth, swings)


_ENUM_FIELDS: dict[str, type[Foot] | type[Activity] | type[SwingKind]] = {
    "foot": Foot,
    "activity": Activity,
    "kind": SwingKind,
}


def _from_row(cls: type[Any], row: dict[str, str]) -> Any:
    """A truth record (``TruthStride`` or ``TruthSwing``) from its CSV row."""
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        v = row[f.name]
        if f.name in _ENUM_FIELDS:
            kw[f.name] = _ENUM_FIELDS[f.name](v)
        elif f.name == "index":
            kw[f.name] = int(v)
        else:
            kw[f.name] = None if v == "" else float(v)
    return cls(**kw)


def load_recording(path: str | Path) -> Recording:
    """Read a recording directory with its truth; a missing, corrupt or newer one is a
    :class:`RecordingError`."""
    d = Path(path)
    base = load_imu_recording(d)
    truth = _read_truth(d / "truth_strides.csv", TruthStride, "truth")
    swings = _read_truth(d / "truth_swings.csv", TruthSwing, "swing truth")
    return Recording(base.imu, base.sensor_time_s, base.meta, truth, swings)


def _read_truth(path: Path, cls: type[Any], what: str) -> list[Any]:
    """The records of a truth file (none when it is missing: swings of older recordings)."""
    if not path.exists():
        return []
    try:
        with open(path, newline="") as fh:
            return [_from_row(cls, r) for r in csv.DictReader(fh)]
    except (KeyError, ValueError) as exc:
        raise RecordingError(f"{path}: corrupt {what}: {exc}") from None
