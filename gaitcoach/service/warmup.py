"""Compile or load the gait engine's kernels before the pods connect.

Without this the numba kernels compile inside the event loop on the first chunk (8 s on an
idle machine, two minutes on a busy one, with an empty cache) while the pods' notifications
pile up. The warm-up is engine-agnostic: it runs the public batch entry point
(``gaitcoach.gait.analyze``) over a few seconds of simulated running shipped with the package
(``gaitcoach/data/warmup.npz``, made by ``firmware_sim.warmup_sample``), which reaches every
kernel a live run uses, whatever the engine's internals are.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable

import numpy as np

from gaitcoach.paths import package_file
from gaitcoach.types import Foot, ImuChunk

_lock = threading.Lock()
_done_s: float | None = None


def warmup_sample() -> dict[Foot, ImuChunk]:
    """Both feet of the shipped sample, in SI units."""
    data = np.load(io.BytesIO(package_file("warmup.npz").read_bytes()))
    acc_lsb, gyr_lsb = (float(x) for x in data["lsb"])
    return {
        foot: ImuChunk(
            foot,
            data[f"{foot.value}_t_s"],
            data[f"{foot.value}_acc_counts"].astype(float) * acc_lsb,
            data[f"{foot.value}_gyr_counts"].astype(float) * gyr_lsb,
        )
        for foot in (Foot.LEFT, Foot.RIGHT)
    }


def warm_up(progress: Callable[[str], None] | None = None) -> float:
    """Make the gait engine ready; returns the seconds it took (0 when already done in this
    process). ``progress`` gets one line before and one after."""
    global _done_s
    with _lock:
        if _done_s is not None:
            return 0.0
        say = progress or (lambda _line: None)
        where = os.environ.get("NUMBA_CACHE_DIR", "numba's default cache")
        say(f"preparing the gait engine (kernels cached in {where}; the first start compiles)")
        t = time.perf_counter()
        from gaitcoach.gait import analyze

        analyze(warmup_sample())
        _done_s = time.perf_counter() - t
        say(f"gait engine ready in {_done_s:.1f} s")
        return _done_s
