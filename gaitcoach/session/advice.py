"""Post-run advice: which of the five tips apply, decided from what was measured.

The decisions are code (:func:`advise`); the wording and the thresholds are data
(``advice.toml``, shipped in ``gaitcoach/data/advice/``), so a coach or physio can reword or
retune them without a release. Every tip carries the measured reasons that triggered it, and
the summary carries the disclaimer: this is advice, not diagnosis.
"""

from __future__ import annotations

import string
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from gaitcoach.errors import ConfigError
from gaitcoach.paths import advice_file
from gaitcoach.session.summary import Advice, Drift, SessionSummary

TIPS = ("technique", "strength", "mobility", "cross_training", "rest")
REQUIRED_THRESHOLDS = (
    "overstride_m",
    "heel_strike_angle_deg",
    "rearfoot_share_pct",
    "fatigue_cadence_drop_pct",
    "fatigue_contact_rise_pct",
    "fatigue_overstride_rise_m",
    "fatigue_strike_rise_deg",
    "fatigue_stride_drop_pct",
    "asymmetry_pct",
    "long_run_min",
    "load_ratio",
    "discomfort_high_score",
)


@dataclass(frozen=True, slots=True)
class TipText:
    title: str
    text: str
    reasons: dict[str, str]


@dataclass(frozen=True, slots=True)
class AdviceBook:
    """Wording and thresholds of the advice, loaded from TOML."""

    disclaimer: str
    thresholds: dict[str, float]
    tips: dict[str, TipText]

    @classmethod
    def load(cls, path: Path | str | None = None) -> AdviceBook:
        """The advice file at ``path``; the shipped one when None."""
        file: Traversable = Path(path) if path is not None else advice_file()
        key = f"advice file {file}"
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(key, str(file), f"a readable TOML file ({exc.strerror})") from exc
        except UnicodeDecodeError:
            raise ConfigError(key, str(file), "a UTF-8 TOML file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(key, str(file), f"valid TOML ({exc})") from exc
        return cls.from_dict(raw, key)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], key: str = "advice") -> AdviceBook:
        if raw.get("format_version") != 1:
            raise ConfigError(f"{key}: format_version", raw.get("format_version"), "1")
        disclaimer = raw.get("disclaimer")
        if not isinstance(disclaimer, str) or not disclaimer.strip():
            raise ConfigError(f"{key}: disclaimer", disclaimer, "a non-empty string")
        th = raw.get("thresholds", {})
        thresholds: dict[str, float] = {}
        for name in REQUIRED_THRESHOLDS:
            v = th.get(name)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ConfigError(f"{key}: thresholds.{name}", v, "a number")
            thresholds[name] = float(v)
        tips: dict[str, TipText] = {}
        for tip in TIPS:
            t = raw.get("tips", {}).get(tip)
            if not isinstance(t, dict):
                raise ConfigError(f"{key}: tips.{tip}", t, "a table with title, text, reasons")
            title, text, reasons = t.get("title"), t.get("text"), t.get("reasons", {})
            if not isinstance(title, str) or not isinstance(text, str):
                raise ConfigError(f"{key}: tips.{tip}", t, "string title and text")
            if not isinstance(reasons, dict) or not all(
                isinstance(v, str) for v in reasons.values()
            ):
                raise ConfigError(f"{key}: tips.{tip}.reasons", reasons, "a table of strings")
            for name, template in [("text", text), *reasons.items()]:
                try:
                    list(string.Formatter().parse(template))
                except ValueError as exc:
                    raise ConfigError(f"{key}: tips.{tip}.{name}", template, str(exc)) from exc
            tips[tip] = TipText(title, text, dict(reasons))
        return cls(disclaimer.strip(), thresholds, tips)


@dataclass(frozen=True, slots=True)
class AdviceContext:
    """What the advice needs beyond this session (from the runner's history)."""

    load_week_km: float | None = None
    """Distance of the last 7 days, this run included."""
    load_base_km: float | None = None
    """Mean weekly distance of the 4 weeks before those 7 days."""
    previous_discomfort: dict[str, int] = field(default_factory=dict)
    """Body part -> number of recent earlier sessions in which it was reported."""


