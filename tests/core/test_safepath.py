"""Paths built from data stay inside their directory (issue 14, path traversal over MQTT)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gaitcoach.safepath import (
    UnsafePathError,
    check_session_id,
    inside,
    is_session_id,
    write_text_inside,
)
from gaitcoach.session import Recorder
from gaitcoach.session.recorder import SessionExistsError, new_session_id

ODD_IDS = [
    "",
    ".",
    "..",
    "../../etc/cron.d/x",
    "/tmp/evil",
    "a/b",
    "a\\b",
    "x\x00y",
    "-rf",
    "_x",
    "with space",
    "x.html",
    "caf\u00e9",
    "\u202eltr",
    "\ud800",
    "a" * 65,
    "line\nbreak",
]


@pytest.mark.parametrize("value", ODD_IDS)
def test_odd_session_ids_are_refused(value: str) -> None:
    assert not is_session_id(value)
    with pytest.raises(UnsafePathError):
        check_session_id(value)


@pytest.mark.parametrize("value", ["a", "run-1", "R_2", "9" * 64, new_session_id()])
def test_plain_session_ids_pass(value: str) -> None:
    assert check_session_id(value) == value


def test_inside_refuses_absolute_dotdot_and_separators(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    for parts in (
        ("/etc/passwd",),
        ("..", "x"),
        ("reports", "../../x.html"),
        ("reports", ".."),
        ("a/b",),
        ("",),
        ("x\x00",),
        (),
    ):
        with pytest.raises(UnsafePathError):
            inside(root, *parts)
    assert inside(root, "reports", "run-1.html") == root.resolve() / "reports" / "run-1.html"


def test_symlinks_out_of_the_directory_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    # A folder under the root that leads out of it ...
    (root / "reports").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside"):
        write_text_inside(root, ("reports", "run-1.html"), "x")
    assert list(outside.iterdir()) == []
    (root / "reports").unlink()
    # ... and a file name planted as a link to a file elsewhere.
    (root / "reports").mkdir()
    victim = outside / "victim.txt"
    victim.write_text("keep me")
    (root / "reports" / "run-1.html").symlink_to(victim)
    with pytest.raises(UnsafePathError):
        write_text_inside(root, ("reports", "run-1.html"), "x")
    assert victim.read_text() == "keep me"
    # A symlinked data directory itself is the operator's choice and works.
    link = tmp_path / "data-link"
    link.symlink_to(root, target_is_directory=True)
    path = write_text_inside(link, ("reports", "run-2.html"), "<html>")
    assert (root / "reports" / "run-2.html").read_text() == "<html>"
    assert path.resolve().is_relative_to(root.resolve())


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = write_text_inside(tmp_path, ("reports", "a.html"), "one")
    write_text_inside(tmp_path, ("reports", "a.html"), "two")
    assert path.read_text() == "two"
    assert sorted(os.listdir(tmp_path / "reports")) == ["a.html"]


def test_recorder_refuses_odd_ids_before_touching_the_disk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for value in ("../escape", "/tmp/x", "a/b", ".."):
        with pytest.raises(UnsafePathError):
            Recorder(data, session_id=value)
    assert not data.exists()
    with Recorder(data, session_id="run-1"):
        pass
    with pytest.raises(SessionExistsError, match="run-1 already exists"):
        Recorder(data, session_id="run-1")


def test_export_never_names_a_file_outside_the_current_folder_after_a_stored_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from gaitcoach.cli import main

    data = tmp_path / "data"
    with Recorder(data, session_id="run-1"):
        pass
    # A store written before ids were checked may hold any id.
    with sqlite3.connect(data / "sessions.sqlite") as db:
        db.execute("UPDATE sessions SET id = '../escape' WHERE id = 'run-1'")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["export", "../escape", "--data-dir", str(data), "--format", "csv"]) == 2
    assert "--output" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "work"]
    assert list(work.iterdir()) == []
    out = work / "mine.csv"
    assert (
        main(["export", "../escape", "--data-dir", str(data), "--format", "csv", "-o", str(out)])
        == 0
    )
    assert out.exists()


def test_the_storage_probe_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    # The probe's name used to be .write-probe-<pid>: predictable by anyone who can write
    # into the data directory, and opened following symlinks (truncated, then "x").
    planted = data / f".write-probe-{os.getpid()}"
    planted.symlink_to(victim)
    with Recorder(data, session_id="run-1"):
        pass
    assert victim.read_text() == "keep me"
    assert planted.is_symlink()
    assert not [p for p in data.iterdir() if p.name.startswith(".write-probe-") and p != planted]
