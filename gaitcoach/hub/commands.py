"""CLI: ``gaitcoach ingest``, ``gaitcoach sync``, ``gaitcoach team``, ``gaitcoach hub-init``.

psycopg is imported only when one of these runs: the rest of gaitcoach works without the
``hub`` extra, and these say in one line how to get it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from gaitcoach.errors import CliError, ConfigError


def _need_psycopg() -> None:
    try:
        importlib.import_module("psycopg")
    except ImportError:
        raise CliError("the team hub needs psycopg: pip install 'gaitcoach[hub]'") from None


def _log(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )


def _hub_config(args: argparse.Namespace) -> Any:
    from gaitcoach.hub.config import load_hub_config, override

    try:
        cfg = load_hub_config(args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    mqtt = override(
        cfg.mqtt,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        username=getattr(args, "username", None),
    )
    if mqtt.username is not None and mqtt.password is None:
        mqtt = override(mqtt, password=os.environ.get("GAITCOACH_MQTT_PASSWORD"))
    hub = override(
        cfg.hub,
        dsn=getattr(args, "dsn", None),
        group=getattr(args, "group", None),
        stats_interval_s=getattr(args, "stats_interval_s", None),
    )
    return mqtt, hub


# -- ingest ------------------------------------------------------------------------------------

_INGEST_FLAGS = (
    "config",
    "host",
    "port",
    "username",
    "dsn",
    "group",
    "stats_dir",
    "stats_interval_s",
    "log_level",
)


def _child_argv(args: argparse.Namespace, slot: int) -> list[str]:
    argv = [sys.executable, "-m", "gaitcoach.cli", "ingest", "--slot", str(slot)]
    for name in _INGEST_FLAGS:
        value = getattr(args, name)
        if value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    return argv


def cmd_ingest(args: argparse.Namespace) -> int:
    _need_psycopg()
    from gaitcoach.hub.ingest import IngestWorker, stop_on_signals, supervise, tls_context_ok

    mqtt, hub = _hub_config(args)
    if not mqtt.host:
        raise CliError("no broker: set [mqtt] host in --config or give --host")
    if not hub.dsn:
        raise CliError("no database: set [hub] dsn in --config or give --dsn")
    problem = tls_context_ok(mqtt)
    if problem:
        raise CliError(problem)
    _log(args.log_level or "info")
    stop = stop_on_signals()
    if args.slot is None:
        # The supervisor: N workers, each restarted when it dies.
        return supervise(lambda slot: _child_argv(args, slot), args.workers, stop)
    stats = (
        Path(args.stats_dir) / f"slot-{args.slot}-{os.getpid()}.json" if args.stats_dir else None
    )
    IngestWorker(mqtt, hub, args.slot, stats).run(stop)
    return 0


# -- sync -----------------------------------------------------------------------------------------


def cmd_sync(args: argparse.Namespace) -> int:
    import json

    from gaitcoach.hub.sync import Syncer, SyncError
    from gaitcoach.service.config import load_config
    from gaitcoach.session.store import SessionError

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if not cfg.mqtt.host:
        raise CliError("no broker configured ([mqtt] host): nothing to sync to")
    data_dir = Path(args.data_dir) if args.data_dir else cfg.session_settings().data_dir
    _log("warning")
    syncer = Syncer(cfg.mqtt, cfg.runner.id, Path(data_dir), timeout_s=args.timeout)
    try:
        result = syncer.run(args.session or None)
    except (SyncError, SessionError) as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(result.to_json()))
    return 1 if result.failed else 0


# -- team ---------------------------------------------------------------------------------------


def cmd_team(args: argparse.Namespace) -> int:
    _need_psycopg()
    import json

    import psycopg

    from gaitcoach.hub.db import connect
    from gaitcoach.hub.team import render_team_html, squad_rows, squad_text, team_view

    _, hub = _hub_config(args)
    if not hub.dsn:
        raise CliError("no database: set [hub] dsn in --config or give --dsn")
    try:
        with connect(hub.dsn, autocommit=True, connect_timeout=10) as conn:
            view = team_view(conn, args.runner, args.runs)
    except psycopg.Error as exc:
        raise CliError(f"database: {str(exc).strip()}") from None
    if args.json:
        print(json.dumps({"runners": squad_rows(view), "skipped": view.skipped}, indent=1))
    else:
        print(squad_text(view))
    if args.html:
        Path(args.html).write_text(render_team_html(view), encoding="utf-8")
        print(f"team page: {args.html}", file=sys.stderr)
    return 0


# -- hub-init -----------------------------------------------------------------------------------


def cmd_hub_init(args: argparse.Namespace) -> int:
    _need_psycopg()
    import psycopg

    from gaitcoach.hub.schema import setup

    try:
        setup(
            args.admin_dsn,
            os.environ.get("GAITCOACH_INGEST_DB_PASSWORD"),
            os.environ.get("GAITCOACH_VIEW_DB_PASSWORD"),
        )
    except psycopg.Error as exc:
        raise CliError(f"database: {str(exc).strip()}") from None
    print("hub schema and roles ready (gaitcoach_ingest, gaitcoach_view)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ingest", help="team hub: MQTT -> PostgreSQL workers on a shared subscription"
    )
    p.add_argument(
        "--config",
        metavar="TOML",
        help="[mqtt] and [hub] settings (example: gaitcoach/data/examples/hub.toml)",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--slot", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--username", help="broker account (password: GAITCOACH_MQTT_PASSWORD)")
    p.add_argument("--dsn", help="libpq connection string (password: PGPASSWORD)")
    p.add_argument("--group", help="shared-subscription group (default gaitcoach-ingest)")
    p.add_argument("--stats-dir", metavar="DIR", help="write each worker's counters here (JSON)")
    p.add_argument("--stats-interval-s", type=float, help="counters every this often (10)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "sync", help="team hub: upload finished sessions until the centre holds them exactly"
    )
    p.add_argument("--config", default=None, help="the edge's config (runner, [mqtt], [session])")
    p.add_argument("--data-dir", metavar="DIR", help="session store (default: from the config)")
    p.add_argument("--session", action="append", metavar="ID", help="only this session (repeat)")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per session before giving up"
    )
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("team", help="team hub: the squad compared, each runner's runs and trends")
    p.add_argument("--config", metavar="TOML", help="[hub] dsn (the view role)")
    p.add_argument("--dsn", help="libpq connection string (password: PGPASSWORD)")
    p.add_argument("--runner", help="only this runner")
    p.add_argument("--runs", type=int, default=10, help="latest runs per runner (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--html", metavar="PATH", help="also write the team page (self-contained)")
    p.set_defaults(func=cmd_team)

    p = sub.add_parser("hub-init", help="team hub: create the database schema and roles")
    p.add_argument(
        "--admin-dsn",
        required=True,
        help="connection string of an administrator; the roles' passwords come from "
        "GAITCOACH_INGEST_DB_PASSWORD and GAITCOACH_VIEW_DB_PASSWORD",
    )
    p.set_defaults(func=cmd_hub_init)
