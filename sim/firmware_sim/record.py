"""``python -m firmware_sim record``: simulate a run and write it to a recording directory."""

from __future__ import annotations

import argparse
import time

from firmware_sim.mounting import random_mountings
from firmware_sim.params import SUPPORTED_RATES_HZ
from firmware_sim.profiles import PROFILES
from firmware_sim.recording import record


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="simulate a run and write IMU samples and truth to files")
    p.add_argument("--profile", required=True, help="one of: " + ", ".join(PROFILES))
    p.add_argument("--minutes", type=float, required=True, help="length of the run")
    p.add_argument(
        "--rate",
        type=float,
        default=208.0,
        help="sample rate in Hz: " + ", ".join(f"{r:g}" for r in SUPPORTED_RATES_HZ),
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-noise", action="store_true", help="ideal sensor (quantisation only)")
    p.add_argument(
        "--random-mounting",
        action="store_true",
        help="each pod at a random orientation and place on its shoe, drawn from --seed",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    mounting = random_mountings(args.seed) if args.random_mounting else None
    rec = record(
        args.profile, args.minutes, args.rate, args.seed, noise=not args.no_noise, mounting=mounting
    )
    out = rec.save(args.out)
    n = sum(len(c) for c in rec.imu.values())
    print(
        f"wrote {out}: {n} samples ({len(rec.imu)} feet at {args.rate:g} Hz), "
        f"{len(rec.truth)} strides of truth and {len(rec.swings)} swings "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0
