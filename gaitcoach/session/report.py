"""Self-contained HTML report of one session: tables plus inline PNG plots (matplotlib, Agg).

The file has no external references (no scripts, styles or images to fetch), so it can be
mailed to a coach or opened offline.
"""

from __future__ import annotations

import base64
import bisect
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gaitcoach.coach.targets import CadenceTarget
from gaitcoach.session.store import SessionData
from gaitcoach.session.summary import (
    DISPLAY,
    FATIGUE_METRICS,
    CueEffect,
    SessionSummary,
    Stat,
    _clock,
    data_banner,
    plausible,
)
from gaitcoach.types import FOREFOOT_BELOW_DEG, REARFOOT_ABOVE_DEG, Foot, StrideRecord

FOOT_COLOURS = {Foot.LEFT: "#1f77b4", Foot.RIGHT: "#d62728", Foot.UNKNOWN: "#7f7f7f"}
PLOTS = ("cadence", "strike_angle", "overstride", "contact_time", "cue_timeline")


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _rolling_median(t: np.ndarray, v: np.ndarray, window_s: float = 30.0) -> np.ndarray:
    """Median of ``v`` over the trailing ``window_s`` (``t`` ascending), each point included.

    A sorted window updated by insertion and removal (O(n log w) plus small memmoves) instead
    of a median of the whole window at every point (O(n w), seconds after a long run)."""
    out = np.empty(len(v), dtype=np.float64)
    ts, vs = t.tolist(), v.tolist()
    window: list[float] = []
    lo = 0
    for i, (ti, vi) in enumerate(zip(ts, vs, strict=True)):
        bisect.insort(window, vi)
        while ti - ts[lo] > window_s:
            del window[bisect.bisect_left(window, vs[lo])]
            lo += 1
        n = len(window)
        mid = n // 2
        out[i] = window[mid] if n % 2 else 0.5 * (window[mid - 1] + window[mid])
    return out


def _series(strides: Sequence[StrideRecord], name: str, t0: float) -> tuple[np.ndarray, ...]:
    pts = [(s.ic_s - t0, v) for s in strides if (v := getattr(s, name)) is not None]
    if not pts:
        return np.zeros(0), np.zeros(0)
    a = np.array(pts, dtype=np.float64)
    return a[:, 0] / 60.0, a[:, 1]


def shade_gaps(ax: Any, gaps: Sequence[tuple[float, float]]) -> None:
    """Grey where data was lost (minutes from the start), labelled once."""
    for i, (a, b) in enumerate(gaps):
        ax.axvspan(a, b, color="#bbbbbb", alpha=0.5, lw=0, label="no data" if i == 0 else None)


def plot_cadence(
    strides: Sequence[StrideRecord],
    t0: float,
    target: CadenceTarget | None,
    gaps: Sequence[tuple[float, float]] = (),
) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    t, v = _series(strides, "cadence_spm", t0)
    shade_gaps(ax, gaps)
    if target is not None:
        ax.axhspan(target.low_spm, target.high_spm, color="#2ca02c", alpha=0.15)
        ax.axhline(
            target.target_spm, color="#2ca02c", lw=1.5, label=f"target {target.target_spm:.0f}"
        )
    if t.size:
        ax.plot(t, v, ".", ms=2, color="#999999", label="per stride")
        ax.plot(t, _rolling_median(t * 60, v), color="#1f77b4", lw=2, label="30 s median")
    ax.set(xlabel="time (min)", ylabel="cadence (steps/min)", title="Cadence")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_strike_angle(strides: Sequence[StrideRecord]) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    bins = [float(b) for b in np.arange(-20, 35, 2.0)]
    for foot in (Foot.LEFT, Foot.RIGHT):
        v = [s.foot_strike_angle_deg for s in strides if s.foot is foot]
        vals = [x for x in v if x is not None]
        if vals:
            ax.hist(vals, bins=bins, alpha=0.5, color=FOOT_COLOURS[foot], label=foot.value)
    ax.axvline(REARFOOT_ABOVE_DEG, color="k", ls="--", lw=1)
    ax.axvline(FOREFOOT_BELOW_DEG, color="k", ls=":", lw=1)
    ax.set(xlabel="foot strike angle (deg, + = toes up)", ylabel="strides", title="Strike angle")
    if ax.get_legend_handles_labels()[0]:  # no data: no legend
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_overstride(
    strides: Sequence[StrideRecord], t0: float, gaps: Sequence[tuple[float, float]] = ()
) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    shade_gaps(ax, gaps)
    t, v = _series(strides, "overstride_m", t0)
    if t.size:
        ax.plot(t, v * 100, ".", ms=2, color="#999999")
        ax.plot(t, _rolling_median(t * 60, v) * 100, color="#ff7f0e", lw=2)
    ax.set(xlabel="time (min)", ylabel="overstride (cm)", title="Overstride estimate")
    fig.tight_layout()
    return fig


