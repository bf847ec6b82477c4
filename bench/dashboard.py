"""Dashboard figures (issue 17): latency from a stride's publication to its value on the page,
and the page's CPU and memory over a long live run.

``./run bench dashboard [--minutes 30] [--speed 5] [--realtime-minutes 5]``

The real stack: virtual pods through the virtual BlueZ and bleak, the service (in this
process, so the moment each stride is handed to MQTT can be recorded), Mosquitto with its
websockets listener, the dashboard's server, and the page in Debian's headless Chromium
(Playwright). The page records when each stride's values reach the screen (the animation
frame after the DOM update, ``GC.probe.strides``); both clocks are this machine's wall clock.

Two runs: ``--minutes`` of simulated running at ``--speed`` (30 simulated minutes at x5 by
default: the page receives as many messages as in 30 real minutes, 5 times as fast, so its
CPU share is an upper bound and its memory is what 30 minutes of data leave), then
``--realtime-minutes`` at x1 for the CPU share at the real message rate. CPU: the browser's
renderer processes (``/proc``, user + system time) and the page's main-thread busy time
(DevTools ``Performance.getMetrics`` TaskDuration); memory: the JS heap (DevTools) and the
renderers' resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gaitcoach.dashboard import page_url
from gaitcoach.mqtt.payloads import StridePayload
from gaitcoach.mqtt.publisher import MqttPublisher
from gaitcoach.proc import die_with_parent
from gaitcoach.service.config import load_config
from gaitcoach.types import StrideRecord
from tests.dashboard.browser import browser, wait_js

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# A plain MQTT subscriber in its own process (no GIL shared with the service): when each
# stride reached a TCP client of the broker, to tell the browser's share from the rest.
SUBSCRIBER = """
import json, socket, sys, time
import paho.mqtt.client as paho
c = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
c.on_socket_open = lambda c, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.on_connect = lambda c, u, f, rc, p: c.subscribe(sys.argv[2], 0)
def got(c, u, m):
    print(repr(json.loads(m.payload)["t_unix_s"]), repr(time.time()), flush=True)
