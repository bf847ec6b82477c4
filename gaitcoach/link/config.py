"""Configuration of the live link: which pods, how to stream, how to reconnect."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, Strict

from gaitcoach.configmodel import SECTION_CONFIG, Bool, must, ranged, section_from_dict
from gaitcoach.errors import ConfigError, Problem
from gaitcoach.footpod.codec import ImuFormat, PacketError
from gaitcoach.footpod.profile import ACC_RANGES_G, GYR_RANGES_DPS, RATES_HZ, PodKind
from gaitcoach.types import Foot

RateHz = Literal[104, 208, 416]
AccRangeG = Literal[2, 4, 8, 16]
GyrRangeDps = Literal[125, 250, 500, 1000, 2000]
# The footpod profile's values (one list each): the literals above must be the same.
assert get_args(RateHz) == RATES_HZ
assert get_args(AccRangeG) == ACC_RANGES_G
assert get_args(GyrRangeDps) == GYR_RANGES_DPS

NonEmpty = Annotated[str, Strict(), Field(min_length=1)]
Seconds = Annotated[float, Strict(), ranged(0.0, 3600.0)]
PositiveSeconds = Annotated[float, Strict(), Field(gt=0.0, le=3600.0)]


@dataclass(frozen=True, slots=True)
class FoundPod:
    """A pod seen while scanning."""

    address: str
    name: str
    kind: PodKind
    side: Foot
    """From the advertisement (footpod profile) or ``unknown``."""
    rssi_dbm: int | None = None
    battery_pct: int | None = None
    evidence: tuple[str, ...] = ()
    """Why the advertisement makes it a candidate of ``kind`` (one sentence per rule); the
    link confirms the kind from the GATT services after connecting."""


@dataclass(frozen=True, slots=True)
class PodSelector:
    """Picks one pod: by address, by name, or by the side it advertises. ``foot`` is the foot
    the pod is worn on when the pod itself does not say (RSC-only pods, Movesense)."""

    __pydantic_config__ = SECTION_CONFIG

    address: NonEmpty | None = None
    name: NonEmpty | None = None
    side: Foot | None = None
    foot: Foot | None = None

    def __post_init__(self) -> None:
        if self.address is None and self.name is None and self.side is None:
            raise ConfigError("link.pods[]", self, "at least one of address, name or side")

    def matches(self, pod: FoundPod) -> bool:
        if self.address is not None and pod.address.upper() != self.address.upper():
            return False
        if self.name is not None and pod.name != self.name:
            return False
        return self.side is None or pod.side == self.side

    def resolve_foot(self, pod_side: Foot) -> Foot:
        if pod_side is not Foot.UNKNOWN:
            return pod_side
        if self.foot is not None:
            return self.foot
        return self.side if self.side is not None else Foot.UNKNOWN


def _default_pods() -> tuple[PodSelector, ...]:
    return (PodSelector(side=Foot.LEFT), PodSelector(side=Foot.RIGHT))


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """Settings of :class:`gaitcoach.link.FootpodLink`.

    ``time_scale`` must equal the virtual pods' speed factor when they run faster than real
    time: output timestamps are ``time.monotonic() * time_scale`` based, so they stay in true
    seconds (stride times do not shrink).
    """

    __pydantic_config__ = SECTION_CONFIG

    pods: Annotated[tuple[PodSelector, ...], Field(min_length=1)] = field(
        default_factory=_default_pods
    )
    rate_hz: RateHz = 208
    acc_range_g: AccRangeG = 16
    gyr_range_dps: GyrRangeDps = 2000
    time_scale: Annotated[float, Strict(), Field(gt=0.0, le=1000.0)] = 1.0
    scan_timeout_s: PositiveSeconds = 10.0
    connect_attempts: Annotated[int, Strict(), ranged(1, 100)] = 2
    backoff_initial_s: PositiveSeconds = 0.2
    backoff_max_s: PositiveSeconds = 5.0
    queue_size: Annotated[int, Strict(), ranged(1, 10_000_000)] = 4096
    latency_floor_s: Annotated[float, Strict(), ranged(0.0, 10.0)] = 0.0
    settle_s: Seconds = 3.0
    use_acquire_notify: Bool = True
    """AcquireNotify (a socket per characteristic) instead of StartNotify + PropertiesChanged."""
    status_interval_s: PositiveSeconds = 5.0
    data_timeout_s: PositiveSeconds = 10.0
    """Host seconds an IMU pod (footpod, Movesense) may stay connected without a data
    notification before the session ends and the pod is connected again (RSC pods are not
    timed: a footpod may pause its measurements while the runner stands)."""
    adapter: NonEmpty | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], prefix: str = "link") -> LinkConfig:
        return section_from_dict(cls, d, prefix)

    def problems(self, prefix: str) -> list[Problem]:
        return must(
            self.backoff_max_s >= self.backoff_initial_s,
            prefix,
            "backoff_max_s",
            self.backoff_max_s,
            ">= backoff_initial_s",
        )

    @property
    def imu_format(self) -> ImuFormat:
        try:
            return ImuFormat(self.rate_hz, self.acc_range_g, self.gyr_range_dps)
        except PacketError as exc:
            # The [link] table's types allow only formats the pods have; a LinkConfig built
            # in code is not validated, so it fails here, when its format is first needed.
            raise ConfigError("link", self, str(exc)) from exc
