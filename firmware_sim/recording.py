"""Simulated recordings: both feet's IMU samples plus the exact truth, written to and read
from a documented directory format (``docs/recording-format.md``)."""

from __future__ import annotations

import csv
import dataclasses
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware_sim.params import ImuSpec, Mounting
from firmware_sim.simulation import FEET, Simulation
from firmware_sim.trajectory import SwingKind, TruthStride, TruthSwing
from gaitcoach.types import Activity, Foot, ImuChunk

FORMAT = "gaitcoach-sim-recording"
FORMAT_VERSION = 1
"""Additions since the first recordings are optional, so version 1 still describes them:
``truth_swings.csv`` (missing = no swing truth) and ``mounting_by_foot`` / ``r_fs_by_foot``
(written only when the feet's mountings differ; ``mounting`` and ``r_fs`` are then null, so a
reader that knows only those fails instead of using one pod's mounting for both)."""
IMU_COLUMNS = (
    "t_s",
    "t_sensor_s",
    "acc_x_mps2",
    "acc_y_mps2",
    "acc_z_mps2",
    "gyr_x_radps",
    "gyr_y_radps",
    "gyr_z_radps",
)
TRUTH_COLUMNS = tuple(f.name for f in dataclasses.fields(TruthStride))
SWING_COLUMNS = tuple(f.name for f in dataclasses.fields(TruthSwing))


class RecordingError(ValueError):
    """A recording directory is missing, corrupt or from a newer format version."""


@dataclass
class Recording:
    """Both feet's IMU data (true time, sensor frame, SI), the truth of every stride
    (``truth``) and of every swing (``swings``; empty when read from a recording written
    before swing truth)."""

    imu: dict[Foot, ImuChunk]
    sensor_time_s: dict[Foot, np.ndarray]
    truth: list[TruthStride]
    meta: dict[str, Any]
    swings: list[TruthSwing] = field(default_factory=list)

    @property
    def rate_hz(self) -> float:
        return float(self.meta["rate_hz"])

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
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for foot, chunk in self.imu.items():
            data = np.column_stack(
                [chunk.t_s, self.sensor_time_s[foot], chunk.acc_mps2, chunk.gyr_radps]
            )
            # Times round-trip exactly with 17 digits; samples are whole counts, which 9
            # digits identify (the reader snaps them back onto the count grid).
            np.savetxt(
                out / f"imu_{foot.value}.csv",
                data,
                delimiter=",",
                header=",".join(IMU_COLUMNS),
                comments="",
                fmt=["%.17g"] * 2 + ["%.9g"] * 6,
            )
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
        (out / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")
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
    return Recording(imu_out, sensor_t, truth, meta, swings)


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
    """Read a recording directory; a missing, corrupt or newer one is a :class:`RecordingError`."""
    d = Path(path)
    try:
        meta = json.loads((d / "meta.json").read_text())
    except FileNotFoundError:
        raise RecordingError(f"{d}: not a recording (no meta.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{d}/meta.json is corrupt: {exc}") from None
    if not isinstance(meta, dict):
        raise RecordingError(f"{d}/meta.json is corrupt: not a JSON object")
    if meta.get("format") != FORMAT:
        raise RecordingError(f"{d}: meta.json format is {meta.get('format')!r}, not {FORMAT!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RecordingError(
            f"{d}: recording format version {version!r} is newer than this gaitcoach reads "
            f"({FORMAT_VERSION}); upgrade gaitcoach"
        )
    feet = meta.get("feet")
    if not isinstance(feet, list) or not feet or len(set(map(str, feet))) != len(feet):
        raise RecordingError(f"{d}/meta.json: feet = {feet!r}; expected a list of left, right")
    lsbs: list[Any] = [meta.get(k) for k in ("acc_lsb_mps2", "gyr_lsb_radps")]
    for key, lsb in zip(("acc_lsb_mps2", "gyr_lsb_radps"), lsbs, strict=True):
        # An LSB of 0 (or none) would turn every sample into NaN when snapped to the grid.
        if isinstance(lsb, bool) or not isinstance(lsb, int | float) or not 0 < lsb < 1e3:
            raise RecordingError(f"{d}/meta.json: {key} = {lsb!r}; expected a positive number")
    imu: dict[Foot, ImuChunk] = {}
    sensor_t: dict[Foot, np.ndarray] = {}
    for name in feet:
        if name not in (Foot.LEFT.value, Foot.RIGHT.value):
            raise RecordingError(f"{d}/meta.json: foot {name!r} is not left or right")
        foot = Foot(name)
        f = d / f"imu_{foot.value}.csv"
        try:
            with open(f) as fh:
                header = fh.readline().strip().split(",")
                if tuple(header) != IMU_COLUMNS:
                    raise RecordingError(f"{f}: unexpected columns {header}")
                with warnings.catch_warnings():  # an empty file is reported below, not warned
                    warnings.simplefilter("ignore", UserWarning)
                    data = np.loadtxt(fh, delimiter=",", ndmin=2)
        except (OSError, ValueError) as exc:
            if isinstance(exc, RecordingError):
                raise
            raise RecordingError(f"{f}: cannot read IMU samples: {exc}") from None
        if data.shape[0] == 0:
            raise RecordingError(f"{f}: no IMU samples")
        if data.shape[1] != len(IMU_COLUMNS) or not np.isfinite(data).all():
            raise RecordingError(f"{f}: corrupt IMU samples")
        for col, label in ((0, "t_s"), (1, "t_sensor_s")):
            back = np.flatnonzero(np.diff(data[:, col]) <= 0)
            if back.size:
                row = int(back[0]) + 3  # header + 1-based rows
                raise RecordingError(f"{f}: {label} does not increase at row {row}")
        acc_lsb, gyr_lsb = float(lsbs[0]), float(lsbs[1])
        imu[foot] = ImuChunk(
            foot,
            data[:, 0].copy(),
            np.rint(data[:, 2:5] / acc_lsb) * acc_lsb,
            np.rint(data[:, 5:8] / gyr_lsb) * gyr_lsb,
        )
        sensor_t[foot] = data[:, 1].copy()
    truth = _read_truth(d / "truth_strides.csv", TruthStride, "truth")
    swings = _read_truth(d / "truth_swings.csv", TruthSwing, "swing truth")
    return Recording(imu, sensor_t, truth, meta, swings)


def _read_truth(path: Path, cls: type[Any], what: str) -> list[Any]:
    """The records of a truth file (none when it is missing: swings of older recordings)."""
    if not path.exists():
        return []
    try:
        with open(path, newline="") as fh:
            return [_from_row(cls, r) for r in csv.DictReader(fh)]
    except (KeyError, ValueError) as exc:
        raise RecordingError(f"{path}: corrupt {what}: {exc}") from None
