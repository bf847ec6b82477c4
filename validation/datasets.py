"""Loaders of the real recordings in ``../shared/data`` (read in place, never copied).

Each data set's folder has a README with its source and licence; results on them are
development figures (the sets the engine was tuned on are named in docs/validation.md).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitcoach.frames import G_MPS2
from gaitcoach.types import FloatArray, Foot, ImuChunk

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
"""``../shared/data`` beside the clone (CI has it there too)."""
GAITMAP_RATE_HZ = 204.8
MOCAP_RATE_HZ = 100.0
IPOL_RATE_HZ = 100.0


@dataclass(frozen=True, slots=True)
class MocapStride:
    """One stride of the gaitmap example with motion-capture events (seconds, metres)."""

    foot: Foot
    start_s: float
    """Mid-stance (minimum velocity) that starts the stride."""
    end_s: float
    ic_s: float
    to_s: float
    length_m: float
    """Horizontal heel-marker displacement between the two mid-stances."""


@dataclass(frozen=True, slots=True)
class WalkingReference:
    imu: dict[Foot, ImuChunk]
    strides: list[MocapStride]


def load_gaitmap_walking(folder: Path) -> WalkingReference:
    """Load ``gaitmap-walking`` (IMU in m/s^2 and deg/s, foot frame; mocap in mm)."""
    rows = list(csv.reader((folder / "imu_sample.csv").open()))
    sensors, axes, data = rows[0], rows[1], np.array(rows[2:], dtype=float)
    t = np.arange(len(data)) / GAITMAP_RATE_HZ
    imu: dict[Foot, ImuChunk] = {}
    for foot in (Foot.LEFT, Foot.RIGHT):
        name = f"{foot}_sensor"
        col = {a: i for i, (s, a) in enumerate(zip(sensors, axes, strict=True)) if s == name}
        acc = data[:, [col["acc_x"], col["acc_y"], col["acc_z"]]]
        gyr = np.radians(data[:, [col["gyr_x"], col["gyr_y"], col["gyr_z"]]])
        imu[foot] = ImuChunk(foot, t, acc, gyr)
    mrows = list(csv.reader((folder / "mocap_sample.csv").open()))
    markers, maxes, mdata = mrows[0], mrows[1], np.array(mrows[2:], dtype=float)
    strides: list[MocapStride] = []
    for row in csv.DictReader((folder / "stride_events_sample.csv").open()):
        foot = Foot(row["foot"])
        side = "L" if foot is Foot.LEFT else "R"
        heel = {maxes[i]: i for i, m in enumerate(markers) if m == f"{side}_FCC"}
        xy = mdata[:, [heel["x"], heel["y"]]] / 1000.0
        start_s = float(row["start"]) / GAITMAP_RATE_HZ
        end_s = float(row["end"]) / GAITMAP_RATE_HZ
        i0, i1 = round(start_s * MOCAP_RATE_HZ), round(end_s * MOCAP_RATE_HZ)
        if i1 >= len(xy):
            continue
        strides.append(
            MocapStride(
                foot=foot,
                start_s=start_s,
                end_s=end_s,
                ic_s=float(row["ic"]) / GAITMAP_RATE_HZ,
                to_s=float(row["tc"]) / GAITMAP_RATE_HZ,
                length_m=float(np.hypot(*(xy[i1] - xy[i0]))),
            )
        )
    return WalkingReference(imu=imu, strides=strides)


def load_fuzzy_run(path: Path, foot: Foot = Foot.UNKNOWN) -> ImuChunk:
    """Load one ``fuzzy-run`` CSV (time in ms, acc in g, gyro in deg/s) as SI units.

    Duplicate or backward timestamps are kept: the engine's input checks deal with them.
    """
    data = np.genfromtxt(path, delimiter=",", names=True)
    t = data["time"] / 1000.0
    acc = np.column_stack([data["aX"], data["aY"], data["aZ"]]) * G_MPS2
    gyr = np.radians(np.column_stack([data["gX"], data["gY"], data["gZ"]]))
    return ImuChunk(foot, t.astype(np.float64), acc, gyr)


@dataclass(frozen=True, slots=True)
class IpolTrial:
    """One trial of ``ipol-walking-dev``: stand, walk 10 m, U-turn, walk back, stop."""

    name: str
    subject: int
    age: int
    imu: dict[Foot, ImuChunk]
    events: dict[Foot, FloatArray]
    """Per foot, (K, 2) annotated ``[toe_off, initial_contact]`` times (s) of each swing."""
    trial_s: tuple[float, float]
    """Start and end of the protocol (annotated steps may follow it: walking away)."""
    uturn_s: tuple[float, float]


def load_ipol_trial(folder: Path, name: str) -> IpolTrial:
    """Load one trial of ``ipol-walking-dev`` (``GaitData/<name>.json`` and its two feet).

    Time is the packet counter / 100 Hz (the files lose packets, differently per foot: a
    hole stays a hole, the engine sees it as such); a repeated counter keeps its first row.
    Acceleration is m/s^2 and angular rate rad/s, in the sensor's own frame.
    """
    data = folder / "GaitData"
    meta = json.loads((data / f"{name}.json").read_text())
    imu: dict[Foot, ImuChunk] = {}
    events: dict[Foot, FloatArray] = {}
    for foot, suffix, key in (
        (Foot.LEFT, "lf", "LeftFootEvents"),
        (Foot.RIGHT, "rf", "RightFootEvents"),
    ):
        rows = np.loadtxt(data / f"{name}_{suffix}.txt", skiprows=2, ndmin=2)
        counter = rows[:, 0]
        keep = np.concatenate(([True], np.diff(counter) > 0))
        rows = rows[keep]
        imu[foot] = ImuChunk(
            foot,
            rows[:, 0] / IPOL_RATE_HZ,
            np.ascontiguousarray(rows[:, 1:4]),
            np.ascontiguousarray(rows[:, 4:7]),
        )
        events[foot] = np.array(meta[key], dtype=float).reshape(-1, 2) / IPOL_RATE_HZ
    a, b = meta["TrialBoundaries"]
    u0, u1 = meta["UTurnBoundaries"]
    return IpolTrial(
        name=name,
        subject=int(meta["Subject"]),
        age=int(meta["Age"]),
        imu=imu,
        events=events,
        trial_s=(a / IPOL_RATE_HZ, b / IPOL_RATE_HZ),
        uturn_s=(u0 / IPOL_RATE_HZ, u1 / IPOL_RATE_HZ),
    )


def ipol_trial_names(folder: Path) -> list[str]:
    """Trial names of ``ipol-walking-dev`` in subject, trial order."""
    names = [p.stem for p in (folder / "GaitData").glob("*.json")]
    return sorted(names, key=lambda n: tuple(int(x) for x in n.split("-")))
