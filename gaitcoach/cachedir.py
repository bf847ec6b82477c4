"""Where numba keeps the gait engine's compiled kernels: the user's cache directory.

numba's default is a ``__pycache__`` beside the source, which is read-only in a system
install (numba then compiles again at every start: seconds to minutes). This runs when
``gaitcoach`` is imported, before anything imports numba, and leaves an explicit
``NUMBA_CACHE_DIR`` alone.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/gaitcoach``, else ``~/.cache/gaitcoach``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gaitcoach"


def set_numba_cache_dir() -> Path | None:
    """Point ``NUMBA_CACHE_DIR`` at ``<user cache>/numba`` unless it is set already; None
    (numba's own fallback) when that directory cannot be created."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    path = user_cache_dir() / "numba"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    return path
