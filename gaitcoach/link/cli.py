"""``gaitcoach scan``: list nearby pods with kind, side, RSSI, battery and why each is
taken for a pod of that kind (the advertising rules that matched)."""

from __future__ import annotations

import argparse
import asyncio

from gaitcoach.jsonenc import dumps
from gaitcoach.link.discovery import scan


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser(
        "scan",
        help="list footpods in range (kind, side, RSSI, battery, why)",
        description="Scan for footpods, Movesense sensors and running speed pods, and say for "
        "each why it looks like one. Use the addresses or names in [link] pods.",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="scan time in seconds")
    p.add_argument("--adapter", help="BlueZ adapter, e.g. hci0 (default: the system default)")
    p.add_argument("--json", action="store_true", help="one JSON object per pod")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gaitcoach.errors import CliError

    if args.timeout <= 0:
        raise CliError(f"--timeout must be > 0, got {args.timeout}")
    try:
        pods = asyncio.run(scan(args.timeout, args.adapter))
    except Exception as exc:  # no adapter, no bus, permission: one line for the user
        raise CliError(f"scan failed (is BlueZ reachable on the system D-Bus?): {exc}") from exc
    if args.json:
        for pod in pods:
            print(dumps(pod))
        return 0
    print(f"{'address':<18} {'kind':<10} {'side':<8} {'rssi':>5} {'battery':>8}  name")
    for pod in pods:
        rssi = "" if pod.rssi_dbm is None else f"{pod.rssi_dbm}"
        battery = "" if pod.battery_pct is None else f"{pod.battery_pct}%"
        kind, side = pod.kind.value, pod.side.value
        print(f"{pod.address:<18} {kind:<10} {side:<8} {rssi:>5} {battery:>8}  {pod.name}")
        print(f"{'':<18} why: {'; '.join(pod.evidence)} (GATT service checked on connect)")
    if not pods:
        print("(no pods found)")
    return 0
