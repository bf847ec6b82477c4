"""The few seconds of simulated running that gaitcoach ships for its start-up warm-up
(``gaitcoach/data/warmup.npz``): the gait engine's kernels compile or load on real-looking
strides before any pod connects, without gaitcoach importing the simulator.

``python -m firmware_sim.warmup_sample OUT.npz`` writes it; a test checks the shipped file is
what this makes.
"""

from __future__ import annotations

import io
import sys
from typing import Any

import numpy as np

from firmware_sim.recording import record
from gaitcoach.types import Foot

PROFILE = "forefoot"
MINUTES = 0.15
"""9 s: past the start-up standing into strides."""
RATE_HZ = 208.0
SEED = 1


def sample_bytes() -> bytes:
    """The sample as ``.npz`` bytes: per foot the times and the int16 counts, and the LSBs."""
    rec = record(PROFILE, MINUTES, RATE_HZ, seed=SEED)
    acc_lsb, gyr_lsb = float(rec.meta["acc_lsb_mps2"]), float(rec.meta["gyr_lsb_radps"])
    arrays: dict[str, Any] = {"lsb": np.array([acc_lsb, gyr_lsb])}
    for foot in (Foot.LEFT, Foot.RIGHT):
        chunk = rec.imu[foot]
        arrays[f"{foot.value}_t_s"] = chunk.t_s
        arrays[f"{foot.value}_acc_counts"] = np.rint(chunk.acc_mps2 / acc_lsb).astype(np.int16)
        arrays[f"{foot.value}_gyr_counts"] = np.rint(chunk.gyr_radps / gyr_lsb).astype(np.int16)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(sample_bytes())
