"""The live terminal view (rich): what a runner glances at. Elapsed time, distance and pace;
each metric against its target, with an arrow and a colour when the coach wants a change; the
last cue and whether it reached the runner. Pod diagnostics (address, RSSI, counters) only
with ``--verbose``; otherwise one line per pod."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from gaitcoach.service.service import Service

HEARD = {
    "shown": ("on screen", "green"),
    "sent": ("sent to your phone", "green"),
    "sending": ("sending...", "yellow"),
}


def clock(seconds: float) -> str:
    """``1:02:03`` or ``12:34``."""
    total = max(0, round(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def pace(speed_mps: float | None) -> str:
    """m:ss per km from a speed (the runner's unit; m/s is for machines)."""
    if not speed_mps or speed_mps < 0.5:
        return "-:--"
    return clock(1000.0 / speed_mps) + " /km"


def _f(v: float | None, fmt: str, scale: float = 1.0) -> str:
    return "-" if v is None else format(v * scale, fmt)


def _row(table: Table, name: str, now: str, target: str, wanted: str | None, known: bool) -> None:
    if not known:
        table.add_row(name, now, target, Text("-", style="dim"))
    elif wanted:
        table.add_row(name, Text(now, style="bold yellow"), target, Text(wanted, style="yellow"))
    else:
        table.add_row(name, Text(now, style="bold green"), target, Text("ok", style="green"))


def metrics_table(service: Service) -> Table:
    m = service.state.metrics
    coach = service.pipeline.coach
    table = Table(expand=True, show_edge=False)
    for col in ("", "now", "target", ""):
        table.add_column(col)
    target = coach.cadence_target_spm_
    cad = m.cadence_spm if m else None
    low = coach.targets_()["cadence_enter_below_spm"]
    _row(
        table,
        "cadence",
        _f(cad, ".0f") + " spm",
        "-" if target is None else f"{target:.0f}",
        "↑ quicker steps" if cad is not None and low is not None and cad < low else None,
        cad is not None and target is not None,
    )
    over = m.overstride_m if m else None
    limit = coach.overstride_limit_m
    _row(
        table,
        "overstride",
        _f(over, ".0f", 100) + " cm",
        f"< {limit * 100:.0f}",
        "↓ land under hips" if over is not None and over > limit else None,
        over is not None,
    )
    angle = m.foot_strike_angle_deg if m else None
    slimit = coach.strike_angle_limit_deg
    pattern = m.strike_pattern.value if m and m.strike_pattern else ""
    _row(
        table,
        "foot strike",
        f"{_f(angle, '.0f')} deg {pattern}".strip(),
        f"< {slimit:.0f}",
        "↓ land softer" if angle is not None and angle > slimit else None,
        angle is not None,
    )
    contact = m.contact_time_s if m else None
    table.add_row("ground contact", _f(contact, ".0f", 1000) + " ms", "", "")
    balance = m.balance_contact_left_pct if m else None
    uneven = balance is not None and abs(balance - 50.0) > 2.0
    _row(
        table,
        "left / right",
        "-" if balance is None else f"{balance:.1f} / {100 - balance:.1f} %",
        "50 / 50",
        "uneven" if uneven else None,
        balance is not None,
    )
    return table


def headline(service: Service) -> Text:
    st = service.state
    m = st.metrics
    elapsed = 0.0 if st.session_started_s is None else service.clock.now() - st.session_started_s
    activity = m.activity.value if m else "waiting"
    line = Text()
    line.append(f"{clock(elapsed)}", style="bold")
    line.append("  elapsed   ")
    line.append(f"{st.distance_m / 1000:.2f} km", style="bold")
    line.append("   pace ")
    line.append(pace(m.speed_mps if m else None), style="bold")
    avg = elapsed / st.distance_m * 1000 if st.distance_m > 50 else None
    line.append(f" (avg {clock(avg) + ' /km' if avg else '-:--'})   {activity}")
    return line


def last_cue(service: Service) -> Text:
    cues = service.state.last_cues
    if not cues:
        return Text("no cues yet", style="dim")
    cue = cues[-1]
    how = service.state.cue_heard.get(cue.id, "sending")
    said, style = HEARD.get(how, (f"not delivered ({how.replace('_', ' ')})", "red"))
    ago = service.clock.now() - cue.created_s
    out = Text()
    out.append(f"“{cue.text}”", style="bold")
    out.append(f"  {clock(ago)} ago, ")
    out.append(said, style=style)
    return out


def pods_line(service: Service) -> Text:
    parts = []
    if service.link is not None:
        for st in service.link.status():
            battery = "" if st.battery_pct is None else f" {st.battery_pct} %"
            parts.append(f"{st.foot.value} {st.state.value}{battery}")
    gaps = service.state.gap_count
    tail = f"; {gaps} gap(s) in the data" if gaps else ""
    return Text("pods: " + (", ".join(parts) or "connecting") + tail, style="dim")


def pods_table(service: Service) -> Table:
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
    return pods


def render(service: Service, verbose: bool = False) -> Group:
    """One frame of the view from the service's current state (pod details when
    ``verbose``)."""
    head = Panel(
        Group(headline(service), Text(""), metrics_table(service), Text(""), last_cue(service)),
        title=f"gaitcoach: {service.config.runner.id}",
        title_align="left",
    )
    parts: list[RenderableType] = [head, pods_line(service), Text(mqtt_state(service), "dim")]
    if verbose:
        parts.append(pods_table(service))
        parts.append(Text(f"session {service.state.session_id or '-'}", style="dim"))
    return Group(*parts)


def live_view(verbose: bool = False) -> tuple[Live, Callable[[Service], None]]:
    """The live view (enter it around ``Service.run``) and the ``on_state`` that redraws it."""
    live = Live(auto_refresh=False)

    def on_state(svc: Service) -> None:
        live.update(render(svc, verbose), refresh=True)

    return live, on_state


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
