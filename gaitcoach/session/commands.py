"""CLI sub-commands: ``sessions``, ``summary``, ``replay``, ``history``, ``export``.

Every user error (unknown session, corrupt store, newer format, bad advice file) is one line
through :class:`gaitcoach.errors.CliError` and exit status 2. They read the store that
``gaitcoach run`` writes: ``--data-dir``, else the config's ``[session] data_dir``, else the
user data directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitcoach.errors import CliError, ConfigError
from gaitcoach.jsonenc import dumps, jsonable
from gaitcoach.safepath import UnsafePathError, check_session_id, inside
from gaitcoach.session.advice import AdviceBook, advise
from gaitcoach.session.store import SessionError, SessionStore
from gaitcoach.session.summary import summary_text

if TYPE_CHECKING:
    from gaitcoach.service.config import ServiceConfig


def _data_dir(args: argparse.Namespace) -> Path:
    """``--data-dir``, else where the config says ``run`` records (the user data directory
    unless ``[session] data_dir`` is set)."""
    if args.data_dir:
        return Path(args.data_dir)
    return _config(args).session_settings().data_dir


def _config(args: argparse.Namespace) -> ServiceConfig:
    """The config ``run`` would use, with ``--runner`` when given."""
    from gaitcoach.coach.config import RunnerProfile
    from gaitcoach.service.config import load_config

    try:
        cfg = load_config(args.config)
        runner = getattr(args, "runner", None)
        if runner:
            RunnerProfile.from_dict({"id": runner}, "--runner")  # a valid id, or one line
            cfg = dataclasses.replace(cfg, runner=dataclasses.replace(cfg.runner, id=runner))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    return cfg


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (SessionError, ConfigError) as exc:
            raise CliError(str(exc)) from exc
        except OSError as exc:
            raise CliError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from exc

    return run


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="session store (default: the config's [session] data_dir, else "
        "$GAITCOACH_DATA_DIR, else ~/.local/share/gaitcoach)",
    )
    p.add_argument("--config", default=None, metavar="FILE", help="config file (as for run)")


def _local(utc_iso: str) -> str:
    """A stored UTC time as local ``YYYY-MM-DD HH:MM``."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(utc_iso)
    except ValueError:
        return utc_iso[:16]
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"{when.astimezone():%Y-%m-%d %H:%M}"


def cmd_sessions(args: argparse.Namespace) -> int:
    with SessionStore(_data_dir(args)) as store:
        sessions = store.list_sessions(args.runner)
    if args.json:
        rows = [
            {
                "id": s.id,
                "runner": s.runner,
                "started_utc": s.started_utc,
                "status": s.status.value,
                "duration_s": s.duration_s,
                "strides": s.n_strides,
            }
            for s in sessions
        ]
        print(dumps(rows, indent=1))
        return 0
    if not sessions:
        print(f"no sessions in {_data_dir(args)}")
        return 0
    print(f"{'session':<24} {'runner':<10} {'started':<17} {'status':<11} {'min':>6} strides")
    for s in sessions:
        print(
            f"{s.id:<24} {s.runner:<10} {_local(s.started_utc):<17} "
            f"{s.status.value:<11} {s.duration_s / 60:6.1f} {s.n_strides}"
        )
    return 0


