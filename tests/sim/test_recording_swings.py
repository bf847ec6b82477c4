"""Recordings with per-swing truth and a mounting per foot, saved and read back exactly;
recordings written before them (no swing truth, one mounting) are still read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware_sim.mounting import random_mountings
from firmware_sim.recording import FORMAT_VERSION, RecordingError, load_recording, record
from firmware_sim.trajectory import SwingKind
from gaitcoach.types import Foot

FEET = (Foot.LEFT, Foot.RIGHT)


def test_swings_and_mountings_round_trip(tmp_path: Path) -> None:
    mounts = random_mountings(3)
    rec = record("start-stop", 0.5, 104, seed=3, mounting=mounts)
    assert rec.meta["format_version"] == FORMAT_VERSION == 1
    # One mounting per foot: the single-mounting keys are null, not one pod's.
    assert rec.meta["mounting"] is None and rec.meta["r_fs"] is None
    assert set(rec.meta["mounting_by_foot"]) == set(rec.meta["r_fs_by_foot"]) == {"left", "right"}
    d = rec.save(tmp_path / "r")
    assert (d / "truth_swings.csv").exists()
    back = load_recording(d)
    assert back.swings == rec.swings
    assert back.truth == rec.truth
    for foot in FEET:
        assert back.mounting(foot) == mounts[foot]
        assert np.array_equal(back.r_fs(foot), rec.r_fs(foot))
        assert np.array_equal(back.imu[foot].acc_mps2, rec.imu[foot].acc_mps2)


def test_recording_has_the_first_and_last_swings_of_each_walk() -> None:
    rec = record("start-stop", 1.0, 104, seed=1)
    end = min(float(c.t_s[-1]) for c in rec.imu.values())
    assert rec.swings and all(s.ic_s <= end for s in rec.swings)
    for foot in FEET:
        mine = [s for s in rec.swings if s.foot is foot]
        kinds = [s.kind for s in mine]
        assert kinds[0] is SwingKind.INITIATION
        # Four full walks in the first minute: each starts and ends with its own swing.
        assert kinds.count(SwingKind.INITIATION) >= 4
        assert kinds.count(SwingKind.TERMINATION) >= 4
        # Strides cover every swing but the first of each walk.
        strides = [s for s in rec.truth if s.foot is foot]
        assert len(mine) == len(strides) + kinds.count(SwingKind.INITIATION)


def test_recordings_without_swing_truth_are_still_read(tmp_path: Path) -> None:
    rec = record("forefoot", 0.1, 104, seed=2)
    # The same mounting on both feet: the metadata keeps its first layout.
    assert "mounting_by_foot" not in rec.meta and len(rec.meta["r_fs"]) == 3
    d = rec.save(tmp_path / "old")
    (d / "truth_swings.csv").unlink()  # as written before swing truth
    old = load_recording(d)
    assert old.swings == []
    assert old.truth == rec.truth
    for foot in FEET:
        assert old.mounting(foot) == rec.mounting(foot)
        assert np.array_equal(old.r_fs(foot), np.array(rec.meta["r_fs"]))


def test_corrupt_swing_truth_is_refused(tmp_path: Path) -> None:
    d = record("u-turns", 0.1, 104).save(tmp_path / "r")
    (d / "truth_swings.csv").write_text("foot,index\nleft,x\n")
    with pytest.raises(RecordingError, match=r"truth_swings\.csv: corrupt swing truth"):
        load_recording(d)


def test_cli_random_mounting(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "firmware_sim",
            "record",
            "--profile",
            "u-turns",
            "--minutes",
            "0.1",
            "--rate",
            "104",
            "--seed",
            "4",
            "--random-mounting",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rec = load_recording(out)
    mounts = random_mountings(4)
    assert [rec.mounting(f) for f in FEET] == [mounts[f] for f in FEET]
