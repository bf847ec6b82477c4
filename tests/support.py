"""Helpers shared by the test suite (import as tests.support)."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
