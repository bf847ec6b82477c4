"""``gaitcoach`` command line. Each sub-command lives beside the code it drives and
registers itself through a ``register(subparsers)`` function listed in ``COMMAND_MODULES``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that provide ``register(subparsers: argparse._SubParsersAction) -> None``; each
# registered parser sets ``func(args) -> int``.
COMMAND_MODULES: list[str] = [
    "gaitcoach.session.commands",
    "gaitcoach.listen",
    "gaitcoach.link.cli",
    "gaitcoach.service.commands",
    "gaitcoach.hub.commands",
]


class CliError(Exception):
    """An error shown to the user as one line, with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gaitcoach", description=__doc__)
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
        print(f"gaitcoach: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
