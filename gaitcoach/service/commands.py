"""``gaitcoach run`` and ``gaitcoach config check|init|schema``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from gaitcoach.dashboard import DashboardError, page_url
from gaitcoach.errors import CliError, ConfigError
from gaitcoach.jsonenc import dumps
from gaitcoach.paths import CONFIG_ENV, example_config, find_config, user_config_dir
from gaitcoach.service.config import ServiceConfig, load_config

CONFIG_HELP = (
    f"config file (default: ${CONFIG_ENV}, else {user_config_dir() / 'gaitcoach.toml'} "
    "when it exists, else the built-in defaults)"
)


def _load(args: argparse.Namespace) -> ServiceConfig:
    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load(args)
    for warning in cfg.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    pods = ", ".join(
        "/".join(x for x in (p.address, p.name, p.side and p.side.value) if x)
        for p in cfg.link.pods
    )
    how = find_config(args.config).how
    print(
        f"{cfg.source} ({how}): ok (runner {cfg.runner.id}, pods {pods}, "
        f"broker {f'{cfg.mqtt.host}:{cfg.mqtt.port}' if cfg.mqtt.host else 'none (MQTT off)'}, "
        f"data {cfg.session_settings().data_dir})"
    )
    return 0


def cmd_config_init(args: argparse.Namespace) -> int:
    target = user_config_dir() / "gaitcoach.toml"
    if target.exists() and not args.force:
        raise CliError(f"{target} exists (--force replaces it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(example_config().read_text(encoding="utf-8"), encoding="utf-8")
    print(
        f"wrote the example config to {target}: edit [runner] and [mqtt], then "
        "'gaitcoach config check'"
    )
    return 0


def cmd_config_schema(args: argparse.Namespace) -> int:
    from gaitcoach.service.schema import config_schema

    print(dumps(config_schema(), indent=1))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from gaitcoach.link.adapter import AdapterError, open_adapter
    from gaitcoach.logs import setup_logging
    from gaitcoach.service.service import Service
    from gaitcoach.service.warmup import warm_up

    cfg = _load(args)
    try:
        # No adapter: one line and nothing written, before the view, broker or a session.
        asyncio.run(open_adapter(cfg.link.adapter))
    except AdapterError as exc:
        raise CliError(str(exc)) from None
    live = not args.quiet and sys.stdout.isatty()
    log_file = setup_logging(cfg.service.log_level, cfg.service.log_file, live_view=live)
    log = logging.getLogger("gaitcoach.service")
    log.info("config %s, log file %s", cfg.source, log_file)
    for warning in cfg.warnings:
        log.warning("%s", warning)
    # The kernels compile (first start) or load before the live view and the pods.
    warm_up(lambda line: print(f"gaitcoach: {line}", file=sys.stderr, flush=True))
    view: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    on_state = None
    if not args.quiet:
        # Imported only here: headless runs never load rich.
        from gaitcoach.service.view import live_view

        view, on_state = live_view(verbose=args.verbose)
    if cfg.dashboard.enabled:
        d = cfg.dashboard
        base = f"{'https' if d.tls else 'http'}://{d.host}:{d.port}/"
        print(f"dashboard: {page_url(base, cfg.runner.id)} (coach's view: "
              f"{page_url(base, page='coach.html')})", file=sys.stderr, flush=True)  # fmt: skip
    try:
        service = Service(cfg, on_state=on_state)
        with view:
            result = asyncio.run(service.run())
    except DashboardError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # start-up failures (storage, broker config) are one line
        log.debug("service failed", exc_info=exc)
        where = f" (details in {log_file})" if log_file else ""
        raise CliError(f"{type(exc).__name__}: {exc}{where}") from None
    print(
        dumps(
            {
                "sessions": result.session_ids,
                "report": str(result.report_path) if result.report_path else None,
                "counts": result.counts,
                "gaps": result.gap_count,
                "dropped": result.dropped,
            }
        )
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run the live coaching service",
        description="Connect to both footpods, analyse every stride, coach over MQTT and "
        "record the session; Ctrl-C ends the run and writes the summary and report.",
    )
    p.add_argument("--config", default=None, help=CONFIG_HELP)
    p.add_argument("--quiet", action="store_true", help="no live view (headless); logs only")
    p.add_argument("--verbose", action="store_true", help="pod details in the live view")
    p.set_defaults(func=cmd_run)
    c = sub.add_parser(
        "config",
        help="check, create or describe the configuration",
        description="The config is read from --config, else $GAITCOACH_CONFIG, else "
        f"{user_config_dir() / 'gaitcoach.toml'}, else built-in defaults.",
    )
    csub = c.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    chk = csub.add_parser("check", help="validate the config (every problem at once)")
    chk.add_argument("--config", default=None, help=CONFIG_HELP)
    chk.set_defaults(func=cmd_config_check)
    init = csub.add_parser("init", help="write the example config to the user config folder")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(func=cmd_config_init)
    sch = csub.add_parser("schema", help="print the JSON Schema of the config file")
    sch.set_defaults(func=cmd_config_schema)
