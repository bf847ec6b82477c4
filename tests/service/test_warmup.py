"""Start-up: numba's cache lives in the user's cache directory (the source may be read-only)
and the gait kernels are compiled or loaded before any pod, with a progress line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gaitcoach.cachedir import kernels_fingerprint

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import os, sys
import gaitcoach
from gaitcoach.service.warmup import warm_up
if sys.argv[1:] == ["warm"]:
    warm_up(lambda line: print(line, flush=True))
import numba
print("cache", numba.config.CACHE_DIR)
"""


def test_kernels_are_cached_in_the_user_cache_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT, "warm"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    where = tmp_path / "cache" / "gaitcoach" / "numba" / kernels_fingerprint()
    assert lines[0].startswith("preparing the gait engine") and str(where) in lines[0]
    assert lines[1].startswith("gait engine ready in")
    assert lines[2] == f"cache {where}"
    index = list(where.rglob("*.nbi"))
    assert len(index) >= 10, "the warm-up did not reach the engine's kernels"
    # Nothing was written beside the source.
    assert not any(str(where) not in str(p) for p in index)
    # An explicit NUMBA_CACHE_DIR is kept.
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert p.returncode == 0 and p.stdout.splitlines() == [f"cache {tmp_path / 'mine'}"]


def test_a_change_in_any_gait_source_gets_its_own_cache_folder(tmp_path: Path) -> None:
    # numba checks a cached kernel against its own file only; a kernel calling one from
    # another module would be loaded stale after that module changed.
    src = tmp_path / "gait"
    src.mkdir()
    (src / "kernels.py").write_text("A = 1\n")
    (src / "segmentation.py").write_text("B = 1\n")
    before = kernels_fingerprint(src)
    (src / "kernels.py").write_text("A = 2\n")
    assert kernels_fingerprint(src) != before
    assert len(before) == 16


def test_the_shipped_warmup_sample_is_the_simulators_and_has_strides() -> None:
    """gaitcoach warms up on a sample it ships (it does not import the simulator); the sample
    is exactly what ``firmware_sim.warmup_sample`` makes, and it holds strides of both feet."""
    import io

    import numpy as np

    from firmware_sim.warmup_sample import sample_bytes
    from gaitcoach.gait import analyze
    from gaitcoach.paths import package_file
    from gaitcoach.service.warmup import warmup_sample

    shipped = np.load(io.BytesIO(package_file("warmup.npz").read_bytes()))
    fresh = np.load(io.BytesIO(sample_bytes()))
    assert sorted(shipped.files) == sorted(fresh.files)
    for name in shipped.files:
        assert np.array_equal(shipped[name], fresh[name]), name
    strides = analyze(warmup_sample())
    assert {s.foot.value for s in strides} == {"left", "right"} and len(strides) >= 6
