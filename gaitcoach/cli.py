"""``gaitcoach`` command line. Each sub-command lives beside the code it drives and
registers itself through a ``register(subparsers)`` function listed in ``COMMAND_MODULES``."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from gaitcoach.errors import CliError

# The command line's own help (the module docstring above is for developers).
DESCRIPTION = """\
Live running-technique feedback from shoe-mounted IMU footpods: 'gaitcoach run' coaches you
while you run; the other commands list, summarise, replay and export your runs.

Config: --config FILE, else $GAITCOACH_CONFIG, else ~/.config/gaitcoach/gaitcoach.toml
('gaitcoach config init' writes an example). Runs are kept in ~/.local/share/gaitcoach
($GAITCOACH_DATA_DIR or [session] data_dir), the same folder for every command.
"""

# Modules that provide ``register(subparsers: argparse._SubParsersAction) -> None``; each
# registered parser sets ``func(args) -> int``.
COMMAND_MODULES: list[str] = [
    "gaitcoach.session.commands",
    "gaitcoach.listen",
    "gaitcoach.link.cli",
    "gaitcoach.service.commands",
    "gaitcoach.hub.commands",
]


def build_parser() -> argparse.ArgumentParser:
    from gaitcoach import __version__

    parser = argparse.ArgumentParser(
        prog="gaitcoach",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gaitcoach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except CliError as exc:
        for line in str(exc).splitlines():
            print(f"gaitcoach: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `gaitcoach history | head`: the reader left; say nothing, and keep Python from
        # complaining when it flushes stdout at exit.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug: one line here, the traceback in the log file
        from gaitcoach.logs import log_crash

        where = log_crash(exc)
        tail = f" (traceback in {where})" if where else ""
        print(f"gaitcoach: internal error: {type(exc).__name__}: {exc}{tail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
