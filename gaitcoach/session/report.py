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

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gaitcoach.session.store import SessionData
from gaitcoach.session.summary import SessionSummary, Stat
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


def plot_cadence(strides: Sequence[StrideRecord], t0: float, band: tuple[float, float]) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    t, v = _series(strides, "cadence_spm", t0)
    ax.axhspan(band[0], band[1], color="#2ca02c", alpha=0.15, label="target band")
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


def plot_overstride(strides: Sequence[StrideRecord], t0: float) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    t, v = _series(strides, "overstride_m", t0)
    if t.size:
        ax.plot(t, v * 100, ".", ms=2, color="#999999")
        ax.plot(t, _rolling_median(t * 60, v) * 100, color="#ff7f0e", lw=2)
    ax.set(xlabel="time (min)", ylabel="overstride (cm)", title="Overstride estimate")
    fig.tight_layout()
    return fig


def plot_contact(strides: Sequence[StrideRecord], t0: float) -> Figure:
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    for foot in (Foot.LEFT, Foot.RIGHT):
        t, v = _series([s for s in strides if s.foot is foot], "contact_time_s", t0)
        if t.size:
            ax.plot(t, _rolling_median(t * 60, v) * 1000, color=FOOT_COLOURS[foot], label=foot)
    ax.set(xlabel="time (min)", ylabel="contact time (ms)", title="Contact time, left / right")
    if ax.get_legend_handles_labels()[0]:  # no data: no legend
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_cues(data: SessionData, t0: float, duration_s: float) -> Figure:
    fig = Figure(figsize=(8, 2.2))
    ax = fig.add_subplot()
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