def _fmt(book: AdviceBook, tip: str, reason: str, values: dict[str, Any]) -> str:
    template = book.tips[tip].reasons.get(reason)
    if template is None:
        raise ConfigError(f"advice: tips.{tip}.reasons.{reason}", None, "a reason template")
    try:
        return template.format(**values)
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"advice: tips.{tip}.reasons.{reason}", template, str(exc)) from exc


def shown(value: float, other: float, decimals: int = 0) -> tuple[str, str]:
    """``value`` and ``other`` as text, with as many more decimals as it takes for two
    different numbers not to read the same ("28 cm ... above 28 cm" becomes "28.4 ... above
    28.0"): rounding never makes a reason contradict itself."""
    a = b = ""
    for d in range(decimals, decimals + 4):
        a, b = f"{value:.{d}f}", f"{other:.{d}f}"
        if a != b or value == other:
            break
    return a, b


def _trend(drift: Drift, decimals: int, scale: float) -> dict[str, Any]:
    """Reason values of a fatigue trend: start and end as text (distinct after rounding), the
    change in percent and in the metric's display unit (``scale`` SI to it), both as sizes:
    the advice's wording says the direction."""
    assert drift.start is not None and drift.end is not None and drift.change is not None
    start, end = shown(drift.start * scale, drift.end * scale, decimals)
    return {
        "start": start,
        "end": end,
        "change_pct": abs(drift.change_pct or 0.0),
        "change": abs(drift.change * scale),
        "minutes": drift.minutes,
    }


def _median(summary: SessionSummary, name: str) -> float | None:
    m = summary.metrics.get(name)
    return m.all.median if m is not None and m.all is not None else None


