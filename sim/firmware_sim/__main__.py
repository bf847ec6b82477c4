"""``python -m firmware_sim COMMAND``: ``record`` writes a simulated run to files, ``serve``
streams virtual footpods. Sub-commands register like gaitcoach's (see gaitcoach.cli)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: list[str] = ["firmware_sim.record", "firmware_sim.serve"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except ValueError as exc:
        # Invalid parameters arrive as ValueError with a message naming parameter and range.
        print(f"firmware_sim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