c.on_message = got
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
"""


def _renderers(profile_marker: str) -> list[int]:
    """Renderer processes of the browser whose command line names our profile."""
    procs: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        procs[int(entry.name)] = (ppid, cmd)
    roots = {
        pid for pid, (_, cmd) in procs.items() if profile_marker in cmd and "--type=" not in cmd
    }

    def under_root(pid: int) -> bool:
        seen = 0
        while pid in procs and seen < 10:
            if pid in roots:
                return True
            pid, seen = procs[pid][0], seen + 1
        return False

    return [p for p, (_, cmd) in procs.items() if "--type=renderer" in cmd and under_root(p)]


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / CLOCK_TICKS


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _devtools(cdp: Any) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def run(sim_minutes: float, speed: float) -> dict[str, Any]:
    from gaitcoach.demo import _run_service, demo_config, demo_stack

    published: dict[float, float] = {}
    original = MqttPublisher.publish_stride

    def timed(self: MqttPublisher, stride: StrideRecord) -> None:
        t = StridePayload.from_stride(stride, self.runner, self.unix_offset_s).t_unix_s
        published[t] = time.time()
        original(self, stride)

    run_s = sim_minutes * 60.0 / speed
    runner = "bench"
    MqttPublisher.publish_stride = timed  # type: ignore[method-assign]
    try:
        with demo_stack("heel-overstrider", run_s + 20, speed, 0.8, runner=runner) as st:
            assert st.dashboard is not None, "needs Mosquitto (websockets) and the built page"
            cfg = demo_config(load_config(None), st.work / "data", st.port, speed, runner,
                              st.dashboard)  # fmt: skip
            result: dict[str, Any] = {}
            service = threading.Thread(
                target=lambda: result.update(r=asyncio.run(_run_service(cfg, run_s + 15, True))),
                daemon=True,
            )
            sub = subprocess.Popen(
                [sys.executable, "-c", SUBSCRIBER, str(st.port), f"gaitcoach/{runner}/stride"],
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=die_with_parent,
            )
            time.sleep(0.5)
            service.start()
            address = page_url(f"http://127.0.0.1:{st.dashboard.port}/", runner)
            profile = Path(tempfile.mkdtemp(prefix="gaitcoach-bench-chromium-"))
            with browser(profile=profile) as ctx:
                page = ctx.new_page()
                cdp = ctx.new_cdp_session(page)
                cdp.send("Performance.enable")
                time.sleep(1.0)
                page.goto(address)
                wait_js(page, "document.querySelector('#conn').dataset.state === 'connected'", 60)
                wait_js(page, "GC.probe.strides.length > 0", 120)
                pids = _renderers(f"--user-data-dir={profile}")
                t0, cpu0, dev0 = time.monotonic(), _cpu_s(pids), _devtools(cdp)
                rss0 = _rss_mb(pids)
                deadline = t0 + run_s
                while time.monotonic() < deadline and service.is_alive():
                    time.sleep(2.0)
                t1, cpu1, dev1 = time.monotonic(), _cpu_s(pids), _devtools(cdp)
                rss1 = _rss_mb(pids)
                shown = page.evaluate(
                    "GC.probe.strides.filter(s => s.frameAt).map(s => [s.t, s.setAt, s.frameAt])"
                )
                stats = page.evaluate("({...GC.stats})")
            service.join(60)
            sub.terminate()
            out, _ = sub.communicate(timeout=10)
            arrived = {float(a): float(b) for a, b in (line.split() for line in out.splitlines())}
    finally:
        MqttPublisher.publish_stride = original  # type: ignore[method-assign]
    lat = [at / 1000.0 - published[t] for t, _, at in shown if t in published]
    dom = [at / 1000.0 - published[t] for t, at, _ in shown if t in published]
    browser_part = [at / 1000.0 - arrived[t] for t, _, at in shown if t in arrived]
    broker_part = [arrived[t] - published[t] for t in arrived if t in published]
    wall = t1 - t0
    return {
        "sim_min": sim_minutes,
        "speed": speed,
        "wall_s": wall,
        "strides": len(lat),
        "messages": stats["messages"],
        "lat_med_ms": float(np.median(lat)) * 1000 if lat else float("nan"),
        "lat_p99_ms": float(np.percentile(lat, 99)) * 1000 if lat else float("nan"),
        "dom_med_ms": float(np.median(dom)) * 1000 if dom else float("nan"),
        "dom_p99_ms": float(np.percentile(dom, 99)) * 1000 if dom else float("nan"),
        "tcp_med_ms": float(np.median(broker_part)) * 1000 if broker_part else float("nan"),
        "tcp_p99_ms": float(np.percentile(broker_part, 99)) * 1000 if broker_part else float("nan"),
        "page_med_ms": float(np.median(browser_part)) * 1000 if browser_part else float("nan"),
        "page_p99_ms": float(np.percentile(browser_part, 99)) * 1000
        if browser_part
        else float("nan"),
        "cpu_pct": 100 * (cpu1 - cpu0) / wall,
        "main_pct": 100 * (dev1["TaskDuration"] - dev0["TaskDuration"]) / wall,
        "heap0": dev0["JSHeapUsedSize"] / 2**20,
        "heap1": dev1["JSHeapUsedSize"] / 2**20,
        "rss0": rss0,
        "rss1": rss1,
        "nodes": dev1["Nodes"],
        "renderers": len(pids),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="./run bench dashboard", description=__doc__)
    ap.add_argument("--minutes", type=float, default=30.0, help="simulated minutes (fast run)")
    ap.add_argument("--speed", type=float, default=5.0)
    ap.add_argument("--realtime-minutes", type=float, default=5.0, help="0: skip")
    args = ap.parse_args(argv)
    runs = [run(args.minutes, args.speed)]
    if args.realtime_minutes > 0:
        runs.append(run(args.realtime_minutes, 1.0))
    print("\nDashboard: stride publication -> value on the page, and the page's cost")
    print("(headless Chromium; CPU of its renderer processes; 100 % = one core)\n")
    head = (
        "| run | wall s | strides shown | latency median ms | latency p99 ms "
        "| to DOM median / p99 ms | to a TCP subscriber median / p99 ms "
        "| TCP subscriber -> page median / p99 ms | renderer CPU % "
        "| main thread busy % | JS heap MB start -> end | renderer RSS MB start -> end "
        "| DOM nodes |"
    )
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in runs:
        print(
            f"| {r['sim_min']:g} sim min at x{r['speed']:g} | {r['wall_s']:.0f} | {r['strides']} "
            f"| {r['lat_med_ms']:.1f} | {r['lat_p99_ms']:.1f} "
            f"| {r['dom_med_ms']:.1f} / {r['dom_p99_ms']:.1f} "
            f"| {r['tcp_med_ms']:.1f} / {r['tcp_p99_ms']:.1f} "
            f"| {r['page_med_ms']:.1f} / {r['page_p99_ms']:.1f} | {r['cpu_pct']:.1f} "
            f"| {r['main_pct']:.1f} | {r['heap0']:.1f} -> {r['heap1']:.1f} "
            f"| {r['rss0']:.0f} -> {r['rss1']:.0f} | {r['nodes']:.0f} |"
        )
    return 0
