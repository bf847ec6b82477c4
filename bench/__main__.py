"""Run one benchmark (``./run bench NAME [args]``) or all of them (``./run bench``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = available()
    if argv and argv[0] in ("-h", "--help"):
        print("usage: ./run bench [NAME [ARGS...]]\nbenchmarks: " + ", ".join(names))
        return 0
    if argv:
        name, rest = argv[0], argv[1:]
        if name not in names:
            print(f"bench: unknown benchmark '{name}' (available: {', '.join(names)})")
            return 2
        return int(importlib.import_module(f"bench.{name}").main(rest))
    status = 0
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        status |= int(importlib.import_module(f"bench.{name}").main([]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
