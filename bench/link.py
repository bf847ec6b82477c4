"""``./run bench link``: the live link against virtual pods over the virtual BlueZ.

For each scenario: notifications/s received, end-to-end latency from the pod's send (the
instant its batch's last sample is due) to the decoded sample reaching the consumer, the
timestamp error against truth, and CPU use of the client, the pods and the D-Bus daemon.
A last row runs the time mapping alone over one hour of a BLE latency model.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from dbus_fast import BusType, Message
from dbus_fast.aio import MessageBus

from firmware_sim.bluez.daemon import PrivateBus, die_with_parent, write_bluetoothctl_shim
from firmware_sim.pods.control import INTERFACE, control_path
from firmware_sim.pods.streams import index_from_counts
from gaitcoach.footpod.profile import acc_lsb_mps2
from gaitcoach.link import FootpodLink, LinkConfig
from gaitcoach.types import Foot, ImuChunk

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    name: str
    rate_hz: int
    mtu: int
    acquire: bool
    speed: float


SCENARIOS = [
    Scenario("208Hz MTU247 AcquireNotify", 208, 247, True, 1.0),
    Scenario("208Hz MTU23 StartNotify", 208, 23, False, 1.0),
    Scenario("416Hz MTU23 AcquireNotify", 416, 23, True, 1.0),
    Scenario("416Hz MTU23 StartNotify x4", 416, 23, False, 4.0),
]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def truth_h0(bus: str, index: int) -> float:
    """Host time of a pod's true time 0, through its control interface."""
    conn = await MessageBus(bus_address=bus, bus_type=BusType.SYSTEM).connect()
    try:
        reply = await conn.call(
            Message(
                destination="org.bluez",
                path=control_path(index),
                interface=INTERFACE,
                member="Truth",
            )
        )
        assert reply is not None and not reply.error_name
        return float(reply.body[0])
    finally:
        conn.disconnect()


async def measure(sc: Scenario, bus: PrivateBus, seconds: float) -> dict[str, float]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware_sim",
            "serve",
            "--bus",
            bus.address,
            "--speed",
            str(sc.speed),
            "--rate",
            str(sc.rate_hz),
            "--mtu",
            str(sc.mtu),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    try:
        assert proc.stdout is not None
        if not proc.stdout.readline().startswith(b"ready"):
            raise RuntimeError("serve failed")
        h0 = {
            Foot.LEFT: await truth_h0(bus.address, 0),
            Foot.RIGHT: await truth_h0(bus.address, 1),
        }
        cfg = LinkConfig.from_dict(
            {"rate_hz": sc.rate_hz, "time_scale": float(sc.speed), "use_acquire_notify": sc.acquire}
        )
        lat: list[float] = []
        err: list[float] = []
        async with FootpodLink(cfg) as link:
            deadline = time.monotonic() + 30
            while not all(s.state.value == "streaming" for s in link.status()):
                if time.monotonic() > deadline:
                    raise RuntimeError("pods did not stream")
                await asyncio.sleep(0.05)
            await asyncio.sleep(cfg.settle_s + 2.0)  # past the settling hold
            link.drain()
            n0 = sum(s.counters.notifications for s in link.status())
            c0, p0, d0 = self_cpu_s(), cpu_s(proc.pid), cpu_s(bus.pid or 0)
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                try:
                    item = await link.get(1.0)
                except TimeoutError:
                    continue
                now = time.monotonic()
                if isinstance(item, ImuChunk):
                    idx = index_from_counts(
                        np.rint(item.acc_mps2 / acc_lsb_mps2(16)).astype(np.int64)
                    )
                    due = h0[item.foot] + idx[-1] / sc.rate_hz / sc.speed
                    lat.append(now - due)
                    truth = h0[item.foot] * sc.speed + idx / sc.rate_hz
                    err.extend(((item.t_s - truth) / sc.speed).tolist())
            wall = time.monotonic() - t0
            c1, p1, d1 = self_cpu_s(), cpu_s(proc.pid), cpu_s(bus.pid or 0)
            n1 = sum(s.counters.notifications for s in link.status())
            lost = sum(s.counters.lost_samples for s in link.status())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    la, ea = np.asarray(lat) * 1e3, np.abs(np.asarray(err)) * 1e3
    return {
        "notif/s": (n1 - n0) / wall,
        "lat p50 ms": float(np.percentile(la, 50)),
        "lat p99 ms": float(np.percentile(la, 99)),
        "|t err| p99 ms": float(np.percentile(ea, 99)),
        "|t err| max ms": float(ea.max()),
        "client cpu %": 100 * (c1 - c0) / wall,
        "pods cpu %": 100 * (p1 - p0) / wall,
        "dbus cpu %": 100 * (d1 - d0) / wall,
        "lost": float(lost),
    }


