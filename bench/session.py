"""Session benchmark: storage per hour, recorder call latency, replay speed, summary time.

``./run bench session [--minutes M] [--summary-hours H]``

* Records ``M`` minutes (default 10) of the ``fatiguing`` profile through the pipeline
  (virtual pod samples -> decode -> gait engine -> recorder) and scales the store's size to
  one hour of two 208 Hz pods.
* Times the recorder's ``add_chunk`` calls (they must never block on disk).
* Replays the recording (x real time) and checks it reproduces the live strides.
* Builds a ``H``-hour session (default 2) of strides and times the full summary (load from
  the store, summary, advice with history) and the HTML report.
* Compares the recording's summary with the summary of the simulator's truth.
* Kills a recording 30-minute run with SIGKILL at random points (``--crash-trials``) and
  reports how much accepted data (wall seconds before the kill) was lost.

Run from the project root (it uses ``tests.session.pipeline``).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gaitcoach.gait import GaitAnalyzer
from gaitcoach.session.advice import AdviceBook
from gaitcoach.session.history import session_summary
from gaitcoach.session.recorder import Recorder
from gaitcoach.session.replay import replay
from gaitcoach.session.report import render_html
from gaitcoach.session.store import DB_NAME, SessionData, SessionStore
from gaitcoach.session.summary import SUMMARY_METRICS, summarize
from gaitcoach.types import Gap
from tests.session import factory
from tests.session.pipeline import scales, simulation, stream


def _row(name: str, value: str, goal: str = "") -> None:
    print(f"| {name:<44} | {value:>22} | {goal:<6} |")


def record_with_latency(data_dir: Path, minutes: float, seed: int) -> tuple[str, list[float]]:
    sim = simulation("fatiguing", minutes, seed)
    engine = GaitAnalyzer()
    lat: list[float] = []
    with Recorder(data_dir, scales=scales(sim)) as rec:
        for item in stream(sim, minutes):
            if isinstance(item, Gap):
                rec.add_gap(item)
            else:
                t = time.perf_counter()
                rec.add_chunk(item)
                lat.append(time.perf_counter() - t)
            try:
                strides = engine.push_gap(item) if isinstance(item, Gap) else engine.push(item)
            except ValueError:
                continue  # as the service: the engine refused it, counted there
            for s in strides:
                rec.add_stride(s)
        try:
            last = engine.finish()
        except ValueError:
            last = []
        for s in last:
            rec.add_stride(s)
        return rec.session_id, lat


def truth_table(store: SessionStore, sid: str, minutes: float, seed: int) -> None:
    """Summary from the engine's strides versus the summary of the simulator's truth."""
    data = store.load(sid)
    sim = simulation("fatiguing", minutes, seed)
    end = max(s.end_ic_s for s in data.strides)
    sim.run_until(end)
    truth = SessionData(data.info, {}, sim.truth_records(until_s=end), [], [], [], [], [])
    m, t = summarize(data), summarize(truth)
    print(f"\nsummary versus simulator truth ({minutes:g} min of 'fatiguing', seed {seed})")
    print(f"| {'value':<34} | {'measured':>10} | {'truth':>10} |")
    print(f"|{'-' * 36}|{'-' * 12}|{'-' * 12}|")
    rows: list[tuple[str, float | None, float | None]] = [
        ("distance (m)", m.distance_m, t.distance_m),
        ("moving time (s)", m.moving_time_s, t.moving_time_s),
    ]
    for name in SUMMARY_METRICS:
        a, b = m.metrics[name].all, t.metrics[name].all
        if a is not None and b is not None:
            rows.append((f"median {name}", a.median, b.median))
    for key in ("cadence_spm", "contact_time_s"):
        a_d, b_d = getattr(m.fatigue, key), getattr(t.fatigue, key)
        rows.append((f"fatigue {key} change %", a_d.change_pct, b_d.change_pct))
    rows.append(
        (
            "fatigue foot_strike_angle_deg change",
            m.fatigue.foot_strike_angle_deg.change,
            t.fatigue.foot_strike_angle_deg.change,
        )
    )
    for label, a_v, b_v in rows:
        fa = "-" if a_v is None else f"{a_v:.3f}"
        fb = "-" if b_v is None else f"{b_v:.3f}"
        print(f"| {label:<34} | {fa:>10} | {fb:>10} |")


def crash_trial(tmp: Path, seed: int, kill_after_s: float) -> tuple[float, int, int]:
    """Kill -9 a recording 30-minute run; returns (wall s of accepted data lost, chunks
    accepted, chunks stored)."""
    d = tmp / f"crash{seed}"
    root = Path(__file__).parents[1]
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.session.pipeline", str(d), "fatiguing", "30", str(seed)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdout is not None
    accepted: list[float] = []
    deadline: float | None = None
    for line in child.stdout:
        kind, *rest = line.split()
        if kind == "session":
            deadline = time.monotonic() + kill_after_s
        elif kind == "chunk":
            accepted.append(float(rest[1]))
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(child.pid, signal.SIGKILL)
            break
    killed = time.monotonic()
    child.wait()
    with SessionStore(d) as store:
        sid = store.list_sessions()[0].id
        stored, _ = store.raw_count(sid)
    newest_stored = accepted[stored - 1] if stored else killed
    return killed - newest_stored, len(accepted), stored


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench session")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--summary-hours", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--crash-trials", type=int, default=1, help="kill -9 trials (0: none)")
    args = ap.parse_args(argv)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "rec"
        t0 = time.perf_counter()
        sid, lat = record_with_latency(d, args.minutes, args.seed)
        rec_wall = time.perf_counter() - t0
        with SessionStore(d) as store:
            chunks, samples = store.raw_count(sid)
            raw = store.raw_bytes(sid)
            data_s = samples / 2 / 208.0
            result = replay(store, sid)
        db = sum(p.stat().st_size for p in d.iterdir() if p.name.startswith(DB_NAME))
        per_hour_raw = raw / data_s * 3600 / 1e6
        per_hour_db = db / data_s * 3600 / 1e6
        lat_ms = np.array(lat) * 1000
        print(f"session benchmark: {args.minutes:g} min of 'fatiguing' at 208 Hz, two pods")
        print(f"| {'measure':<44} | {'value':>22} | {'goal':<6} |")
        print(f"|{'-' * 46}|{'-' * 24}|{'-' * 8}|")
        _row("raw samples stored", f"{samples} in {chunks} chunks")
        _row("raw sample storage per hour (MB)", f"{per_hour_raw:.1f}", "< 40")
        _row("whole store per hour incl. strides (MB)", f"{per_hour_db:.1f}", "< 40")
        _row("bytes per sample (6 axes + time)", f"{raw / samples:.2f}", "")
        _row(
            "add_chunk median / p99 / max (ms)",
            f"{np.median(lat_ms):.3f}/{np.percentile(lat_ms, 99):.3f}/{lat_ms.max():.2f}",
            "",
        )
        _row("pipeline with recorder (x real time)", f"{data_s / rec_wall:.1f}", "")
        _row("replay speed (x real time)", f"{result.speed_x:.1f}", "> 1")
        _row("replay reproduces live strides", f"{result.reproduces} ({result.stored})", "True")
        ok &= per_hour_db < 40 and result.reproduces

        d2 = Path(tmp) / "long"
        strides = factory.strides(factory.FATIGUING, args.summary_hours * 60, seed=args.seed)
        with Recorder(d2, started_utc=datetime(2026, 11, 1, 7, tzinfo=UTC)) as rec:
            for s in strides:
                rec.add_stride(s)
        book = AdviceBook.load()
        t = time.perf_counter()
        with SessionStore(d2) as store:
            data, summary = session_summary(store, "latest", book)
        t_summary = time.perf_counter() - t
        t = time.perf_counter()
        render_html(data, summary)
        t_html = time.perf_counter() - t
        _row(
            f"summary of a {args.summary_hours:g} h session (s)",
            f"{t_summary:.2f} ({len(strides)} str.)",
            "< 2",
        )
        _row(f"HTML report of a {args.summary_hours:g} h session (s)", f"{t_html:.2f}", "")
        ok &= t_summary < 2.0

        with SessionStore(d) as store:
            truth_table(store, sid, args.minutes, args.seed)

        if args.crash_trials:
            rng = random.Random(args.seed)
            print("\nkill -9 of a recording 30-minute 'fatiguing' run at a random point")
            print(
                f"| {'seed':>5} | {'kill after (s)':>14} | {'accepted':>9} | {'stored':>9} |"
                f" {'lost (wall s)':>13} |"
            )
            for trial in range(args.crash_trials):
                seed, after = rng.randrange(1000), rng.uniform(3.0, 45.0)
                lost, n_acc, n_st = crash_trial(Path(tmp), seed + trial, after)
                print(
                    f"| {seed + trial:>5} | {after:>14.1f} | {n_acc:>9} | {n_st:>9} |"
                    f" {lost:>13.2f} |"
                )
                ok &= lost <= 1.0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1
