"""The gait engine: streaming stride analysis of foot-mounted IMUs (numpy/scipy and numba
kernels; no I/O).

Public API: :class:`GaitConfig`, :class:`FootAnalyzer` (one foot), :class:`GaitAnalyzer`
(both feet, bilateral values), :func:`analyze` (batch = the same code). Definitions of every
metric: docs/metrics.md; accuracy: docs/validation.md.
"""

from gaitcoach.gait.alignment import SensorAlignment
from gaitcoach.gait.analyzer import GaitAnalyzer, analyze
from gaitcoach.gait.checks import GaitInputError, RejectCounts
from gaitcoach.gait.config import GaitConfig
from gaitcoach.gait.foot import FootAnalyzer, SegmentResult
from gaitcoach.gait.overstride import overstride_m

__all__ = [
    "FootAnalyzer",
    "GaitAnalyzer",
    "GaitConfig",
    "GaitInputError",
    "RejectCounts",
    "SegmentResult",
    "SensorAlignment",
    "analyze",
    "overstride_m",
]
