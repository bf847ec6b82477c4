"""Sessions recorded through the real pipeline (virtual pod samples -> decode -> gait engine ->
recorder): kill -9 mid-run, exact replay, summary against the simulator's truth."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gaitcoach.gait import GaitConfig
from gaitcoach.service.config import config_from_dict, config_from_record, config_record
from gaitcoach.service.pipeline import Pipeline
from gaitcoach.session.advice import AdviceBook, advise
from gaitcoach.session.recorder import Recorder
from gaitcoach.session.replay import replay, session_pipeline
from gaitcoach.session.store import SessionData, SessionStatus, SessionStore
from gaitcoach.session.summary import SessionSummary, summarize
from gaitcoach.types import Gap, ImuChunk
from tests.session.pipeline import run_session, simulation, stream
from tests.support import gait_engine_ready

ROOT = Path(__file__).parents[2]
BOOK = AdviceBook.load()


@pytest.mark.underload
@pytest.mark.usefixtures(gait_engine_ready.__name__)
def test_kill_9_mid_run_loses_at_most_the_last_second(tmp_path: Path) -> None:
    rng = random.Random()
    seed = rng.randrange(1000)
    kill_after_s = rng.uniform(3.0, 9.0)
    note = f"seed={seed} kill_after_s={kill_after_s:.2f}"
    data_dir = tmp_path / "data"
    err_path = tmp_path / "child.err"
    # stderr to a file, not a pipe: it can never fill up and block the child.
    with open(err_path, "w") as err_file:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.session.pipeline",
                str(data_dir),
                "fatiguing",
                "30",
                str(seed),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
        )
    accepted: dict[str, list[float]] = {"chunk": [], "stride": []}
    started = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            kind, *rest = line.split()
            if kind == "session":
                started.set()
            elif kind in accepted:
                accepted[kind].append(float(rest[1]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        started.wait(60)
        # The kill's moment counts from the first stride (the engine running), not from the
        # child's start, which a loaded machine stretches.
        deadline = time.monotonic() + 120
        while started.is_set() and not accepted["stride"] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(kill_after_s if started.is_set() else 0.0)
        if child.poll() is not None or not started.is_set():
            child.kill()
            child.wait(30)
            err = err_path.read_text()[-3000:]
            pytest.fail(f"pipeline ended early or never started ({note}): {err}")
        os.kill(child.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(30)
    assert child.returncode == -signal.SIGKILL, err_path.read_text()[-2000:]

    must_chunks = sum(t < killed_at - 1.0 for t in accepted["chunk"])
    must_strides = sum(t < killed_at - 1.0 for t in accepted["stride"])
    assert must_chunks > 100 and must_strides > 10, note

    with SessionStore(data_dir) as store:
        [info] = store.list_sessions()
        assert info.status is SessionStatus.INTERRUPTED, note
        data = store.load(info.id)
        raw = list(store.iter_raw(info.id))
        # Everything accepted up to a second before the kill is there ...
        assert sum(isinstance(c, ImuChunk) for c in raw) >= must_chunks, note
        assert len(data.strides) >= must_strides, note
        # ... and exact: what the link hands over again when the simulator regenerates it.
        want = stream(simulation("fatiguing", 30.0, seed), 30.0)
        for got, exp in zip(raw, want, strict=False):
            if isinstance(exp, Gap):
                assert got == exp
                continue
            assert isinstance(got, ImuChunk) and got.foot is exp.foot
            assert got.t_s.tobytes() == exp.t_s.tobytes()
            assert got.acc_mps2.tobytes() == exp.acc_mps2.tobytes()
            assert got.gyr_radps.tobytes() == exp.gyr_radps.tobytes()
        # The stored strides are what the engine makes of the stored samples.
        result = replay(store, info.id)
        assert result.reproduces and not result.finished, note
    # It opens and summarises as interrupted.
    summary = summarize(data)
    assert summary.status == "interrupted" and summary.distance_m > 0


# Not the defaults: a replay that rebuilt the default engine would differ in every stride.
GAIT = {"rearfoot_above_deg": 6.0, "overstride_base_fraction": 0.3, "min_stride_length_m": 0.2}


def test_replay_reproduces_live_strides_exactly(tmp_path: Path) -> None:
    """Replay is the live path: the recorded [runner] and [gait] sections rebuild the same
    Pipeline, so every stride comes out identical (with the defaults, none would)."""
    config = config_from_dict({"gait": GAIT, "runner": {"height_m": 1.80}})
    assert config.gait != GaitConfig()
    sid, live = run_session(tmp_path, "asymmetric", 1.5, seed=5, config=config)
    with SessionStore(tmp_path) as store:
        data = store.load(sid)
        assert data.strides == live
        assert config_from_record(data.config).gait == config.gait
        result = replay(store, sid)
        # The same samples through the default configuration: not the live strides.
        default = dataclasses.replace(data, config={})
        other = session_pipeline(default)
        assert other.analyzer.config == GaitConfig()
        strides = []
        for item in store.iter_raw(sid):
            out = other.on_gap(item) if isinstance(item, Gap) else other.on_chunk(item)
            strides += out.strides
        strides += other.finish().strides
        same = sum(a == b for a, b in zip(strides, live, strict=False))
        assert same < len(live) // 10, same
    assert result.reproduces and result.finished
    assert result.strides == live and len(live) > 200
    assert result.speed_x > 1.0
    res = subprocess.run(
        [sys.executable, "-m", "gaitcoach", "replay", sid[:15], "--data-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "replay reproduces the live stride records exactly" in res.stdout


def _truth_data(data: SessionData, profile: str, minutes: float, seed: int) -> SessionData:
    sim = simulation(profile, minutes, seed)
    end = max(s.end_ic_s for s in data.strides)
    sim.run_until(end)
    truth = sim.truth_records(until_s=end)
    return SessionData(data.info, {}, truth, data.cues, [], [], data.discomfort, [])


def _summaries(tmp_path: Path, profile: str) -> tuple[SessionSummary, SessionSummary]:
    sid, _ = run_session(tmp_path / profile, profile, 3.0, seed=2)
    with SessionStore(tmp_path / profile) as store:
        data = store.load(sid)
    measured = advise(summarize(data), BOOK)
    truth = advise(summarize(_truth_data(data, profile, 3.0, 2)), BOOK)
    return measured, truth


# Tolerances: the gait engine's accuracy on these profiles (median over a run).
TOLERANCE = {
    "cadence_spm": 1.5,
    "stride_length_m": 0.06,
    "speed_mps": 0.1,
    "contact_time_s": 0.025,
    "flight_time_s": 0.025,
    "foot_strike_angle_deg": 2.0,
    "overstride_m": 0.05,
}


@pytest.mark.parametrize("profile", ["heel-overstrider", "efficient-midfoot"])
def test_summary_agrees_with_simulator_truth(tmp_path: Path, profile: str) -> None:
    measured, truth = _summaries(tmp_path, profile)
    assert measured.distance_m == pytest.approx(truth.distance_m, rel=0.03)
    assert measured.moving_time_s == pytest.approx(truth.moving_time_s, rel=0.03)
    assert measured.duration_s == pytest.approx(truth.duration_s, abs=3.0)
    for name, tol in TOLERANCE.items():
        m, t = measured.metrics[name].all, truth.metrics[name].all
        assert m is not None and t is not None
        assert m.median == pytest.approx(t.median, abs=tol), name
    for pattern, share in truth.strike_share_pct["all"].items():
        assert measured.strike_share_pct["all"][pattern] == pytest.approx(share, abs=10.0)
    assert measured.n_strides["running"] == pytest.approx(truth.n_strides["running"], abs=4)
    tips = {a.tip for a in measured.advice}
    assert tips == {a.tip for a in truth.advice}, (measured.advice, truth.advice)
    if profile == "heel-overstrider":
        [tech] = [a for a in measured.advice if a.tip == "technique"]
        assert "shorten your stride" in tech.text and len(tech.reasons) >= 2
    else:
        assert "technique" not in tips


def test_replay_imports_a_simulator_recording(tmp_path: Path) -> None:
    from firmware_sim.recording import record

    rec_dir = record("forefoot", 1.0, seed=4).save(tmp_path / "rec")
    data_dir = tmp_path / "data"

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gaitcoach", *argv, "--data-dir", str(data_dir), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    res = cli("replay", str(rec_dir))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "stored as session" in res.stdout
    with SessionStore(data_dir) as store:
        [info] = store.list_sessions()
        assert info.status is SessionStatus.COMPLETE and info.n_strides > 150
        assert store.raw_count(info.id)[1] == 2 * 208 * 60
    res = cli("replay", "latest", "--summary")
    assert res.returncode == 0 and "reproduces the live stride records exactly" in res.stdout
    assert "summary from the replayed strides" in res.stdout
    assert "Cadence" in res.stdout and "steps/min" in res.stdout

    meta = rec_dir / "meta.json"
    meta.write_text(meta.read_text().replace('"format_version": 1', '"format_version": 99'))
    res = cli("replay", str(rec_dir))
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "newer than this gaitcoach reads" in res.stderr


def test_raw_samples_stay_compact_without_configured_scales(tmp_path: Path) -> None:
    import sqlite3

    from gaitcoach.session.recorder import Recorder
    from gaitcoach.session.store import DB_NAME

    sim = simulation("efficient-midfoot", 1.0, 3)
    items = list(stream(sim, 1.0))
    with Recorder(tmp_path, flush_interval_s=0.02) as rec:  # many small blocks
        for item in items:
            if isinstance(item, Gap):
                rec.add_gap(item)
            else:
                rec.add_chunk(item)
                time.sleep(0.0005)
    conn = sqlite3.connect(tmp_path / DB_NAME)
    encodings = conn.execute("SELECT DISTINCT acc_enc, gyr_enc FROM chunks").fetchall()
    (blocks,) = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()
    conn.close()
    assert encodings == [("i16", "i16")] and blocks > 20
    with SessionStore(tmp_path) as store:
        got = list(store.iter_raw(store.list_sessions()[0].id))
    assert len(got) == len(items)
    for a, b in zip(got, items, strict=True):
        if isinstance(b, ImuChunk):
            assert isinstance(a, ImuChunk) and a.acc_mps2.tobytes() == b.acc_mps2.tobytes()


def test_a_chunk_with_a_bad_timestamp_is_recorded_and_replayed_as_it_came(tmp_path: Path) -> None:
    """One packet mid-run with a NaN timestamp: the engine skips that sample and restarts the
    stride; the recorder refused the whole packet, so the replay saw a hole of 13 samples
    instead and did not reproduce the stored strides. Float32 timestamps were refused too."""
    sim = simulation("efficient-midfoot", 0.5, seed=3)
    items = list(stream(sim, 0.5))
    bad = next(i for i, x in enumerate(items) if isinstance(x, ImuChunk) and float(x.t_s[0]) > 12.0)
    chunk = items[bad]
    assert isinstance(chunk, ImuChunk)
    t = chunk.t_s.copy()
    t[len(t) // 2] = np.nan
    items[bad] = dataclasses.replace(chunk, t_s=t)
    other = items[bad + 1]
    assert isinstance(other, ImuChunk)
    items[bad + 1] = dataclasses.replace(other, t_s=other.t_s.astype(np.float32))
    config = config_from_dict({})
    pipeline = Pipeline(config)
    with Recorder(tmp_path, config=config_record(config)) as rec:
        for item in items:
            if isinstance(item, Gap):
                rec.add_gap(item)
                out = pipeline.on_gap(item)
            else:
                rec.add_chunk(item)
                out = pipeline.on_chunk(item)
            for s in out.strides:
                rec.add_stride(s)
        for s in pipeline.finish().strides:
            rec.add_stride(s)
        sid = rec.session_id
    assert rec.stats().rejected == 0
    with SessionStore(tmp_path) as store:
        raw = [x for x in store.iter_raw(sid) if isinstance(x, ImuChunk)]
        result = replay(store, sid)
    assert raw[bad].t_s.tobytes() == t.tobytes()
    assert result.stored > 30 and result.reproduces
