"""gaitcoach: live running-gait feedback from shoe-mounted IMU footpods."""

from gaitcoach.cachedir import set_numba_cache_dir

__version__ = "0.1.0"

# Before any gaitcoach module imports numba (numba reads its cache location at import).
set_numba_cache_dir()
