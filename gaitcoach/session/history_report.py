"""HTML page of a runner's history: the runs by date with links to their reports, this run
against the last one and against the runner's usual range, key metrics over time (dates on
the axis, trend lines only when there is enough to mean something) and weekly load."""

from __future__ import annotations

import html
from pathlib import Path

from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from gaitcoach.session.history import History
from gaitcoach.session.report import CSS, DISPLAY, _pace, _png, local_time, metric_value

TREND_METRICS = ("cadence_spm", "contact_time_s", "foot_strike_angle_deg", "overstride_m")


def plot_trends(h: History) -> Figure:
    import numpy as np

    fig = Figure(figsize=(8, 6.5))
    axes = fig.subplots(len(TREND_METRICS), 1, sharex=True)
    counted = [r for r in h.runs if r.counted]
    for ax, name in zip(axes, TREND_METRICS, strict=True):
        label, unit, scale, _ = DISPLAY[name]
        pts = [(r.started, v * scale) for r in counted if (v := r.metrics[name]) is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", color="#1f77b4")
            if not h.trend_note and len(pts) >= 2:
                x = np.array([p[0].timestamp() for p in pts])
                k, c = np.polyfit(x, [p[1] for p in pts], 1)
                ax.plot([p[0] for p in pts], k * x + c, "--", color="#ff7f0e", label="trend")
        ax.set_ylabel(f"{label}\n({unit})", fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
    locator = AutoDateLocator()
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))
    if h.trend_note:
        axes[0].set_title(h.trend_note.capitalize(), fontsize=9)
    fig.tight_layout()
    return fig


def trend_note_html(h: History) -> str:
    """Why the plots have no trend line, as a paragraph (empty when they have one)."""
    if not h.trend_note:
        return ""
    return (
        f"<p class='small'>{html.escape(h.trend_note.capitalize())}: the plots show the runs "
        "without a trend line.</p>"
    )


def plot_weeks(h: History) -> Figure:
    fig = Figure(figsize=(8, 2.5))
    ax = fig.add_subplot()
    weeks = [w.week for w in h.weeks]
    ax.bar(weeks, [w.distance_m / 1000 for w in h.weeks], color="#2ca02c")
    ax.set(ylabel="km", title="Weekly distance (completed runs)")
    twin = ax.twinx()
    twin.plot(weeks, [w.time_s / 3600 for w in h.weeks], "o-", color="#555555")
    twin.set_ylabel("hours")
    fig.tight_layout()
    return fig


def render_history_html(h: History, reports_dir: Path | None = None) -> str:
    """The page; each run links to ``reports_dir/<id>.html`` when that report exists."""
    e = html.escape
    rows = []
    for r in reversed(h.runs):
        report = reports_dir / f"{r.session_id}.html" if reports_dir is not None else None
        when = e(local_time(r.started.isoformat()))
        link = (
            f"<a href='{e(report.resolve().as_uri())}'>{when}</a>"
            if report and report.exists()
            else when
        )
        note = "" if r.counted else " <span class='small'>(not counted: failed or too short)</span>"
        rows.append(
            f"<tr><td>{link}{note}</td><td>{r.distance_m / 1000:.2f}</td>"
            f"<td>{_pace(r.pace_s_per_km)}</td>"
            f"<td>{metric_value(r.metrics['cadence_spm'], 'cadence_spm')}</td>"
            f"<td class='wide'>{metric_value(r.metrics['contact_time_s'], 'contact_time_s')}</td>"
            "</tr>"
        )
    compare = []
    for b in h.baseline:
        label, unit, scale, digits = DISPLAY[b.metric]
        usual = (
            f"{b.usual_low * scale:.{digits}f}-{b.usual_high * scale:.{digits}f}"
            if b.usual_low is not None and b.usual_high is not None
            else "-"
        )
        compare.append(
            f"<tr><td>{e(label)} ({e(unit)})</td><td>{metric_value(b.latest, b.metric)}</td>"
            f"<td>{metric_value(b.previous, b.metric)}</td><td>{usual}</td></tr>"
        )
    trend = trend_note_html(h)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>gaitcoach history</title><style>{CSS}</style></head>"
        f"<body><h1>Runs of {e(h.runner or 'all runners')}</h1>"
        "<h2>This run, the last one and your usual range</h2>"
        "<div class='scroll'><table id='compare'><tr><th>metric</th><th>this run</th>"
        f"<th>last run</th><th>your usual</th></tr>{''.join(compare)}</table></div>"
        "<h2>Runs</h2><div class='scroll'><table id='runs'><tr><th>date</th><th>km</th>"
        "<th>pace</th><th>cadence</th><th class='wide'>contact ms</th></tr>"
        f"{''.join(rows)}</table></div><h2>Over time</h2>{trend}"
        f"<img class='plot' id='plot-trends' alt='key metrics over time' "
        f"src='data:image/png;base64,{_png(plot_trends(h))}'><img class='plot' id='plot-weeks' "
        f"alt='weekly load' src='data:image/png;base64,{_png(plot_weeks(h))}'></body></html>"
    )