def advise(
    summary: SessionSummary, book: AdviceBook, context: AdviceContext | None = None
) -> SessionSummary:
    """The summary with its ``advice`` and ``disclaimer`` filled in from the measurements."""
    ctx = context or AdviceContext()
    th = book.thresholds
    found: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)

    cadence = _median(summary, "cadence_spm")
    overstride = _median(summary, "overstride_m")
    strike = _median(summary, "foot_strike_angle_deg")
    rearfoot = summary.strike_share_pct.get("all", {}).get("rearfoot", 0.0)
    target = summary.cadence_target

    # 1. Technique. The overstride estimate is a model (spring-mass) value, so it only counts
    # when the measured cadence or strike angle corroborates it: an efficient runner with a
    # quick cadence and a flat landing is never told to shorten the stride on it alone.
    low_cadence = cadence is not None and target is not None and cadence < target.low_spm
    heel = (
        strike is not None
        and strike > th["heel_strike_angle_deg"]
        and rearfoot >= th["rearfoot_share_pct"]
    )
    if low_cadence:
        assert cadence is not None and target is not None
        now, low = shown(cadence, target.low_spm)
        found["technique"].append(
            (
                "low_cadence",
                {
                    "cadence_spm": now,
                    "cadence_low_spm": low,
                    "cadence_target_spm": f"{target.target_spm:.0f}",
                },
            )
        )
    if (low_cadence or heel) and overstride is not None and overstride > th["overstride_m"]:
        now, limit = shown(overstride * 100, th["overstride_m"] * 100)
        found["technique"].append(
            ("overstride", {"overstride_cm": now, "overstride_limit_cm": limit})
        )
    if heel:
        found["technique"].append(
            ("heel_strike", {"rearfoot_pct": rearfoot, "strike_angle_deg": strike})
        )

    # 2. Strength: form fades with fatigue (the trend over the run), or left and right differ.
    fat = summary.fatigue
    drop = fat.cadence_spm.change_pct
    if drop is not None and -drop >= th["fatigue_cadence_drop_pct"]:
        found["strength"].append(("fatigue_cadence", _trend(fat.cadence_spm, 0, 1)))
    rise = fat.contact_time_s.change_pct
    if rise is not None and rise >= th["fatigue_contact_rise_pct"]:
        found["strength"].append(("fatigue_contact", _trend(fat.contact_time_s, 0, 1000)))
    orise = fat.overstride_m.change
    if orise is not None and orise >= th["fatigue_overstride_rise_m"]:
        found["strength"].append(("fatigue_overstride", _trend(fat.overstride_m, 0, 100)))
    srise = fat.foot_strike_angle_deg.change
    if srise is not None and srise >= th["fatigue_strike_rise_deg"]:
        found["strength"].append(("fatigue_strike", _trend(fat.foot_strike_angle_deg, 0, 1)))
    for metric, reason, prefix in (
        ("contact_time_s", "asymmetry_contact", "contact"),
        ("stride_length_m", "asymmetry_stride", "stride"),
    ):
        share = summary.metrics[metric].left_share_pct if metric in summary.metrics else None
        if share is not None and abs(share - 50.0) > th["asymmetry_pct"]:
            found["strength"].append(
                (reason, {f"{prefix}_left_pct": share, f"{prefix}_right_pct": 100 - share})
            )

    # 3. Mobility.
    duration_min = summary.moving_time_s / 60.0
    if duration_min >= th["long_run_min"]:
        found["mobility"].append(("long_run", {"duration_min": duration_min}))
    sdrift = fat.stride_length_m.change_pct
    # A stride that shortens because the cadence rose (as coached) at the same speed is
    # technique, not tight or tired muscles: count only shortening cadence does not explain.
    cad_rise = fat.cadence_spm.change_pct or 0.0
    if sdrift is not None and -sdrift >= th["fatigue_stride_drop_pct"] and cad_rise < -sdrift / 2:
        found["mobility"].append(("stride_shortened", {"stride_drop_pct": -sdrift}))
    if found["technique"]:
        found["mobility"].append(("technique_change", {}))

    # 4. Cross-training: load rising quickly, or discomfort.
    if (
        ctx.load_week_km is not None
        and ctx.load_base_km is not None
        and ctx.load_base_km > 0
        and ctx.load_week_km / ctx.load_base_km > th["load_ratio"]
    ):
        found["cross_training"].append(
            (
                "load_rise",
                {
                    "load_week_km": ctx.load_week_km,
                    "load_base_km": ctx.load_base_km,
                    "load_ratio": ctx.load_week_km / ctx.load_base_km,
                },
            )
        )
    reported = [d for d in summary.discomfort if d.score > 0]
    if reported:
        listing = ", ".join(f"{d.body_part} {d.score}/10" for d in reported)
        found["cross_training"].append(("discomfort", {"discomfort_list": listing}))

    # 5. Rest and a professional assessment: discomfort that repeats or rises.
    by_part: dict[str, list[int]] = defaultdict(list)
    for d in reported:
        by_part[d.body_part].append(d.score)
    for part, scores in by_part.items():
        values = {
            "body_part": part,
            "count": len(scores),
            "first_score": scores[0],
            "last_score": scores[-1],
            "max_score": max(scores),
        }
        if len(scores) >= 2:
            found["rest"].append(("repeated", values))
        if len(scores) >= 2 and scores[-1] > scores[0]:
            found["rest"].append(("rising", values))
        if max(scores) >= th["discomfort_high_score"]:
            found["rest"].append(("high", values))
        previous = ctx.previous_discomfort.get(part, 0)
        if previous:
            found["rest"].append(("recent_sessions", {**values, "previous_sessions": previous}))

    # Safety first: discomfort that rises or is high puts rest first, as a warning, and
    # technique changes wait until it has settled.
    urgent = any(reason in ("rising", "high") for reason, _ in found["rest"])
    order: tuple[str, ...] = TIPS
    if urgent:
        order = ("rest", *(t for t in TIPS if t not in ("rest", "technique")))
        if found["technique"]:
            found["rest"].append(("defer_technique", {}))
        found["mobility"] = [r for r in found["mobility"] if r[0] != "technique_change"]
    advice = []
    for tip in order:
        if not found[tip]:
            continue
        text = book.tips[tip]
        values = {
            "cadence_spm": cadence or 0.0,
            "cadence_target_spm": target.target_spm if target else (cadence or 0.0),
            "cadence_target_source": target.source if target else "your usual cadence",
        }
        try:
            body = text.text.format(**values)
        except (KeyError, ValueError, IndexError) as exc:
            raise ConfigError(f"advice: tips.{tip}.text", text.text, str(exc)) from exc
        reasons = [_fmt(book, tip, reason, v) for reason, v in found[tip]]
        warning = urgent and tip == "rest"
        advice.append(
            Advice(tip=tip, title=text.title, text=body, reasons=reasons, warning=warning)
        )
    return replace(summary, advice=advice, disclaimer=book.disclaimer)
