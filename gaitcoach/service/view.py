"""The live terminal view (rich): pods, rolling metrics, the last cues."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:
    from gaitcoach.service.service import Service


def _f(v: float | None, fmt: str, scale: float = 1.0) -> str:
    return "-" if v is None else format(v * scale, fmt)


def render(service: Service, verbose: bool = False) -> Group:
    """One frame of the view from the service's current state (pod details when
    ``verbose``)."""
    pods = Table(title="pods", expand=True)
    for col in ("foot", "state", "address", "battery %", "rssi", "samples", "lost", "gaps", "bad"):
        pods.add_column(col)
    if service.link is not None:
        for st in service.link.status():
            c = st.counters
            pods.add_row(
                st.foot.value,
                st.state.value,
                st.address or "-",
                "-" if st.battery_pct is None else str(st.battery_pct),
                "-" if st.rssi_dbm is None else str(st.rssi_dbm),
                str(c.samples),
                str(c.lost_samples),
                str(c.gaps),
                str(c.malformed + c.duplicates),
            )
    m = service.state.metrics
    metrics = Table(title="gait (rolling medians)", expand=True)
    for col in (
        "activity",
        "cadence spm",
        "strike",
        "overstride cm",
        "contact ms",
        "stride m",
        "speed m/s",
        "L/R contact %",
    ):
        metrics.add_column(col)
    if m is not None:
        strike = "-"
        if m.foot_strike_angle_deg is not None:
            pattern = m.strike_pattern.value if m.strike_pattern else "?"
            strike = f"{pattern} {m.foot_strike_angle_deg:.0f} deg"
        metrics.add_row(
            m.activity.value,
            _f(m.cadence_spm, ".0f"),
            strike,
            _f(m.overstride_m, ".0f", 100),
            _f(m.contact_time_s, ".0f", 1000),
            _f(m.stride_length_m, ".2f"),
            _f(m.speed_mps, ".2f"),
            _f(m.balance_contact_left_pct, ".1f"),
        )
    cues = Table(title="last cues", expand=True)
    cues.add_column("kind")
    cues.add_column("level")
    cues.add_column("text")
    for cue in reversed(service.state.last_cues):
        cues.add_row(cue.kind.value, str(cue.level), cue.text)
    head = f"runner {service.config.runner.id}  session {service.state.session_id or '-'}"
    parts: list[RenderableType] = [Panel(f"{head}\n{mqtt_state(service)}"), metrics, cues]
    if verbose:
        parts.insert(1, pods)
    return Group(*parts)


def mqtt_state(service: Service) -> str:
    """One line on the broker: a degraded state is shown where the runner looks (coaching
    goes on here; messages wait, bounded, for the configured broker)."""
    pub = service.publisher
    if pub is None:
        return "MQTT off (no broker configured): cues are shown here only"
    c = pub.connection
    where = f"{c.settings.host}:{c.settings.port}"
    if c.connected:
        return f"MQTT {c.protocol} connected to {where}"
    if c.down_since_s is None:
        return f"MQTT connecting to {where}"
    down_s = time.monotonic() - c.down_since_s
    return (
        f"MQTT DEGRADED: {where} unavailable for {down_s:.0f} s ({c.down_reason}); retrying. "
        f"Coaching goes on here; {pub.queued} messages queued"
    )


def live_view(verbose: bool = False) -> tuple[Live, Callable[[Service], None]]:
    """The live view (enter it around ``Service.run``) and the ``on_state`` that redraws it."""
    live = Live(auto_refresh=False)

    def on_state(svc: Service) -> None:
        live.update(render(svc, verbose), refresh=True)

    return live, on_state
