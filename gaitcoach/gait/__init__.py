"""The gait engine: streaming swing and stride analysis of foot-mounted IMUs (numpy and numba
kernels; no I/O).

Stages (one module each, gaitmap's layout): :mod:`~gaitcoach.gait.checks` (input),
:mod:`~gaitcoach.gait.rest` (zero velocity), :mod:`~gaitcoach.gait.alignment` (sensor to
foot), :mod:`~gaitcoach.gait.swings` and :mod:`~gaitcoach.gait.segmentation` (swing-first
segmentation), :mod:`~gaitcoach.gait.trajectory` (strapdown with ZUPT),
:mod:`~gaitcoach.gait.events` (TO, MS, IC), :mod:`~gaitcoach.gait.parameters` (records);
:class:`FootAnalyzer` drives them for one foot, :class:`GaitAnalyzer` for both,
:func:`analyze` is the batch path (the same code). Definitions: docs/metrics.md; accuracy:
docs/validation.md.
"""

from gaitcoach.gait.alignment import ForwardSignAlignment, GravityPcaAlignment, SensorAlignment
from gaitcoach.gait.analyzer import GaitAnalyzer, GaitResult, analyze, analyze_all
from gaitcoach.gait.checks import GaitInputError, RejectCounts
from gaitcoach.gait.config import GaitConfig
from gaitcoach.gait.events import DorsiflexionEndIC, ImpactOnsetIC, MidSwing, PivotToeOff
from gaitcoach.gait.foot import FootAnalyzer
from gaitcoach.gait.overstride import overstride_m
from gaitcoach.gait.rest import StanceEnergyRest
from gaitcoach.gait.segmentation import SwingSegmenter
from gaitcoach.gait.swings import PitchSwingDetector, ZuptStepDetector
from gaitcoach.gait.trajectory import StrapdownZupt

__all__ = [
    "DorsiflexionEndIC",
    "FootAnalyzer",
    "ForwardSignAlignment",
    "GaitAnalyzer",
    "GaitConfig",
    "GaitInputError",
    "GaitResult",
    "GravityPcaAlignment",
    "ImpactOnsetIC",
    "MidSwing",
    "PitchSwingDetector",
    "PivotToeOff",
    "RejectCounts",
    "SensorAlignment",
    "StanceEnergyRest",
    "StrapdownZupt",
    "SwingSegmenter",
    "ZuptStepDetector",
    "analyze",
    "analyze_all",
    "overstride_m",
]