def plot_contact(
    strides: Sequence[StrideRecord], t0: float, gaps: Sequence[tuple[float, float]] = ()
) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    shade_gaps(ax, gaps)
    for foot in (Foot.LEFT, Foot.RIGHT):
        t, v = _series([s for s in strides if s.foot is foot], "contact_time_s", t0)
        if t.size:
            ax.plot(t, _rolling_median(t * 60, v) * 1000, color=FOOT_COLOURS[foot], label=foot)
    ax.set(xlabel="time (min)", ylabel="contact time (ms)", title="Contact time, left / right")
    if ax.get_legend_handles_labels()[0]:  # no data: no legend
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_cues(
    data: SessionData, t0: float, duration_s: float, gaps: Sequence[tuple[float, float]] = ()
) -> Figure:
    fig = Figure(figsize=(8, 2.2))
    ax = fig.add_subplot()
    shade_gaps(ax, gaps)
    kinds = sorted({c.kind.value for c in data.cues})
    rows = [*kinds, "discomfort report"]
    for i, kind in enumerate(kinds):
        t = [(c.created_s - t0) / 60 for c in data.cues if c.kind.value == kind]
        ax.plot(t, [i] * len(t), "|", ms=14, mew=2)
    t = [(d.t_s - t0) / 60 for d in data.discomfort]
    ax.plot(t, [len(kinds)] * len(t), "v", color="#d62728")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlim(0, max(duration_s / 60, 1.0))
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set(xlabel="time (min)", title="Cues and discomfort reports")
    fig.tight_layout()
    return fig


def _fmt(v: float | None, digits: int = 1, scale: float = 1.0) -> str:
    return "-" if v is None else f"{v * scale:.{digits}f}"


def _stat(st: Stat | None, digits: int, scale: float) -> str:
    if st is None:
        return "-"
    return (
        f"{st.median * scale:.{digits}f} ({st.p25 * scale:.{digits}f}-{st.p75 * scale:.{digits}f})"
    )


def metric_value(v: float | None, name: str) -> str:
    """A metric in its display unit and precision (``-`` when unknown)."""
    if v is None:
        return "-"
    _, _, scale, digits = DISPLAY[name]
    return f"{v * scale:.{digits}f}"


@dataclass(frozen=True, slots=True)
class Reference:
    """What is typical for a recreational runner, in the display unit, and where it is from."""

    text: str
    source: str


REFERENCES: dict[str, Reference] = {
    "cadence_spm": Reference(
        "153-183",
        "Garmin Running Dynamics colour gauge: the middle 80 % of Garmin runners' cadence; "
        "cadence rises with speed",
    ),
    "contact_time_s": Reference(
        "218-308",
        "Garmin Running Dynamics colour gauge for ground contact time (middle 80 %); contact "
        "shortens with speed",
    ),
    "foot_strike_angle_deg": Reference(
        "> 8 = heel first",
        "Altman & Davis 2012 (strike classes by foot angle); most recreational distance "
        "runners land heel first (Larson et al. 2011)",
    ),
    "overstride_m": Reference(
        "15-25",
        "gaitcoach's coaching rule (docs/coaching.md): efficient runners land about 15-25 cm "
        "ahead of the centre of mass at 3-4 m/s; the coach cues above 30",
    ),
}
BALANCE_REFERENCE = Reference(
    "48-52", "within about 2 % of even left/right (Garmin's ground contact balance gauge)"
)

CSS = """
body{font-family:system-ui,sans-serif;margin:1em auto;max-width:60em;padding:0 .8em;color:#222;
line-height:1.4}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%;height:auto}
.advice{border-left:4px solid #2ca02c;padding:.2em 1em;margin:1em 0;background:#f5fbf5}
.advice.warning{border-left-color:#d62728;background:#fdf0f0}
.banner{border:1px solid #e6a700;background:#fff8e1;padding:.5em 1em;margin:1em 0}
.undelivered{color:#888}.small{font-size:.85em;color:#555}
.disclaimer{font-size:.9em;color:#555;border-top:1px solid #ccc;padding-top:.5em}
@media (max-width:40em){body{font-size:15px}td,th{padding:.2em .3em}
.wide{display:none}}
"""


