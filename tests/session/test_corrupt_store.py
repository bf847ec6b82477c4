"""Semantically corrupted stores (valid SQLite, invalid values) through the real command line:
one clear line and a non-zero exit, never a traceback; no read command modifies a store."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gaitcoach.cli import main
from gaitcoach.session.recorder import ImuScale, Recorder
from gaitcoach.session.store import DB_NAME
from gaitcoach.types import CueKind, Foot, Gap, LinkEvent, LinkState
from tests.session import factory

CORRUPTIONS = {
    "unknown status": "UPDATE sessions SET status = 'paused'",
    "text start time": "UPDATE sessions SET first_t_s = 'soon'",
    "text leg length": "UPDATE sessions SET leg_length_m = 'long'",
    "bad config json": "UPDATE sessions SET config_json = '{not json'",
    "config json array": "UPDATE sessions SET config_json = '[1, 2]'",
    "unknown activity": "UPDATE strides SET activity = 'flying' WHERE seq % 7 = 3",
    "unknown foot": "UPDATE strides SET foot = 'middle' WHERE seq % 5 = 1",
    "unknown strike": "UPDATE strides SET strike_pattern = 'toe' WHERE seq % 5 = 2",
    "null cadence": "UPDATE strides SET cadence_spm = NULL WHERE seq % 9 = 4",
    "text cadence": "UPDATE strides SET cadence_spm = 'fast' WHERE seq % 9 = 4",
    "text contact time": "UPDATE strides SET contact_time_s = 'short'",
    "text stride length": "UPDATE strides SET stride_length_m = 'long'",
    "text index": "UPDATE strides SET idx = 'first'",
    "unknown cue kind": "UPDATE cues SET kind = 'louder'",
    "bad cue trigger json": "UPDATE cues SET trigger_json = '{\"cadence_spm\": '",
    "cue trigger not numbers": 'UPDATE cues SET trigger_json = \'{"cadence_spm": "x"}\'',
    "cue trigger list": "UPDATE cues SET trigger_json = '[]'",
    "text cue priority": "UPDATE cues SET priority = 'high'",
    "bad command json": "UPDATE commands SET args_json = 'start('",
    "text command time": "UPDATE commands SET t_s = 'now'",
    "unknown link state": "UPDATE events SET state = 'teleported'",
    "text rssi": "UPDATE events SET rssi_dbm = 'strong'",
    "text discomfort score": "UPDATE discomfort SET score = 'bad'",
    "text gap loss": "UPDATE gaps SET lost_samples = 'many'",
    "unknown gap foot": "UPDATE gaps SET foot = 'tail'",
    "text chunk length": "UPDATE chunks SET n = 'x'",
    "text chunk scale": "UPDATE chunks SET acc_scale = 'x'",
    "zero chunk scale": "UPDATE chunks SET gyr_scale = 0",
}

READS = (
    ("sessions",),
    ("sessions", "--json"),
    ("summary", "latest"),
    ("summary", "latest", "--json", "-"),
    ("replay", "latest", "--quiet"),
    ("history",),
    ("history", "--json"),
    ("export", "latest", "--format", "csv", "-o", "{out}/s.csv"),
    ("export", "latest", "--format", "fit", "-o", "{out}/s.fit"),
)


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One session with every kind of row: strides, cues, commands, events, gaps, raw chunks."""
    d = tmp_path_factory.mktemp("base") / "data"
    strides = factory.strides(factory.OVERSTRIDER, 3.0)
    scale = ImuScale(factory.ACC_LSB, factory.GYR_LSB)
    with Recorder(
        d,
        runner="ann",
        started_utc=datetime(2026, 11, 2, 7, tzinfo=UTC),
        scales={Foot.LEFT: scale, Foot.RIGHT: scale},
    ) as rec:
        for i in range(4):
            rec.add_chunk(factory.chunk(Foot.LEFT, i * 0.5, 104, seed=i))
            rec.add_chunk(factory.chunk(Foot.RIGHT, i * 0.5, 104, seed=10 + i))
        rec.add_gap(Gap(Foot.LEFT, 2.0, 2.5, 104, "packet loss"))
        rec.add_event(LinkEvent(0.0, Foot.LEFT, "AA:BB", LinkState.STREAMING, "", -60, 90))
        rec.add_command(1.0, "targets", {"cadence_spm": [170, 180]})
        rec.add_cue(factory.cue(CueKind.CADENCE, 30.0, {"cadence_spm": 160.0}))
        rec.add_discomfort(factory.discomfort(40.0, 3))
        for s in strides:
            rec.add_stride(s)
    return d


def _digest(d: Path) -> dict[str, str]:
    """The store's content: the database and a non-empty write-ahead log (SQLite's readers
    create an empty log and its shared-memory index; neither holds data)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(d.iterdir())
        if not p.name.endswith("-shm") and p.stat().st_size > 0
    }


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupt_values_are_one_line_never_a_traceback(
    name: str, base_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    shutil.copytree(base_store, d)
    conn = sqlite3.connect(d / DB_NAME)
    assert conn.execute(CORRUPTIONS[name]).rowcount > 0
    conn.commit()
    conn.close()
    before = _digest(d)
    failures = 0
    for argv in READS:
        args = [a.format(out=tmp_path) for a in argv]
        code = main([*args, "--data-dir", str(d)])  # any exception fails the test
        out = capsys.readouterr()
        if code != 0:
            failures += 1
            lines = out.err.splitlines()
            assert len(lines) == 1, (args, out.err)
    # Whatever reads the corrupted value says so: summary and export read every table but
    # the raw chunks, which replay reads.
    assert failures >= (1 if "chunk" in name else 2), name
    assert _digest(d) == before, "a read command modified the store"


def test_read_commands_leave_a_healthy_store_unchanged(
    base_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    shutil.copytree(base_store, d)
    before = _digest(d)
    for argv in READS:
        main([*(a.format(out=tmp_path) for a in argv), "--data-dir", str(d)])
    capsys.readouterr()
    assert _digest(d) == before
