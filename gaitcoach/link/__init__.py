"""The live link: scan, pair, connect both footpods with bleak, decode, map sensor time to
host time, report gaps, reconnect forever (docs/footpod-profile.md, "Client API")."""

from gaitcoach.link.clock import SensorClock
from gaitcoach.link.config import FoundPod, LinkConfig, PodSelector
from gaitcoach.link.discovery import scan
from gaitcoach.link.link import FootpodLink
from gaitcoach.link.pod import LinkItem, PodStatus, RscReading
from gaitcoach.link.tracker import ImuTracker, MovesenseTracker, StreamCounters

__all__ = [
    "FootpodLink",
    "FoundPod",
    "ImuTracker",
    "LinkConfig",
    "LinkItem",
    "MovesenseTracker",
    "PodSelector",
    "PodStatus",
    "RscReading",
    "SensorClock",
    "StreamCounters",
    "scan",
]
