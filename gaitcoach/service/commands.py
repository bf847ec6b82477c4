"""``gaitcoach run`` and ``gaitcoach config check``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys

from gaitcoach.cli import CliError
from gaitcoach.dashboard import DashboardError, page_url
from gaitcoach.errors import ConfigError
from gaitcoach.service.config import DEFAULT_CONFIG, ServiceConfig, load_config


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
    print(
        f"{cfg.source}: ok (runner {cfg.runner.id}, pods {pods}, "
        f"broker {f'{cfg.mqtt.host}:{cfg.mqtt.port}' if cfg.mqtt.host else 'none (MQTT off)'}, "
        f"data {cfg.session_settings().data_dir})"
    )
    return 0


def setup_logging(level: str, quiet: bool) -> None:
    # key=value messages on stderr; with the live view only warnings and worse.
    logging.basicConfig(
        level=logging.WARNING
        if not quiet and sys.stdout.isatty()
        else getattr(logging, level.upper()),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from gaitcoach.link.adapter import AdapterError, open_adapter
    from gaitcoach.service.service import Service
    from gaitcoach.service.warmup import warm_up

    cfg = _load(args)
    try:
        # No adapter: one line and nothing written, before the view, broker or a session.
        asyncio.run(open_adapter(cfg.link.adapter))
    except AdapterError as exc:
        raise CliError(str(exc)) from None
    setup_logging(cfg.service.log_level, args.quiet)
    for warning in cfg.warnings:
        logging.getLogger("gaitcoach.service").warning("%s", warning)
    # The kernels compile (first start) or load before the live view and the pods.
    warm_up(lambda line: print(f"gaitcoach: {line}", file=sys.stderr, flush=True))
    view: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    on_state = None
    if not args.quiet:
        # Imported only here: headless runs never load rich.
        from gaitcoach.service.view import live_view

        view, on_state = live_view()
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
        raise CliError(f"{type(exc).__name__}: {exc}") from None
    print(
        json.dumps(
            {
                "sessions": result.session_ids,
                "report": str(result.report_path) if result.report_path else None,
                "counts": result.counts,
                "gaps": len(result.gaps),
                "dropped": result.dropped,
            }
        )
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the live coaching service")
    p.add_argument("--config", default=None, help=f"config file (default {DEFAULT_CONFIG})")
    p.add_argument("--quiet", action="store_true", help="no live view (headless); logs only")
    p.set_defaults(func=cmd_run)
    c = sub.add_parser("config", help="configuration tools")
    csub = c.add_subparsers(dest="config_command", metavar="ACTION")
    chk = csub.add_parser("check", help="validate the config without running")
    chk.add_argument("--config", default=None, help=f"config file (default {DEFAULT_CONFIG})")
    chk.set_defaults(func=cmd_config_check)
