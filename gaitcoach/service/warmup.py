"""Compile or load the gait engine's kernels before the pods connect.

Without this the numba kernels compile inside the event loop on the first chunk (8 s on an
idle machine, two minutes on a busy one, with an empty cache) while the pods' notifications
pile up. The warm-up is engine-agnostic: it runs the public batch entry point
(``gaitcoach.gait.analyze``) over a few seconds of simulated running, which reaches every
kernel a live run uses, whatever the engine's internals are.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

WARMUP_MINUTES = 0.15
"""Simulated running analysed (9 s: past the start-up standing into strides)."""

_lock = threading.Lock()
_done_s: float | None = None


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
        from firmware_sim.recording import record
        from gaitcoach.gait import analyze

        sample = record("forefoot", WARMUP_MINUTES, 208.0, seed=1)
        analyze(sample.imu)
        _done_s = time.perf_counter() - t
        say(f"gait engine ready in {_done_s:.1f} s")
        return _done_s