def _pace(s_per_km: float | None) -> str:
    return "-" if s_per_km is None else f"{_clock(s_per_km)} /km"


def local_time(utc_iso: str) -> str:
    """A stored UTC time as the reader's local time, like ``Thu 3 Dec 2026, 10:36``."""
    try:
        when = datetime.fromisoformat(utc_iso)
    except ValueError:
        return utc_iso
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    local = when.astimezone()
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def render_html(data: SessionData, summary: SessionSummary) -> str:
    """The whole report as one HTML string."""
    e = html.escape
    strides, _, _ = plausible(data.strides)
    strides.sort(key=lambda s: s.ic_s)
    t0 = min([s.ic_s for s in strides] + [data.info.first_t_s or np.inf])
    if not np.isfinite(t0):
        t0 = 0.0
    gaps = [((g.start_s - t0) / 60.0, (g.end_s - t0) / 60.0) for g in data.gaps]
    figures = {
        "cadence": plot_cadence(strides, t0, summary.cadence_target, gaps),
        "strike_angle": plot_strike_angle(strides),
        "overstride": plot_overstride(strides, t0, gaps),
        "contact_time": plot_contact(strides, t0, gaps),
        "cue_timeline": plot_cues(data, t0, summary.duration_s, gaps),
    }
    target = summary.cadence_target
    target_text = (
        f" Cadence target {target.target_spm:.0f} steps/min ({e(target.source)})." if target else ""
    )
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>gaitcoach run {e(summary.session_id)}</title><style>{CSS}</style></head>",
        "<body>",
        f"<h1>Run of {e(local_time(summary.started_utc))}</h1>",
        f"<p id='overview'>{summary.distance_m / 1000:.2f} km in "
        f"{_clock(summary.moving_time_s)} moving ({_clock(summary.duration_s)} in all), pace "
        f"{_pace(summary.pace_s_per_km)}, {summary.n_strides['all']} strides.{target_text}"
        f" <span class='small'>Runner {e(summary.runner)}, session "
        f"<code>{e(summary.session_id)}</code>, {e(summary.status)}.</span></p>",
    ]
    banner = data_banner(summary)
    if banner:
        out.append(f"<p class='banner' id='data-banner'>{e(banner)}</p>")
    out.append("<h2>Advice</h2>")
    if not summary.advice:
        out.append("<p>Nothing to change from this run: keep it up.</p>")
    for a in summary.advice:
        reasons = "".join(f"<li>{e(r)}</li>" for r in a.reasons)
        kind = "advice warning" if a.warning else "advice"
        out.append(
            f"<div class='{kind}' data-tip='{e(a.tip)}'><h3>{e(a.title)}</h3><p>{e(a.text)}</p>"
            f"<p>Why:</p><ul>{reasons}</ul></div>"
        )
    out.append(
        "<h2>Gait metrics</h2><div class='scroll'><table id='metrics'><tr><th>metric</th>"
        "<th>median (IQR)</th><th>typical</th><th class='wide'>left</th>"
        "<th class='wide'>right</th><th>left share %</th></tr>"
    )
    for name, m in summary.metrics.items():
        label, unit, scale, digits = DISPLAY[name]
        ref = REFERENCES.get(name)
        typical = f"{e(ref.text)}<sup>{list(REFERENCES).index(name) + 1}</sup>" if ref else "-"
        out.append(
            f"<tr><td>{e(label)} ({e(unit)})</td><td>{_stat(m.all, digits, scale)}</td>"
            f"<td>{typical}</td><td class='wide'>{_stat(m.left, digits, scale)}</td>"
            f"<td class='wide'>{_stat(m.right, digits, scale)}</td>"
            f"<td>{_fmt(m.left_share_pct)}</td></tr>"
        )
    out.append("</table></div><ol class='small' id='references'>")
    for name, ref in REFERENCES.items():
        out.append(f"<li>{e(DISPLAY[name][0])}: {e(ref.source)}.</li>")
    out.append(
        f"<li>Left share: {e(BALANCE_REFERENCE.text)} % is typical, "
        f"{e(BALANCE_REFERENCE.source)}.</li></ol>"
    )
    fat = summary.fatigue
    drifts = [d for d in (getattr(fat, n) for n in FATIGUE_METRICS) if d.start is not None]
    if drifts:
        out.append(
            "<h2>Over the run</h2><div class='scroll'><table id='fatigue'><tr><th>metric</th>"
            "<th>start</th><th>end</th><th>change</th></tr>"
        )
        for d in drifts:
            label, unit, scale, digits = DISPLAY[d.metric]
            assert d.start is not None and d.end is not None and d.change is not None
            pct = f" ({d.change_pct:+.1f} %)" if d.change_pct is not None else ""
            out.append(
                f"<tr><td>{e(label)} ({e(unit)})</td><td>{d.start * scale:.{digits}f}</td>"
                f"<td>{d.end * scale:.{digits}f}</td>"
                f"<td>{d.change * scale:+.{digits}f}{pct}</td></tr>"
            )
        out.append("</table></div>")
    share = summary.strike_share_pct
    out.append(
        "<div class='scroll'><table id='strike'><tr><th>foot strike</th><th>all %</th>"
        "<th>left %</th><th>right %</th></tr>"
    )
    for cls in ("rearfoot", "midfoot", "forefoot"):
        out.append(
            f"<tr><td>{cls}</td><td>{share['all'][cls]:.0f}</td>"
            f"<td>{share['left'][cls]:.0f}</td><td>{share['right'][cls]:.0f}</td></tr>"
        )
    out.append("</table></div><h2>Plots</h2>")
    for name in PLOTS:
        out.append(
            f"<figure><img class='plot' id='plot-{name}' alt='{name.replace('_', ' ')} plot' "
            f"src='data:image/png;base64,{_png(figures[name])}'></figure>"
        )
    out.append(
        "<h2>Splits per km</h2><div class='scroll'><table id='splits-km'><tr><th>km</th>"
        "<th>pace</th><th>cadence</th><th>contact ms</th><th class='wide'>strike deg</th>"
        "<th class='wide'>overstride cm</th></tr>"
    )
    for sp in summary.splits_km:
        md = sp.medians
        out.append(
            f"<tr><td>{sp.index + 1}{'' if sp.distance_m > 990 else ' (part)'}</td>"
            f"<td>{_pace(sp.pace_s_per_km)}</td><td>{_fmt(md['cadence_spm'], 0)}</td>"
            f"<td>{_fmt(md['contact_time_s'], 0, 1000)}</td>"
            f"<td class='wide'>{_fmt(md['foot_strike_angle_deg'])}</td>"
            f"<td class='wide'>{_fmt(md['overstride_m'], 1, 100)}</td></tr>"
        )
    out.append(
        "</table></div><h2>Cues</h2><div class='scroll'><table id='cues'><tr><th>time</th>"
        "<th>cue</th><th>heard</th><th>effect</th></tr>"
    )
    for c in summary.cues:
        out.append(
            f"<tr class='{'' if c.delivered else 'undelivered'}'><td>{_clock(c.t_s)}</td>"
            f"<td>{e(c.text)}</td><td>{'yes' if c.delivered else 'no (expired)'}</td>"
            f"<td>{e(cue_effect_text(c))}</td></tr>"
        )
    out.append("</table></div>")
    if summary.discomfort:
        out.append("<h2>Discomfort reports</h2><ul>")
        for d in summary.discomfort:
            note = f": {e(d.note)}" if d.note else ""
            out.append(f"<li>{_clock(d.t_s)}, {e(d.body_part)} {d.score}/10{note}</li>")
        out.append("</ul>")
    dq = summary.data_quality
    out.append(
        f"<p class='small'>Data: {dq.gaps} gaps, {dq.lost_samples} samples lost "
        f"({dq.lost_share_pct:.1f} %), feet {', '.join(dq.feet) or 'none'}.</p>"
        f"<p class='disclaimer'>{e(summary.disclaimer)}</p></body></html>"
    )
    return "\n".join(out)


def cue_effect_text(c: CueEffect) -> str:
    """What the metric did after a cue the runner heard (nothing is claimed otherwise)."""
    if not c.delivered:
        return "-"
    if c.moved is None or c.metric is None or c.before is None or c.after is None:
        return "-"
    label, unit, scale, digits = DISPLAY[c.metric]
    way = "moved as asked" if c.moved else "did not move"
    return (
        f"{label.lower()} {c.before * scale:.{digits}f} -> {c.after * scale:.{digits}f} "
        f"{unit}: {way}"
    )
