"""Loading rate against the sample rate: what the metric can and cannot tell.

``./run bench loading_rate [--minutes M] [--seed S]`` prints, per simulator profile and
sample rate, the 10th, 50th and 90th percentile of ``loading_rate_gps`` and the median
``peak_impact_g`` over the strides of one simulated run. There is no truth for loading rate
(the simulator models none), so the table shows consistency only: a metric that measures the
foot would not change with the sample rate (docs/metrics.md, loading rate).
"""

from __future__ import annotations

import argparse

import numpy as np

from firmware_sim.recording import record
from gaitcoach.gait import analyze

PROFILES = ("heel-overstrider", "efficient-midfoot", "forefoot")
RATES_HZ = (104.0, 208.0, 416.0)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench loading_rate")
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    print(f"\nLoading rate (g/s) by sample rate, {args.minutes:g} simulated min, seed {args.seed}")
    print("\n| profile | rate Hz | strides | p10 | median | p90 | peak impact median g |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for profile in PROFILES:
        for rate in RATES_HZ:
            strides = analyze(record(profile, args.minutes, rate_hz=rate, seed=args.seed).imu)
            lr = np.array([s.loading_rate_gps for s in strides if s.loading_rate_gps is not None])
            peak = [s.peak_impact_g for s in strides if s.peak_impact_g is not None]
            p10, p50, p90 = np.percentile(lr, [10, 50, 90]) if len(lr) else (np.nan,) * 3
            print(
                f"| {profile} | {rate:.0f} | {len(lr)} | {p10:.0f} | {p50:.0f} | {p90:.0f} "
                f"| {np.median(peak) if peak else np.nan:.1f} |"
            )
    return 0