def hour_model(seed: int, drift_ppm: float) -> tuple[float, float, float]:
    """Timestamp error (ms) over one hour of the BLE latency model of tests/link (a 5 s
    dropout at 15 min, a restart at 30 min): max overall, max outside the 15 s after the
    restart, and the mean (the bias left above the latency floor)."""
    sys.path.insert(0, str(ROOT))
    from gaitcoach.link.clock import SensorClock
    from gaitcoach.link.tracker import ImuTracker
    from tests.link.test_clock import PodModel, ble_arrivals, run_tracker

    rng = np.random.default_rng(seed)
    pod = PodModel(drift_ppm, offset_s=3.0, mtu=247)
    pkts = pod.packets(60.0, restart_at_s=1800.0, dropout=(900.0, 905.0))
    arrivals = 50.0 + ble_arrivals(np.array([p[1] for p in pkts]), rng)
    tracker = ImuTracker(Foot.LEFT, SensorClock(latency_floor_s=0.0075))
    chunks, _ = run_tracker(pkts, arrivals, tracker)
    t = np.concatenate([c.t_s for c in chunks])
    idx = np.concatenate([p[2] for p in pkts])
    err = (t - (50.0 + idx / 208)) * 1e3
    boot = (idx / 208 >= 1800.0) & (idx / 208 < 1815.0)
    return float(np.abs(err).max()), float(np.abs(err[~boot]).max()), float(err.mean())


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench link", description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured time per scenario")
    args = ap.parse_args(argv)
    if shutil.which("dbus-daemon") is None:
        print("bench link: dbus-daemon is not installed")
        return 2
    shim = tempfile.mkdtemp(prefix="gaitcoach-bench-link-")
    rows = []
    try:
        write_bluetoothctl_shim(shim)
        os.environ["PATH"] = f"{shim}{os.pathsep}{os.environ['PATH']}"
        for sc in SCENARIOS:
            with PrivateBus() as bus:
                os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
                rows.append((sc, asyncio.run(measure(sc, bus, args.seconds))))
    finally:
        shutil.rmtree(shim, ignore_errors=True)
    cols = list(rows[0][1])
    print(f"{'scenario (2 pods)':<28}" + "".join(f"{c:>15}" for c in cols))
    for sc, r in rows:
        print(f"{sc.name:<28}" + "".join(f"{r[c]:>15.2f}" for c in cols))
    print(
        "\ntime mapping alone, 1 h BLE latency model (7.5 ms interval, exp. jitter, 1 % retries):"
    )
    print(
        f"{'seed':>5} {'drift ppm':>10} {'max ms':>8} {'max ms, not <15 s after restart':>32}"
        f" {'mean ms':>8}"
    )
    for seed, drift in ((7, 95.0), (8, -60.0), (9, 95.0), (11, 30.0), (12, -90.0)):
        worst, steady, mean = hour_model(seed, drift)
        print(f"{seed:>5} {drift:>10.0f} {worst:>8.2f} {steady:>32.2f} {mean:>+8.2f}")
    print(
        "latency: pod send (its batch's last sample due) -> decoded chunk at the consumer; "
        "x4 rows run 4x faster than real time (errors in host ms)"
    )
    return 0
