"""Configuration of the live link: which pods, how to stream, how to reconnect."""

from __future__ import annotations

from dataclasses import dataclass, field

from gaitcoach.errors import ConfigError
from gaitcoach.footpod.codec import ImuFormat, PacketError
from gaitcoach.footpod.profile import ACC_RANGES_G, GYR_RANGES_DPS, RATES_HZ, PodKind
from gaitcoach.types import Foot


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

    address: str | None = None
    name: str | None = None
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

    pods: tuple[PodSelector, ...] = field(default_factory=_default_pods)
    rate_hz: int = 208
    acc_range_g: int = 16
    gyr_range_dps: int = 2000
    time_scale: float = 1.0
    scan_timeout_s: float = 10.0
    connect_attempts: int = 2
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    queue_size: int = 4096
    latency_floor_s: float = 0.0
    settle_s: float = 3.0
    use_acquire_notify: bool = True
    """AcquireNotify (a socket per characteristic) instead of StartNotify + PropertiesChanged."""
    status_interval_s: float = 5.0
    adapter: str | None = None

    def __post_init__(self) -> None:
        if not self.pods:
            raise ConfigError("link.pods", self.pods, "one or more pod selectors")
        if self.rate_hz not in RATES_HZ:
            raise ConfigError("link.rate_hz", self.rate_hz, ", ".join(map(str, RATES_HZ)))
        if self.acc_range_g not in ACC_RANGES_G:
            raise ConfigError("link.acc_range_g", self.acc_range_g, str(ACC_RANGES_G))
        if self.gyr_range_dps not in GYR_RANGES_DPS:
            raise ConfigError("link.gyr_range_dps", self.gyr_range_dps, str(GYR_RANGES_DPS))
        for key in ("time_scale", "scan_timeout_s", "backoff_initial_s", "status_interval_s"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"link.{key}", getattr(self, key), "a number > 0")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ConfigError("link.backoff_max_s", self.backoff_max_s, ">= backoff_initial_s")
        if self.queue_size < 1 or self.connect_attempts < 1:
            raise ConfigError("link.queue_size", self.queue_size, "queue_size, attempts >= 1")

    @property
    def imu_format(self) -> ImuFormat:
        try:
            return ImuFormat(self.rate_hz, self.acc_range_g, self.gyr_range_dps)
        except PacketError as exc:  # pragma: no cover - validated in __post_init__
            raise ConfigError("link", self, str(exc)) from exc
