"""Simulator speed: generating both feet's IMU data (with truth) for a run.

``./run bench sim [--minutes M]`` prints seconds per hour of two-feet data at each rate.
"""

from __future__ import annotations

import argparse
import time

from firmware_sim.simulation import FEET, Simulation


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench sim")
    ap.add_argument("--minutes", type=float, default=60.0)
    args = ap.parse_args(argv)
    seconds = args.minutes * 60.0
    heads = ("rate Hz", "minutes", "samples", "plan s", "imu s", "total s", "Msamples/s")
    print(" ".join(f"{h:>{10 if h == 'samples' else 8}}" for h in heads))
    for rate in (104.0, 208.0, 416.0):
        sim = Simulation("fatiguing", seed=1, rate_hz=rate)
        t0 = time.perf_counter()
        sim.run_until(seconds)
        sim.truth_strides()
        t1 = time.perf_counter()
        n = 0
        for foot in FEET:
            n += len(sim.pod(foot).read(int(seconds * rate)).t_true_s)
        t2 = time.perf_counter()
        total = t2 - t0
        print(
            f"{rate:8.0f} {args.minutes:8.1f} {n:10d} {t1 - t0:8.2f} {t2 - t1:8.2f} "
            f"{total:8.2f} {n / total / 1e6:11.2f}"
        )
    print("goal: 1 h of two feet at 208 Hz in < 10 s")
    return 0