# Display unit and decimals per metric.
DISPLAY = {
    "cadence_spm": ("cadence", "steps/min", 1.0, 0),
    "stride_length_m": ("stride length", "m", 1.0, 2),
    "speed_mps": ("speed", "m/s", 1.0, 2),
    "contact_time_s": ("contact time", "ms", 1000.0, 0),
    "flight_time_s": ("flight time", "ms", 1000.0, 0),
    "foot_strike_angle_deg": ("strike angle", "deg", 1.0, 1),
    "overstride_m": ("overstride", "cm", 100.0, 1),
    "peak_impact_g": ("peak impact", "g", 1.0, 1),
    "loading_rate_gps": ("loading rate", "g/s", 1.0, 0),
}

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th:first-child,td:first-child{text-align:left}img{max-width:100%}
.advice{border-left:4px solid #2ca02c;padding:.2em 1em;margin:1em 0;background:#f5fbf5}
.disclaimer{font-size:.9em;color:#555;border-top:1px solid #ccc;padding-top:.5em}
"""


def _pace(s_per_km: float | None) -> str:
    if s_per_km is None:
        return "-"
    m, s = divmod(round(s_per_km), 60)
    return f"{m}:{s:02d} /km"


def render_html(data: SessionData, summary: SessionSummary) -> str:
    """The whole report as one HTML string."""
    e = html.escape
    strides = sorted(data.strides, key=lambda s: s.ic_s)
    t0 = min([s.ic_s for s in strides] + [data.info.first_t_s or np.inf])
    if not np.isfinite(t0):
        t0 = 0.0
    figures = {
        "cadence": plot_cadence(strides, t0, summary.target_cadence_spm),
        "strike_angle": plot_strike_angle(strides),
        "overstride": plot_overstride(strides, t0),
        "contact_time": plot_contact(strides, t0),
        "cue_timeline": plot_cues(data, t0, summary.duration_s),
    }
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>gaitcoach session {e(summary.session_id)}</title><style>{CSS}</style></head>",
        "<body>",
        f"<h1>Run of {e(summary.started_utc[:16].replace('T', ' '))} UTC</h1>",
        f"<p id='overview'>Session <code>{e(summary.session_id)}</code>, runner "
        f"{e(summary.runner)}, status <b>{e(summary.status)}</b>: "
        f"{summary.duration_s / 60:.1f} min, {summary.distance_m / 1000:.2f} km, "
        f"pace {_pace(summary.pace_s_per_km)}, {summary.n_strides['all']} strides.</p>",
        "<h2>Advice</h2>",
    ]
    if not summary.advice:
        out.append("<p>Nothing to change from this run: keep it up.</p>")
    for a in summary.advice:
        reasons = "".join(f"<li>{e(r)}</li>" for r in a.reasons)
        out.append(
            f"<div class='advice' data-tip='{e(a.tip)}'><h3>{e(a.title)}</h3><p>{e(a.text)}</p>"
            f"<p>Why:</p><ul>{reasons}</ul></div>"
        )
    out.append(
        "<h2>Gait metrics</h2><table id='metrics'><tr><th>metric</th>"
        "<th>median (IQR)</th><th>left</th><th>right</th><th>left share %</th>"
        "<th>first third</th><th>last third</th></tr>"
    )
    for name, m in summary.metrics.items():
        label, unit, scale, digits = DISPLAY[name]
        out.append(
            f"<tr><td>{e(label)} ({e(unit)})</td><td>{_stat(m.all, digits, scale)}</td>"
            f"<td>{_stat(m.left, digits, scale)}</td><td>{_stat(m.right, digits, scale)}</td>"
            f"<td>{_fmt(m.left_share_pct)}</td><td>{_fmt(m.first_third, digits, scale)}</td>"
            f"<td>{_fmt(m.last_third, digits, scale)}</td></tr>"
        )
    out.append("</table>")
    share = summary.strike_share_pct
    out.append(
        "<table id='strike'><tr><th>strike</th><th>all %</th><th>left %</th><th>right %</th></tr>"
    )
    for cls in ("rearfoot", "midfoot", "forefoot"):
        out.append(
            f"<tr><td>{cls}</td><td>{share['all'][cls]:.0f}</td>"
            f"<td>{share['left'][cls]:.0f}</td><td>{share['right'][cls]:.0f}</td></tr>"
        )
    out.append("</table><h2>Plots</h2>")
    for name in PLOTS:
        out.append(
            f"<figure><img class='plot' id='plot-{name}' alt='{name.replace('_', ' ')} plot' "
            f"src='data:image/png;base64,{_png(figures[name])}'></figure>"
        )
    out.append(
        "<h2>Splits per km</h2><table id='splits-km'><tr><th>km</th><th>pace</th>"
        "<th>cadence</th><th>contact ms</th><th>strike deg</th><th>overstride cm</th></tr>"
    )
    for sp in summary.splits_km:
        md = sp.medians
        out.append(
            f"<tr><td>{sp.index + 1}{'' if sp.distance_m > 990 else ' (part)'}</td>"
            f"<td>{_pace(sp.pace_s_per_km)}</td><td>{_fmt(md['cadence_spm'], 0)}</td>"
            f"<td>{_fmt(md['contact_time_s'], 0, 1000)}</td>"
            f"<td>{_fmt(md['foot_strike_angle_deg'])}</td>"
            f"<td>{_fmt(md['overstride_m'], 1, 100)}</td></tr>"
        )
    out.append(
        "</table><h2>Cues</h2><table id='cues'><tr><th>min</th><th>cue</th>"
        "<th>metric</th><th>before</th><th>after</th><th>moved</th></tr>"
    )
    for c in summary.cues:
        moved = {True: "yes", False: "no", None: "-"}[c.moved]
        out.append(
            f"<tr><td>{c.t_s / 60:.1f}</td><td>{e(c.text)}</td><td>{e(c.metric or '-')}</td>"
            f"<td>{_fmt(c.before, 2)}</td><td>{_fmt(c.after, 2)}</td><td>{moved}</td></tr>"
        )
    out.append("</table>")
    if summary.discomfort:
        out.append("<h2>Discomfort reports</h2><ul>")
        for d in summary.discomfort:
            note = f": {e(d.note)}" if d.note else ""
            out.append(f"<li>{d.t_s / 60:.1f} min, {e(d.body_part)} {d.score}/10{note}</li>")
        out.append("</ul>")
    dq = summary.data_quality
    out.append(
        f"<p>Data: {dq['gaps']:.0f} gaps, {dq['lost_samples']:.0f} samples lost.</p>"
        f"<p class='disclaimer'>{e(summary.disclaimer)}</p></body></html>"
    )
    return "\n".join(out)
