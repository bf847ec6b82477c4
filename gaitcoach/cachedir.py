"""Where numba keeps the gait engine's compiled kernels: the user's cache directory.

numba's default is a ``__pycache__`` beside the source, which is read-only in a system
install (numba then compiles again at every start: seconds to minutes). This runs when
``gaitcoach`` is imported, before anything imports numba, and leaves an explicit
``NUMBA_CACHE_DIR`` alone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gaitcoach.paths import user_cache_dir

__all__ = ["set_numba_cache_dir", "user_cache_dir"]


def kernels_fingerprint(sources: Path | None = None) -> str:
    """A digest of the gait engine's sources. numba checks a cached kernel against its own
    file only, not against the kernels it calls in other modules: a cache built before a
    callee changed would be loaded stale. One cache folder per version of the sources
    rules that out (and an upgrade never loads an old build)."""
    digest = hashlib.sha256()
    folder = sources if sources is not None else Path(__file__).parent / "gait"
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def set_numba_cache_dir() -> Path | None:
    """Point ``NUMBA_CACHE_DIR`` at ``<user cache>/numba/<sources digest>`` unless it is set
    already; None (numba's own fallback) when that directory cannot be created."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    try:
        fingerprint = kernels_fingerprint()
    except OSError:
        return None
    path = user_cache_dir() / "numba" / fingerprint
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    return path
