"""Small base classes of the engine's stages, in gaitmap's manner (Küderle et al. 2024).

Every algorithm is a class whose parameters are ``__init__`` keywords stored as given (no work
in ``__init__``); one action method (``detect``, ``segment``, ``estimate``) computes and returns
``self``; results are attributes ending in ``_``. A stage's base class fixes the action method,
so a second method of the same stage drops in beside the first (and is benchmarked beside it).
"""

from __future__ import annotations

import inspect
from typing import Any


class Algorithm:
    """Parameters in ``__init__``, results ending in ``_`` (see the module docstring)."""

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters and their values."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class BaseRestDetector(Algorithm):
    """Rest / zero-velocity detection: ``detect(t, acc, gyr) -> self`` with ``energy_``
    (per sample, below 1 = could rest) and ``rest_`` (boolean, per sample)."""


class BaseAlignment(Algorithm):
    """Sensor-to-foot alignment: ``estimate(...) -> self`` with ``r_fs_`` (3, 3)."""


class BaseSwingDetector(Algorithm):
    """Swing detection in one run of samples: ``detect(...) -> self`` with ``swings_``
    (rows of start, one-past-end sample)."""


class BaseSegmenter(Algorithm):
    """Stride segmentation: ``segment(...) -> self`` with ``spans_`` (one row per swing:
    start anchor, end anchor, swing bounds, see :data:`~gaitcoach.gait.kernels.SPAN_DTYPE`)."""


class BaseTrajectory(Algorithm):
    """Trajectory of one segment between two zero-velocity instants: ``estimate(...) -> self``
    with ``quat_``, ``vel_mps_``, ``speed_mps_``."""


class BaseEventDetector(Algorithm):
    """One gait event per segment: ``detect(...) -> self`` with ``event_s_``."""
