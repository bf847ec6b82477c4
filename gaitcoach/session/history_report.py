"""HTML page of a runner's history: key metrics over time with trend lines, weekly load."""

from __future__ import annotations

import html

import numpy as np
from matplotlib.figure import Figure

from gaitcoach.session.history import History
from gaitcoach.session.report import CSS, DISPLAY, _png

TREND_METRICS = ("cadence_spm", "contact_time_s", "foot_strike_angle_deg", "overstride_m")


def plot_trends(h: History) -> Figure:
    fig = Figure(figsize=(8, 6))
    axes = fig.subplots(len(TREND_METRICS), 1, sharex=True)
    for ax, name in zip(axes, TREND_METRICS, strict=True):
        label, unit, scale, _ = DISPLAY[name]
        pts = [(r.started, v) for r in h.runs if (v := r.metrics[name]) is not None]
        if pts:
            x = np.array([p[0].timestamp() / 86400.0 for p in pts])
            y = np.array([p[1] * scale for p in pts])
            ax.plot(x - x[0], y, "o", color="#1f77b4")
            if len(set(x)) >= 2:
                k, c = np.polyfit(x - x[0], y, 1)
                ax.plot(x - x[0], k * (x - x[0]) + c, "--", color="#ff7f0e")
        ax.set_ylabel(f"{label}\n({unit})", fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
    axes[-1].set_xlabel("days since first run")
    fig.tight_layout()
    return fig


def plot_weeks(h: History) -> Figure:
    fig = Figure(figsize=(8, 2.5))
    ax = fig.add_subplot()
    weeks = [w.week for w in h.weeks]
    ax.bar(weeks, [w.distance_m / 1000 for w in h.weeks], color="#2ca02c")
    ax.set(ylabel="km", title="Weekly distance")
    twin = ax.twinx()
    twin.plot(weeks, [w.time_s / 3600 for w in h.weeks], "o-", color="#555555")
    twin.set_ylabel("hours")
    fig.tight_layout()
    return fig


def render_history_html(h: History) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{r.started:%Y-%m-%d}</td><td>{e(r.session_id)}</td>"
        f"<td>{r.distance_m / 1000:.2f}</td><td>{r.duration_s / 60:.1f}</td></tr>"
        for r in h.runs
    )
    base = "<tr><th>metric</th><th>latest</th><th>baseline (median)</th></tr>" + "".join(
        f"<tr><td>{e(b.metric)}</td><td>{b.latest:.3g}</td><td>{b.baseline:.3g}</td></tr>"
        for b in h.baseline
        if b.latest is not None and b.baseline is not None
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>gaitcoach history</title><style>{CSS}</style></head>"
        f"<body><h1>History of {e(h.runner or 'all')}"
        "</h1><table><tr><th>date</th><th>session</th><th>km</th><th>min</th></tr>"
        f"{rows}</table><h2>Latest versus baseline</h2><table>{base}</table>"
        f"<img class='plot' id='plot-trends' alt='trends' src='data:image/png;base64,"
        f"{_png(plot_trends(h))}'><img class='plot' id='plot-weeks' alt='weekly load' "
        f"src='data:image/png;base64,{_png(plot_weeks(h))}'></body></html>"
    )
