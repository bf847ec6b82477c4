"""The session commands through gaitcoach's real command line, on real files."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest

from gaitcoach.cli import main
from gaitcoach.session.recorder import Recorder
from gaitcoach.session.store import DB_NAME, FORMAT_VERSION, SessionStore
from gaitcoach.types import StrideRecord
from tests.session import factory

ROOT = Path(__file__).parents[2]
SCHEMA = json.loads((ROOT / "gaitcoach" / "data" / "schemas" / "summary.schema.json").read_text())


def add_run(
    data_dir: Path, runner: factory.Runner, minutes: float, started: datetime, seed: int = 0
) -> tuple[str, list[StrideRecord]]:
    strides = factory.strides(runner, minutes, seed=seed)
    with Recorder(data_dir, runner="ann", started_utc=started) as rec:
        for s in strides:
            rec.add_stride(s)
        return rec.session_id, strides


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sessions_summary_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "data")
    sid, strides = add_run(Path(d), factory.OVERSTRIDER, 6.0, datetime(2026, 11, 2, 7, tzinfo=UTC))
    code, out, _ = run(capsys, "sessions", "--data-dir", d)
    assert code == 0 and sid in out and "complete" in out

    html, js = tmp_path / "r.html", tmp_path / "s.json"
    code, out, _ = run(
        capsys, "summary", sid[:12], "--data-dir", d, "--html", str(html), "--json", str(js)
    )
    assert code == 0 and "Technique" in out and "not a medical diagnosis" in out
    summary = json.loads(js.read_text())
    jsonschema.validate(summary, SCHEMA)
    assert summary["session_id"] == sid and html.read_text().count("data:image/png") == 5

    for fmt in ("csv", "parquet"):
        target = tmp_path / f"strides.{fmt}"
        code, out, _ = run(
            capsys, "export", sid, "--data-dir", d, "--format", fmt, "-o", str(target)
        )
        assert code == 0 and f"wrote {len(strides)} strides" in out
    table = pq.read_table(tmp_path / "strides.parquet").to_pylist()
    with open(tmp_path / "strides.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(table) == len(rows) == len(strides)
    for got, row, want in zip(table, rows, strides, strict=True):
        assert got["cadence_spm"] == want.cadence_spm == float(row["cadence_spm"])
        assert got["foot"] == row["foot"] == want.foot.value
        assert got["index"] == int(row["index"]) == want.index


def test_history_trends_load_and_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "data"
    start = datetime(2026, 10, 1, 7, tzinfo=UTC)
    # Five weekly runs, cadence rising 2 steps/min a week; then a big week.
    for week in range(5):
        r = factory.Runner(cadence_spm=166.0 + 2 * week, noise=0.002)
        add_run(d, r, 8.0, start + timedelta(weeks=week), seed=week)
    for day in range(3):
        r = factory.Runner(cadence_spm=176.0, noise=0.002)
        add_run(d, r, 20.0, start + timedelta(weeks=5, days=day), seed=10 + day)
    code, out, _ = run(
        capsys, "history", "--data-dir", str(d), "--json", "--html", str(tmp_path / "h.html")
    )
    assert code == 0
    h = json.loads(out)
    assert len(h["runs"]) == 8
    cad = next(t for t in h["trends"] if t["metric"] == "cadence_spm")
    assert cad["slope_per_week"] == pytest.approx(2.0, abs=0.5)
    base = next(b for b in h["baseline"] if b["metric"] == "cadence_spm")
    assert base["latest"] == pytest.approx(176.0, abs=1.0)
    assert base["baseline"] == pytest.approx(172.0, abs=2.0)
    weeks = h["weeks"]
    assert len(weeks) == 6 and weeks[-1]["runs"] == 3
    assert weeks[-1]["time_s"] == pytest.approx(3 * 1200.0, rel=0.02)
    assert (tmp_path / "h.html").read_text().count("data:image/png") == 2
    # The big week shows in the advice: load rose quickly.
    code, out, _ = run(capsys, "summary", "latest", "--data-dir", str(d))
    assert "Low-impact cross-training" in out and "running load rose quickly" in out
    code, out, _ = run(capsys, "history", "--data-dir", str(d))
    assert code == 0 and "weekly load" in out and "latest vs baseline" in out


def test_errors_are_one_line_and_nonzero(tmp_path: Path) -> None:
    d = tmp_path / "data"
    add_run(d, factory.EFFICIENT, 1.0, datetime(2026, 11, 2, 7, tzinfo=UTC))

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gaitcoach", *argv, "--data-dir", str(d)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )

    res = cli("summary", "nope")
    assert (
        res.returncode == 2
        and res.stderr == "gaitcoach: unknown session 'nope' (see 'gaitcoach sessions')\n"
    )
    res = cli("replay", "latest")
    assert res.returncode == 2 and "no raw samples" in res.stderr and res.stderr.count("\n") == 1

    conn = sqlite3.connect(d / DB_NAME)
    conn.execute(f"PRAGMA user_version = {FORMAT_VERSION + 1}")
    conn.commit()
    conn.close()
    res = cli("export", "latest", "--format", "csv")
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "newer than the supported" in res.stderr

    (d / DB_NAME).write_bytes(b"\0garbage" * 512)
    for name in ("-wal", "-shm"):
        (d / (DB_NAME + name)).unlink(missing_ok=True)
    res = cli("sessions")
    assert res.returncode == 2 and "corrupt" in res.stderr and res.stderr.count("\n") == 1


def test_store_lists_runs_of_one_runner(tmp_path: Path) -> None:
    d = tmp_path / "data"
    add_run(d, factory.EFFICIENT, 0.5, datetime(2026, 11, 2, 7, tzinfo=UTC))
    with Recorder(d, runner="bob"):
        pass
    with SessionStore(d) as store:
        assert [s.runner for s in store.list_sessions("ann")] == ["ann"]
        assert len(store.list_sessions()) == 2


def test_fit_export_reads_back_with_garmins_sdk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from garmin_fit_sdk import Decoder, Stream

    d = str(tmp_path / "data")
    sid, strides = add_run(Path(d), factory.EFFICIENT, 3.0, datetime(2026, 11, 2, 7, tzinfo=UTC))
    out = tmp_path / "run.fit"
    code, text, _ = run(capsys, "export", sid, "--data-dir", d, "--format", "fit", "-o", str(out))
    assert code == 0 and f"wrote {len(strides)} strides" in text
    assert Decoder(Stream.from_file(str(out))).check_integrity()
    msgs, errors = Decoder(Stream.from_file(str(out))).read()
    assert errors == []
    names = [m["field_name"] for m in msgs["field_description_mesgs"]]
    assert names == ["cadence_spm", "foot_strike_angle", "overstride", "flight_time", "peak_impact"]
    records = msgs["record_mesgs"]
    assert 170 <= len(records) <= 181  # one per second with strides
    [session] = msgs["session_mesgs"]
    assert session["sport"] == "running"
    left = sum(s.stride_length_m or 0 for s in strides if s.foot.value == "left")
    assert session["total_distance"] == pytest.approx(left, rel=0.02)
    # A record's values are the medians of the strides that ended in its second.
    t0 = min(s.ic_s for s in strides)
    rec = records[60]
    stamp = rec["timestamp"]
    assert isinstance(stamp, datetime)
    second = int((stamp - datetime(2026, 11, 2, 7, tzinfo=UTC)).total_seconds())
    group = [s for s in strides if int(s.end_ic_s - t0) == second]
    cad = sorted(s.cadence_spm for s in group)
    want_cad = (cad[(len(cad) - 1) // 2] + cad[len(cad) // 2]) / 2
    assert rec["developer_fields"][0] == pytest.approx(want_cad, rel=1e-5)
    assert 2 * (rec["cadence"] + rec["fractional_cadence"]) == pytest.approx(want_cad, abs=0.02)
    angles = sorted(s.foot_strike_angle_deg or 0 for s in group)
    want_angle = (angles[(len(angles) - 1) // 2] + angles[len(angles) // 2]) / 2
    assert rec["developer_fields"][1] == pytest.approx(want_angle, abs=1e-4)