@_guard
def cmd_summary(args: argparse.Namespace) -> int:
    from gaitcoach.session.history import session_summary
    from gaitcoach.session.report import render_html

    book = AdviceBook.load(args.advice)
    with SessionStore(_data_dir(args)) as store:
        data, summary = session_summary(store, args.session, book, args.cadence_target)
    if args.html:
        Path(args.html).write_text(render_html(data, summary), encoding="utf-8")
    if args.json:
        text = dumps(summary.to_json(), indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    if args.json != "-":
        print(summary_text(summary))
        if args.html:
            print(f"HTML report: {args.html}")
    return 0


@_guard
def cmd_replay(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from gaitcoach.session.replay import import_recording, replay

    if Path(args.recording).is_dir():
        columns = (TextColumn("import"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
        with Progress(*columns, TimeRemainingColumn(), disable=args.quiet) as bar:
            task = bar.add_task("import", total=None)
            sid = import_recording(
                Path(args.recording),
                _data_dir(args),
                _config(args),
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        with SessionStore(_data_dir(args)) as store:
            info = store.resolve(sid)
        print(
            f"recording {args.recording} analysed and stored as session {sid}: "
            f"{info.n_strides} strides, {info.duration_s / 60:.1f} min"
        )
        return 0
    with SessionStore(_data_dir(args)) as store:
        columns = (TextColumn("replay"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
        with Progress(*columns, TimeRemainingColumn(), disable=args.quiet) as bar:
            task = bar.add_task("replay", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = replay(store, args.recording, progress=progress)
        if args.summary:
            from gaitcoach.session.history import advice_context
            from gaitcoach.session.summary import summarize

            book = AdviceBook.load()
            data = dataclasses.replace(store.load(result.session_id), strides=result.strides)
            raw_summary = summarize(data)
            summary = advise(raw_summary, book, advice_context(store, data, raw_summary))
            print("summary from the replayed strides:")
            print(summary_text(summary))
    print(
        f"session {result.session_id}: {result.samples} samples in {result.chunks} chunks, "
        f"{len(result.strides)} strides replayed, {result.stored} stored; "
        f"{result.data_s:.0f} s of data in {result.wall_s:.2f} s ({result.speed_x:.0f}x real time)"
    )
    if result.reproduces:
        print("replay reproduces the live stride records exactly")
        return 0
    print(
        f"replay differs from the live strides: first {result.matched} of {result.stored} "
        "identical",
        file=sys.stderr,
    )
    return 1


def _hist_json(h: Any) -> dict[str, Any]:
    return {
        "runner": h.runner,
        "runs": [
            {
                "session_id": r.session_id,
                "started_utc": r.started.astimezone(UTC).isoformat(),
                "status": r.status,
                "duration_s": r.duration_s,
                "distance_m": r.distance_m,
                "pace_s_per_km": r.pace_s_per_km,
                "metrics": r.metrics,
                "counted": r.counted,
            }
            for r in h.runs
        ],
        "weeks": jsonable(h.weeks),
        "trends": jsonable(h.trends),
        "trend_note": h.trend_note,
        "baseline": jsonable(h.baseline),
    }


@_guard
def cmd_history(args: argparse.Namespace) -> int:
    from gaitcoach.session.history import history
    from gaitcoach.session.report import DISPLAY, _pace, metric_value

    data_dir = _data_dir(args)
    with SessionStore(data_dir) as store:
        h = history(store, args.runner)
    if args.html:
        from gaitcoach.session.history_report import render_history_html

        Path(args.html).write_text(render_history_html(h, data_dir / "reports"), encoding="utf-8")
    if args.json:
        print(dumps(_hist_json(h), indent=1))
        return 0
    if not h.runs:
        print(f"no sessions in {data_dir}")
        return 0
    print(f"{'date':<17} {'km':>6} {'pace':>9} {'cadence':>8} {'contact ms':>10}  session")
    for r in h.runs:
        m = r.metrics
        note = "" if r.counted else "  (not counted)"
        print(
            f"{r.started.astimezone():%Y-%m-%d %H:%M} {r.distance_m / 1000:6.2f} "
            f"{_pace(r.pace_s_per_km):>9} {metric_value(m['cadence_spm'], 'cadence_spm'):>8} "
            f"{metric_value(m['contact_time_s'], 'contact_time_s'):>10}  {r.session_id}{note}"
        )
    print(
        "weekly load: "
        + "; ".join(
            f"{w.week} {w.runs} runs {w.distance_m / 1000:.1f} km {w.time_s / 3600:.1f} h"
            for w in h.weeks
        )
    )
    if h.trend_note:
        print(f"trends: not yet ({h.trend_note})")
    else:
        print(
            "trend per week: "
            + ", ".join(
                f"{DISPLAY[t.metric][0].lower()} {t.slope_per_week * DISPLAY[t.metric][2]:+.1f} "
                f"{DISPLAY[t.metric][1]}"
                for t in h.trends
                if t.slope_per_week is not None
            )
        )
    usual = []
    for b in h.baseline:
        if b.latest is None:
            continue
        text = f"{DISPLAY[b.metric][0].lower()} {metric_value(b.latest, b.metric)}"
        if b.usual_low is not None and b.usual_high is not None:
            low, high = metric_value(b.usual_low, b.metric), metric_value(b.usual_high, b.metric)
            text += f" (usual {low}-{high})"
        usual.append(text)
    print("this run vs your usual: " + ", ".join(usual))
    return 0


def _default_output(session_id: str, suffix: str) -> Path:
    """``<id>.<suffix>`` in the current folder; the id comes from the store (an older store
    may hold ids like ``../x``), so the name must stay in this folder."""
    try:
        return inside(Path.cwd(), f"{check_session_id(session_id)}.{suffix}")
    except UnsafePathError as exc:
        raise CliError(f"{exc}: name the output with --output") from None


EXPORT_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".fit": "fit"}


def export_format(output: str | None, given: str | None) -> str:
    """``--format``, else the output name's suffix (``run.fit``), else CSV."""
    if given:
        return given
    if output:
        suffix = Path(output).suffix.lower()
        if suffix in EXPORT_SUFFIXES:
            return EXPORT_SUFFIXES[suffix]
        raise CliError(
            f"cannot tell the format of {output!r}: name it .csv, .parquet or .fit, "
            "or give --format"
        )
    return "csv"


@_guard
def cmd_export(args: argparse.Namespace) -> int:
    from gaitcoach.session.export import export_strides
    from gaitcoach.session.fit_export import FitExportError, export_fit

    fmt = export_format(args.output, args.format)
    with SessionStore(_data_dir(args)) as store:
        data = store.load(args.session)
    suffix = "fit" if fmt == "fit" else f"strides.{fmt}"
    out = Path(args.output) if args.output else _default_output(data.info.id, suffix)
    try:
        if fmt == "fit":
            n = export_fit(data, out)
            print(f"wrote {n} strides of session {data.info.id} to {out} (FIT activity)")
        else:
            n = export_strides(data.strides, out, fmt)
            print(f"wrote {n} strides of session {data.info.id} to {out} ({fmt.upper()})")
    except (FitExportError, ValueError) as exc:
        raise CliError(str(exc)) from None
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sessions",
        help="list recorded sessions",
        description="List your recorded runs (newest last) with their status, length and strides.",
    )
    _common(p)
    p.add_argument("--runner", help="only this runner's sessions")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_guard(cmd_sessions))

    p = sub.add_parser(
        "summary",
        help="post-run summary and advice of a session",
        description="The run's numbers, what changed over it, and advice tied to what was "
        "measured; --html writes a report you can open on a phone.",
    )
    _common(p)
    p.add_argument("session", metavar="SESSION", help="session id, unique prefix, or 'latest'")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained HTML report")
    p.add_argument("--json", metavar="PATH", help="also write the JSON summary ('-': stdout)")
    p.add_argument("--advice", metavar="TOML", help="advice wording file")
    p.add_argument(
        "--cadence-target",
        type=float,
        metavar="SPM",
        help="cadence target in steps/min (default: the runner's, as the coach used it)",
    )
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "replay",
        help="rerun the analysis over a session, or import a recording",
        description="Run the live analysis again over a session's raw samples, with the "
        "configuration it was recorded with, and check it reproduces every stride; or analyse "
        "a recording directory (docs/recording-format.md) and store it as a new session.",
    )
    _common(p)
    p.add_argument(
        "recording",
        metavar="RECORDING",
        help="session id, unique prefix or 'latest'; or a simulator recording directory, "
        "which is analysed and stored as a new session",
    )
    p.add_argument("--runner", help="runner of an imported recording (default: the config's)")
    p.add_argument(
        "--summary", action="store_true", help="print the summary recomputed from the replay"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "history",
        help="your runs over time: load, trends, your usual range",
        description="Your runs by date, weekly load, trends (once there are enough runs over "
        "enough time) and this run against the last one and your usual range.",
    )
    _common(p)
    p.add_argument("--runner", help="only this runner")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--html", metavar="PATH", help="also write an HTML page with trend plots")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "export",
        help="export a session (CSV, Parquet, FIT)",
        description="Write a session's strides (CSV or Parquet: one row per stride) or the run "
        "as a FIT activity for Garmin Connect, Strava and others. The format comes from the "
        "output name (run.fit, run.csv), or --format.",
    )
    _common(p)
    p.add_argument("session", metavar="SESSION", help="session id, unique prefix, or 'latest'")
    p.add_argument(
        "--format",
        choices=("csv", "parquet", "fit"),
        help="default: from the output name, else csv",
    )
    p.add_argument("--output", "-o", metavar="PATH", help="default: <session>.strides.csv")
    p.set_defaults(func=cmd_export)
