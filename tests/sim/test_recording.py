"""Recordings are written to documented files and read back exactly; bad ones are refused."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gaitcoach.recording as recording
from firmware_sim.recording import RecordingError, load_recording, record
from gaitcoach.types import Foot


def test_round_trip(tmp_path: Path) -> None:
    rec = record("walk-run", 0.5, 104, seed=3)
    rec.save(tmp_path / "r")
    back = load_recording(tmp_path / "r")
    for foot in (Foot.LEFT, Foot.RIGHT):
        a, b = rec.imu[foot], back.imu[foot]
        assert np.array_equal(a.t_s, b.t_s)
        assert np.array_equal(a.acc_mps2, b.acc_mps2)
        assert np.array_equal(a.gyr_radps, b.gyr_radps)
        assert np.array_equal(rec.sensor_time_s[foot], back.sensor_time_s[foot])
        # values are whole counts of the stated scale
        counts = b.acc_mps2 / back.meta["acc_lsb_mps2"]
        assert np.allclose(counts, np.round(counts), atol=1e-6)
    assert back.truth == rec.truth
    assert back.meta["profile"] == "walk-run" and back.rate_hz == 104.0


def test_cli_record(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "firmware_sim",
            "record",
            "--profile",
            "forefoot",
            "--minutes",
            "0.25",
            "--rate",
            "416",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "strides of truth" in p.stdout
    rec = load_recording(out)
    assert len(rec.imu[Foot.LEFT]) == 416 * 15
    assert {s.foot for s in rec.truth} == {Foot.LEFT, Foot.RIGHT}


def test_refuses_newer_missing_and_corrupt(tmp_path: Path) -> None:
    rec = record("forefoot", 0.1, 104)
    d = rec.save(tmp_path / "r")
    meta = json.loads((d / "meta.json").read_text())
    meta["format_version"] = 99
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RecordingError, match="newer"):
        load_recording(d)
    with pytest.raises(RecordingError, match="not a recording"):
        load_recording(tmp_path / "missing")
    meta["format_version"] = 1
    (d / "meta.json").write_text(json.dumps(meta))
    (d / "imu_left.csv").write_text("t_s,bad\n1,2\n")
    with pytest.raises(RecordingError, match="unexpected columns"):
        load_recording(d)


BAD_RECORDINGS = {
    "acc LSB 0": (lambda m: m.update(acc_lsb_mps2=0), None, "acc_lsb_mps2 = 0"),
    "gyr LSB text": (lambda m: m.update(gyr_lsb_radps="tiny"), None, "gyr_lsb_radps"),
    "LSB missing": (lambda m: m.pop("acc_lsb_mps2"), None, "acc_lsb_mps2 = None"),
    "no feet": (lambda m: m.update(feet=[]), None, "feet = []"),
    "feet missing": (lambda m: m.pop("feet"), None, "feet = None"),
    "unknown foot": (lambda m: m.update(feet=["left", "tail"]), None, "'tail'"),
    "meta not an object": (None, "meta", "not a JSON object"),
    "time backwards": (None, "backwards", "t_s does not increase at row"),
    "no samples": (None, "empty", "no IMU samples"),
}


@pytest.mark.parametrize("case", list(BAD_RECORDINGS))
def test_replay_refuses_bad_recordings_in_one_line(
    case: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`gaitcoach replay DIR` on a recording it cannot trust: one line, exit 2, no session
    (an LSB of 0, no feet or time running backwards were once NaN samples or accepted)."""
    d = record("forefoot", 0.05, 104).save(tmp_path / "r")
    edit_meta, edit_imu, needle = BAD_RECORDINGS[case]
    meta = json.loads((d / "meta.json").read_text())
    if edit_meta is not None:
        edit_meta(meta)
    (d / "meta.json").write_text(json.dumps([meta] if edit_imu == "meta" else meta))
    f = d / "imu_left.csv"
    lines = f.read_text().splitlines()
    if edit_imu == "backwards":
        lines[40], lines[41] = lines[41], lines[40]
    elif edit_imu == "empty":
        lines = lines[:1]
    f.write_text("\n".join(lines) + "\n")
    data = tmp_path / "data"
    p = subprocess.run(
        [sys.executable, "-m", "gaitcoach", "replay", str(d), "--quiet", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert needle in p.stderr, p.stderr
    assert not data.exists(), "a refused recording left a store behind"


def test_a_write_cut_off_never_leaves_a_recording_that_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up while a recording is written over an earlier one: the directory held
    the earlier meta.json beside the new, cut-off samples of one foot (and the earlier ones of
    the other), which read as a valid, silently wrong recording. Now it is no recording until
    meta.json, written last, says it is complete."""
    out = tmp_path / "r"
    record("efficient-midfoot", 0.3, 104, seed=1).save(out)
    new = record("walk-run", 0.4, 104, seed=2)
    real = recording.np.savetxt

    def disk_full(fname: Any, data: np.ndarray, **kwargs: Any) -> None:
        real(fname, data[: len(data) // 2], **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recording.np, "savetxt", disk_full)
    with pytest.raises(OSError):
        new.save(out)
    monkeypatch.undo()
    with pytest.raises(RecordingError, match=r"no meta\.json"):
        load_recording(out)
    new.save(out)  # space freed: written again in full
    assert np.array_equal(load_recording(out).imu[Foot.LEFT].t_s, new.imu[Foot.LEFT].t_s)
