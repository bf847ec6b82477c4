"""The session commands through gaitcoach's real command line, on real files."""

from __future__ import annotations

import csv
import dataclasses
import json
import sqlite3
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    assert code == 0 and "weekly load" in out and "this run vs your usual" in out


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


def test_fit_export_is_a_complete_activity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read back with an independent decoder (fitdecode, not the encoder's library): records,
    km laps with averages, the session's averages, device info, the timer paused in a gap."""
    import fitdecode

    d = tmp_path / "data"
    sid, strides = add_run(d, factory.EFFICIENT, 3.0, datetime(2026, 11, 2, 7, tzinfo=UTC))
    out = tmp_path / "run.fit"
    code, text, _ = run(capsys, "export", sid, "--data-dir", str(d), "-o", str(out))
    assert code == 0 and f"wrote {len(strides)} strides" in text and "FIT" in text
    frames: dict[str, list[dict[str, Any]]] = {}
    with fitdecode.FitReader(str(out), check_crc=fitdecode.CrcCheck.RAISE) as fit:
        for frame in fit:
            if isinstance(frame, fitdecode.FitDataMessage):
                values = {f.name: f.value for f in frame.fields}
                frames.setdefault(frame.name, []).append(values)
    assert frames["file_id"][0]["type"] == "activity"
    assert {d["product_name"] for d in frames["device_info"]} == {
        "gaitcoach footpod left",
        "gaitcoach footpod right",
    }
    records = frames["record"]
    assert 170 <= len(records) <= 181  # one per second with strides
    [session] = frames["session"]
    assert session["sport"] == "running"
    left = sum(s.stride_length_m or 0 for s in strides if s.foot.value == "left")
    assert session["total_distance"] == pytest.approx(left, rel=0.02)
    # Averages a watch app shows: pace, cadence (FIT: strides/min), stance time, step length.
    cadence = statistics.median(s.cadence_spm for s in strides)
    got = 2 * (session["avg_running_cadence"] + session["avg_fractional_cadence"])
    assert got == pytest.approx(cadence, abs=0.02)
    contact = statistics.median(s.contact_time_s for s in strides)
    assert session["avg_stance_time"] == pytest.approx(1000 * contact, abs=0.1)
    assert session["avg_speed"] == pytest.approx(
        session["total_distance"] / session["total_timer_time"], rel=1e-3
    )
    assert session["avg_step_length"] > 0 and 45 <= session["avg_stance_time_balance"] <= 55
    # Km laps: the run is about 0.6 km per 3 min at this speed -> one or more laps, the
    # distances add up to the session's.
    laps = frames["lap"]
    assert session["num_laps"] == len(laps) >= 1
    assert sum(lap["total_distance"] for lap in laps) == pytest.approx(
        session["total_distance"], rel=1e-3
    )
    assert all(lap["avg_running_cadence"] > 0 for lap in laps)
    # A record's values are the medians of the strides that ended in its second.
    t0 = min(s.ic_s for s in strides)
    rec = records[60]
    second = int((rec["timestamp"] - datetime(2026, 11, 2, 7, tzinfo=UTC)).total_seconds())
    group = [s for s in strides if int(s.end_ic_s - t0) == second]
    want = statistics.median(s.cadence_spm for s in group)
    assert 2 * (rec["cadence"] + rec["fractional_cadence"]) == pytest.approx(want, abs=0.02)


def test_fit_pauses_the_timer_in_gaps_and_refuses_empty_sessions(tmp_path: Path) -> None:
    import fitdecode

    from gaitcoach.session.fit_export import FitExportError, fit_bytes

    d = tmp_path / "data"
    sid, strides = add_run(d, factory.EFFICIENT, 2.0, datetime(2026, 11, 2, 7, tzinfo=UTC))
    with SessionStore(d) as store:
        data = store.load(sid)
    # 30 s of strides lost in the middle (a pod out of range).
    mid = strides[len(strides) // 2].ic_s
    cut = dataclasses.replace(
        data, strides=[s for s in data.strides if not mid <= s.ic_s < mid + 30.0]
    )
    events: list[str] = []
    session: dict[str, Any] = {}
    with fitdecode.FitReader(fit_bytes(cut)) as fit:
        for frame in fit:
            if isinstance(frame, fitdecode.FitDataMessage):
                if frame.name == "event":
                    events.append(frame.get_value("event_type"))
                if frame.name == "session":
                    session = {f.name: f.value for f in frame.fields}
    assert events == ["start", "stop", "start", "stop_all"]
    paused = session["total_elapsed_time"] - session["total_timer_time"]
    assert 29.0 <= paused <= 32.0
    with pytest.raises(FitExportError, match="nothing to export"):
        fit_bytes(dataclasses.replace(data, strides=[]))


def test_export_format_comes_from_the_output_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path / "data")
    sid, strides = add_run(Path(d), factory.EFFICIENT, 1.0, datetime(2026, 11, 2, 7, tzinfo=UTC))
    out = tmp_path / "run.parquet"
    code, text, _ = run(capsys, "export", sid, "--data-dir", d, "-o", str(out))
    assert code == 0 and "(PARQUET)" in text and f"wrote {len(strides)} strides" in text
    assert pq.read_table(out).num_rows == len(strides)
    code, _, err = run(capsys, "export", sid, "--data-dir", d, "-o", str(tmp_path / "run.txt"))
    assert code == 2 and err.count("\n") == 1 and "name it .csv, .parquet or .fit" in err
    with Recorder(Path(d), runner="ann") as rec:  # a session without strides
        empty = rec.session_id
    code, _, err = run(capsys, "export", empty, "--data-dir", d, "-o", str(tmp_path / "e.fit"))
    assert code == 2 and "nothing to export" in err and not (tmp_path / "e.fit").exists()


def test_history_says_when_trends_mean_nothing_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four runs minutes apart give no trend per week; an empty session stays out of the
    weekly load; the page has dates, links to each report and the usual range."""
    d = tmp_path / "data"
    start = datetime(2026, 10, 1, 7, tzinfo=UTC)
    for i in range(4):
        r = factory.Runner(cadence_spm=160.0 + 5 * i, noise=0.002)
        add_run(d, r, 3.0, start + timedelta(minutes=10 * i), seed=i)
    with Recorder(d, runner="ann"):
        pass  # started and stopped at once: no strides
    reports = d / "reports"
    reports.mkdir()
    code, out, _ = run(capsys, "history", "--data-dir", str(d), "--json")
    h = json.loads(out)
    assert all(t["slope_per_week"] is None for t in h["trends"])
    assert sum(w["runs"] for w in h["weeks"]) == 4
    first = h["runs"][0]["session_id"]
    (reports / f"{first}.html").write_text("<html></html>")
    page = tmp_path / "h.html"
    code, out, _ = run(capsys, "history", "--data-dir", str(d), "--html", str(page))
    assert code == 0 and "trends: not yet (trends need runs over 14 days" in out
    assert "e+" not in out  # no "-1.42e+04 spm/week"
    text = page.read_text()
    assert f"{first}.html" in text and "your usual" in text and "Cadence (steps/min)" in text
    assert "not counted" in text
