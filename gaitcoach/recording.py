"""Recordings: both feet's IMU samples in a documented directory format, owned by gaitcoach
(``docs/recording-format.md``). gaitcoach reads them (``gaitcoach replay DIR`` analyses one
as if it streamed live) and writes them; the simulator writes its runs through
:func:`write_recording` and adds its truth files beside them.

A directory holds ``meta.json`` and ``imu_<foot>.csv`` per foot; other files (the
simulator's ``truth_*.csv``) are allowed and ignored here.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gaitcoach.jsonenc import dumps
from gaitcoach.types import Foot, ImuChunk

FORMAT = "gaitcoach-recording"
LEGACY_FORMATS = ("gaitcoach-sim-recording",)
"""Earlier names of the same format (read, never written)."""
FORMAT_VERSION = 1
"""Additions since the first recordings are optional, so version 1 still describes them."""
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


class RecordingError(ValueError):
    """A recording directory is missing, corrupt or from a newer format version."""


@dataclass
class ImuRecording:
    """Both feet's IMU data (true time, sensor frame, SI), the sensors' own clocks and the
    metadata (``rate_hz``, ``acc_lsb_mps2``, ``gyr_lsb_radps``, ``feet`` and whatever the
    writer added)."""

    imu: dict[Foot, ImuChunk]
    sensor_time_s: dict[Foot, np.ndarray]
    meta: dict[str, Any]

    @property
    def rate_hz(self) -> float:
        return float(self.meta["rate_hz"])


def write_recording(
    out_dir: str | Path,
    imu: Mapping[Foot, ImuChunk],
    sensor_time_s: Mapping[Foot, np.ndarray],
    meta: Mapping[str, Any],
) -> Path:
    """Write ``meta.json`` (with ``format``, ``format_version`` and ``feet``) and one
    ``imu_<foot>.csv`` per foot; returns the directory.

    ``meta.json`` says the recording is complete: an earlier one in the directory is removed
    first and the new one written last, atomically, after the samples are on disk. A write
    cut off (full disk, crash) leaves no recording that reads, never an earlier
    ``meta.json`` beside new, cut-off samples."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for key in ("rate_hz", "acc_lsb_mps2", "gyr_lsb_radps"):
        if key not in meta:
            raise RecordingError(f"recording meta needs {key}")
    (out / "meta.json").unlink(missing_ok=True)
    for foot, chunk in imu.items():
        data = np.column_stack([chunk.t_s, sensor_time_s[foot], chunk.acc_mps2, chunk.gyr_radps])
        with open(out / f"imu_{foot.value}.csv", "wb") as fh:
            # Times round-trip exactly with 17 digits; samples are whole counts, which 9
            # digits identify (the reader snaps them back onto the count grid).
            np.savetxt(
                fh,
                data,
                delimiter=",",
                header=",".join(IMU_COLUMNS),
                comments="",
                fmt=["%.17g"] * 2 + ["%.9g"] * 6,
            )
            fh.flush()
            os.fsync(fh.fileno())
    full = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **{k: v for k, v in meta.items() if k not in ("format", "format_version")},
        "feet": [f.value for f in imu],
    }
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".meta.json.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(dumps(full, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out / "meta.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def load_recording(path: str | Path) -> ImuRecording:
    """Read a recording directory; a missing, corrupt or newer one is a :class:`RecordingError`
    naming the file."""
    d = Path(path)
    try:
        meta = json.loads((d / "meta.json").read_text())
    except FileNotFoundError:
        raise RecordingError(f"{d}: not a recording (no meta.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{d}/meta.json is corrupt: {exc}") from None
    except OSError as exc:
        raise RecordingError(f"{d}: cannot read meta.json ({exc.strerror})") from None
    if not isinstance(meta, dict):
        raise RecordingError(f"{d}/meta.json is corrupt: not a JSON object")
    if meta.get("format") not in (FORMAT, *LEGACY_FORMATS):
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
    return ImuRecording(imu, sensor_t, meta)
