"""Helpers shared by the test suite (import as tests.support)."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium's own connections are refused on a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Debian's Chromium headless, off the network (the report test and the dashboard tests)."""


def require(condition: bool, reason: str) -> None:
    """Skip outside CI, fail under CI=true: a missing prerequisite is never silently skipped."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def gait_engine_ready() -> None:
    """The gait kernels compiled into numba's cache before a module's end-to-end runs start
    their pods (with an empty cache on a busy machine a compile takes minutes, and the
    services under test load from the cache)."""
    from gaitcoach.service.warmup import warm_up

    warm_up()


def cpu_share(seconds: float = 0.5) -> float:
    """The share of one core a CPU-bound process gets now (1.0 on an idle machine, about
    2/3 beside two CPU-bound processes on two cores): measured, not assumed."""
    import time

    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        sum(range(1000))
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def paced_speed(speed: float, floor: float = 0.25) -> float:
    """An accelerated run's speed paced to what the machine gives now: ``speed`` on an idle
    machine, proportionally less when the cores are busy, so that the virtual pods, the bus
    and the service keep up (the run is judged in stream time, whatever the speed)."""
    share = min(1.0, max(floor, cpu_share()))
    return round(speed * (share if share < 0.9 else 1.0), 1)
