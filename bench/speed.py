"""Gait engine speed: batch throughput, streaming cost per chunk and CPU share, and a
side-by-side with gaitmap where it is installed (``./run bench speed [--minutes M]``).

gaitmap (MIT part: Herzer event detection, stride-level trajectory, spatial parameters) is a
bench-only extra (``pip install -e '.[bench]'``); it pins numpy < 2.1, so it lives in its own
venv, not in the project's: ``./run bench speed`` sets up ``.venv-gaitmap`` (gaitmap, and
gaitcoach without dependencies) and runs gaitmap's side there (``--gaitmap-json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gaitcoach.gait import FootAnalyzer, GaitAnalyzer, analyze
from gaitcoach.types import Foot
from validation.datasets import GAITMAP_RATE_HZ, WalkingReference, load_gaitmap_walking
from validation.reference import SegmentLike, walking_errors

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def batch(minutes: float) -> float:
    from firmware_sim.recording import record

    rec = record("efficient-midfoot", minutes, 208.0, 0)
    n = sum(len(c) for c in rec.imu.values())
    # The first call compiles or loads the numba kernels: not steady state (first_call()
    # reports it).
    analyze(rec.imu)
    best = np.inf
    for _ in range(3):
        t0 = time.process_time()
        strides = analyze(rec.imu)
        best = min(best, time.process_time() - t0)
    rate = n / best
    hour_s = 2 * 3600 * 208 / rate
    print(f"\nBatch (analyze, both feet, 208 Hz, {minutes:g} min, {len(strides)} strides)")
    print(f"  {n} samples in {best:.3f} s CPU: {rate / 1e6:.2f} M samples/s on one core")
    print(f"  1 h of two 208 Hz feet: {hour_s:.2f} s (target < 0.6 s, >= 5 M samples/s)")
    return rate


_FIRST_CALL = """
import time
t0 = time.perf_counter()
from firmware_sim.recording import record
from gaitcoach.gait import analyze
rec = record("efficient-midfoot", 0.5, 208.0, 0)
t1 = time.perf_counter()
analyze(rec.imu)
t2 = time.perf_counter()
analyze(rec.imu)
t3 = time.perf_counter()
print(t2 - t1, t3 - t2)
"""


def first_call() -> None:
    """Cost of the compiled kernels' first call in a new process: compiling them (empty
    numba cache) and loading them from the cache (the usual case; ``cache=True``)."""
    print("\nFirst call in a new process (30 s of two feet; numba kernels)")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("compile (empty cache)", "load from cache"):
            out = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parents[1],
            )
            first, second = (float(x) for x in out.stdout.split())
            print(f"  {label:22} first call {first:6.2f} s, second call {second * 1000:5.1f} ms")


def streaming(minutes: float, chunk: int = 10) -> float:
    from firmware_sim.recording import record

    rec = record("efficient-midfoot", minutes, 208.0, 1)
    ga = GaitAnalyzer()
    feet = list(rec.imu)
    n = min(len(rec.imu[f]) for f in feet)
    costs: list[float] = []
    t_all = time.process_time()
    for a in range(0, n, chunk):
        for f in feet:
            c = rec.imu[f].slice(a, min(a + chunk, n))
            t0 = time.perf_counter()
            ga.push(c)
            costs.append(time.perf_counter() - t0)
    cpu = time.process_time() - t_all
    ga.finish()
    data_s = n / 208.0
    share = 100 * cpu / data_s
    us = np.array(costs) * 1e6
    print(f"\nStreaming ({chunk} samples per chunk, two pods at 208 Hz, {minutes:g} min of data)")
    print(
        f"  per chunk: median {np.median(us):.0f} us, p99 {np.percentile(us, 99):.0f} us, "
        f"max {us.max():.0f} us"
    )
    print(f"  CPU share of one core: {share:.2f} % (goal <= 1 %), {len(ga.strides_)} strides")
    return share


def _ours_on_walking() -> tuple[float, dict[str, float]]:
    ref = load_gaitmap_walking(DATA / "gaitmap-walking")
    best = np.inf
    fas: dict[Foot, FootAnalyzer] = {}
    for _ in range(3):
        t0 = time.perf_counter()
        fas = {}
        for foot, c in ref.imu.items():
            fa = FootAnalyzer(foot)
            fa.push(c)
            fa.finish()
            fas[foot] = fa
        best = min(best, time.perf_counter() - t0)
    return best, _errors(ref, {f: list(fa.swings_) for f, fa in fas.items()})


def _errors(
    ref: WalkingReference,
    segs: Mapping[Foot, Sequence[SegmentLike]],
    ics: Mapping[Foot, Sequence[float]] | None = None,
) -> dict[str, float]:
    """Median absolute errors against motion capture (``validation.walking_errors``)."""
    ic, to, length = walking_errors(ref, segs, ics)
    return {
        "ic_ms": float(np.nanmedian(np.abs(ic)) * 1000),
        "to_ms": float(np.nanmedian(np.abs(to)) * 1000),
        "len_pct": float(np.median(np.abs(length)) * 100),
    }


class _Seg:
    def __init__(self, start_s: float, ic_s: float, to_s: float, length_m: float) -> None:
        self.start_s, self.ic_s, self.to_s, self.length_m = start_s, ic_s, to_s, length_m


def _gaitmap_on_walking() -> tuple[float, dict[str, float]]:
    import pandas as pd
    from gaitmap.event_detection import HerzerEventDetection
    from gaitmap.parameters import SpatialParameterCalculation
    from gaitmap.trajectory_reconstruction import StrideLevelTrajectory
    from gaitmap.utils.coordinate_conversion import convert_to_fbf

    folder = DATA / "gaitmap-walking"
    data = pd.read_csv(folder / "imu_sample.csv", header=[0, 1], index_col=0)
    borders = pd.read_csv(folder / "stride_borders_sample.csv", index_col=0)
    strides = {
        f"{foot}_sensor": borders[borders["foot"] == foot][["start", "end"]].rename_axis("s_id")
        for foot in ("left", "right")
    }
    ref = load_gaitmap_walking(folder)
    best = np.inf
    out: dict[Foot, list[_Seg]] = {}
    for _ in range(3):
        t0 = time.perf_counter()
        bf = convert_to_fbf(data, left_like="left_", right_like="right_")
        ed = HerzerEventDetection().detect(bf, strides, sampling_rate_hz=GAITMAP_RATE_HZ)
        events = ed.min_vel_event_list_
        traj = StrideLevelTrajectory().estimate(data, events, sampling_rate_hz=GAITMAP_RATE_HZ)
        sp = SpatialParameterCalculation().calculate(
            events, traj.position_, traj.orientation_, sampling_rate_hz=GAITMAP_RATE_HZ
        )
        best = min(best, time.perf_counter() - t0)
        out = {}
        for foot in (Foot.LEFT, Foot.RIGHT):
            ev = events[f"{foot}_sensor"]
            params = sp.parameters_[f"{foot}_sensor"]
            out[foot] = [
                _Seg(
                    float(row["start"]) / GAITMAP_RATE_HZ,
                    float(row["ic"]) / GAITMAP_RATE_HZ,
                    float(row["tc"]) / GAITMAP_RATE_HZ,
                    float(params.loc[sid, "stride_length"]),
                )
                for sid, row in ev.iterrows()
                if sid in params.index
            ]
    return best, _errors(ref, out)


def side_by_side() -> None:
    print("\nSide by side on gaitmap-walking (both feet, 204.8 Hz, errors vs motion capture)")
    if not DATA.is_dir():
        print(f"  {DATA} not found (skipped)")
        return
    ours_s, ours = _ours_on_walking()
    print(f"  {'':9} {'time ms':>8} {'IC |med| ms':>11} {'TO |med| ms':>11} {'length |med| %':>14}")
    print(
        f"  {'gaitcoach':9} {ours_s * 1000:8.1f} {ours['ic_ms']:11.1f} {ours['to_ms']:11.1f} "
        f"{ours['len_pct']:14.2f}"
    )
    try:
        gm_s, gm = _gaitmap_on_walking()
    except ImportError as exc:
        other = os.environ.get("GAITCOACH_GAITMAP_PYTHON")
        if not other:
            print(f"  gaitmap    not installed here ({exc.name}); see this module's docstring")
            return
        # gaitmap's own venv (``./run bench speed`` sets it up): same function, over there.
        done = subprocess.run(
            [other, "-m", "bench", "speed", "--gaitmap-json"],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"  gaitmap    failed to run in {other}: {done.stderr.strip()[-300:]}")
            return
        out = json.loads(done.stdout.strip().splitlines()[-1])
        gm_s, gm = out["seconds"], out["errors"]
    except Exception as exc:  # gaitmap's own failure is a result to show, not a crash
        print(f"  gaitmap    failed to run: {type(exc).__name__}: {exc}")
        return
    print(
        f"  {'gaitmap':9} {gm_s * 1000:8.1f} {gm['ic_ms']:11.1f} {gm['to_ms']:11.1f} "
        f"{gm['len_pct']:14.2f}"
    )
    print(
        f"  speed ratio gaitmap / gaitcoach: {gm_s / ours_s:.1f}x "
        "(gaitmap is given the reference stride borders; gaitcoach finds its own strides)"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench speed", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of data for batch")
    parser.add_argument("--stream-minutes", type=float, default=3.0)
    parser.add_argument(
        "--gaitmap-json", action="store_true", help="only gaitmap on gaitmap-walking, as JSON"
    )
    args = parser.parse_args(argv)
    if args.gaitmap_json:
        seconds, errors = _gaitmap_on_walking()
        print(json.dumps({"seconds": seconds, "errors": errors}))
        return 0
    batch(args.minutes)
    first_call()
    streaming(args.stream_minutes)
    side_by_side()
    return 0
