"""``python -m firmware_sim serve``: virtual footpods on a virtual BlueZ.

Starts a private D-Bus system bus (unless ``--bus`` names one), the virtual BlueZ and the
pods, and streams the gait model in (optionally scaled) real time until interrupted. It
prints one line ``ready bus=ADDRESS pods=ADDR,...`` when clients may connect; point bleak at
the bus with ``DBUS_SYSTEM_BUS_ADDRESS=ADDRESS``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from dataclasses import dataclass

from firmware_sim.bluez.daemon import PrivateBus
from firmware_sim.bluez.server import VirtualBluez
from firmware_sim.closed_loop import ClosedLoop
from firmware_sim.params import Profile
from firmware_sim.pod_source import PodStream
from firmware_sim.pods.control import VirtualPodControl, control_path
from firmware_sim.pods.firmware import PodConfig, RscSource, StreamFactory, VirtualPod
from firmware_sim.pods.rsc import CounterRsc, GaitEngineRsc
from firmware_sim.pods.streams import CounterStream
from firmware_sim.profiles import get_profile
from firmware_sim.response import ResponseSettings
from firmware_sim.simulation import Simulation
from gaitcoach.footpod.profile import PodKind
from gaitcoach.types import Foot

log = logging.getLogger(__name__)

COUNTER_PROFILE = "counter"
"""Deterministic stream whose values encode the sample index (for exact link tests)."""
_KIND_CODE = {PodKind.FOOTPOD: 0x01, PodKind.RSC: 0x02, PodKind.MOVESENSE: 0x03}
_SIDE_CODE = {Foot.LEFT: 0x01, Foot.RIGHT: 0x02, Foot.UNKNOWN: 0x03}


@dataclass(frozen=True, slots=True)
class PodSpec:
    kind: PodKind
    side: Foot


def parse_pods(text: str) -> list[PodSpec]:
    """``[KIND:]SIDE,...`` with KIND footpod (default), rsc or movesense; SIDE left, right
    or unknown."""
    specs = []
    for token in filter(None, (t.strip() for t in text.split(","))):
        kind_s, _, side_s = token.rpartition(":")
        try:
            kind = PodKind(kind_s) if kind_s else PodKind.FOOTPOD
            side = Foot(side_s)
        except ValueError:
            raise ValueError(
                f"--pods: bad pod {token!r} (allowed: [footpod|rsc|movesense:]left|right|unknown)"
            ) from None
        specs.append(PodSpec(kind, side))
    if not specs:
        raise ValueError("--pods: at least one pod")
    return specs


def pod_address(spec: PodSpec, index: int) -> str:
    """Static random addresses (two top bits set), stable for a given pod list."""
    return f"D0:0D:{_KIND_CODE[spec.kind]:02X}:{_SIDE_CODE[spec.side]:02X}:00:{index:02X}"


@dataclass(frozen=True, slots=True)
class Fault:
    """A scheduled fault: ``POD:ACTION[=VALUE][@T][+D]`` (see ``serve --help``)."""

    pod: str
    action: str
    value: str
    at_s: float
    duration_s: float


_FAULT = re.compile(
    r"^(?P<pod>\w+):(?P<action>[a-z]+)(=(?P<value>[^@+]+))?(@(?P<at>[\d.]+))?(\+(?P<dur>[\d.]+))?$"
)
FAULT_ACTIONS = ("dropout", "restart", "loss", "burst", "drift", "battery", "malformed")


def parse_fault(text: str) -> Fault:
    m = _FAULT.match(text)
    if m is None or m["action"] not in FAULT_ACTIONS:
        raise ValueError(
            f"--fault: cannot parse {text!r} (POD:ACTION[=VALUE][@T][+D], ACTION one of "
            f"{', '.join(FAULT_ACTIONS)})"
        )
    return Fault(m["pod"], m["action"], m["value"] or "", float(m["at"] or 0), float(m["dur"] or 0))


def make_streams(profile: str, seed: int, drift_ppm: float) -> StreamFactory:
    if profile == COUNTER_PROFILE:

        def counter(foot: Foot, rate_hz: int) -> PodStream:
            offset = {Foot.LEFT: 1000.0, Foot.RIGHT: 2000.0}.get(foot, 0.0)
            return CounterStream(foot, rate_hz, drift_ppm=drift_ppm, clock_offset_s=offset)

        return counter
    return SimulatedStreams(get_profile(profile), seed)  # ValueError names the profiles


class SimulatedStreams:
    """Pod streams from simulated runs: both feet of one rate come from the same run; a second
    pod on the same foot (two sensors on one shoe) gets its own copy of that run."""

    def __init__(self, profile: Profile, seed: int) -> None:
        self.profile = profile
        self.seed = seed
        self._sims: dict[tuple[int, int], Simulation] = {}
        self._taken: dict[tuple[int, Foot], int] = {}

    def __call__(self, foot: Foot, rate_hz: int) -> PodStream:
        copy = self._taken.get((rate_hz, foot), 0)
        self._taken[(rate_hz, foot)] = copy + 1
        if (rate_hz, copy) not in self._sims:
            self._sims[(rate_hz, copy)] = Simulation(self.profile, seed=self.seed, rate_hz=rate_hz)
        return self._sims[(rate_hz, copy)].pod(foot)

    def simulations(self) -> list[Simulation]:
        return list(self._sims.values())


class PodServer:
    """The virtual BlueZ plus its pods, running until cancelled (async context manager)."""

    def __init__(
        self,
        specs: list[PodSpec],
        streams: StreamFactory,
        bus_address: str,
        speed: float = 1.0,
        rate_hz: int = 208,
        mtu: int = 247,
        rsc_counter: bool = False,
        seed: int = 0,
    ) -> None:
        self.bluez = VirtualBluez(bus_address, mtu=mtu)
        self.pods: list[VirtualPod] = []
        for i, spec in enumerate(specs):
            cfg = PodConfig(
                pod_address(spec, i),
                spec.side,
                spec.kind,
                speed=speed,
                rate_hz=rate_hz,
                serial=f"{240000 + i}",
            )
            rsc: RscSource = CounterRsc() if rsc_counter else GaitEngineRsc()
            self.pods.append(VirtualPod(cfg, streams, rsc, seed=seed + 17 * i))
        self._tasks: list[asyncio.Task[None]] = []

    def pod(self, name: str) -> VirtualPod:
        """A pod by index, side (first match) or address."""
        if name.isdigit() and int(name) < len(self.pods):
            return self.pods[int(name)]
        for pod in self.pods:
            if name in (pod.cfg.side.value, pod.address):
                return pod
        raise ValueError(f"no pod {name!r}")

    async def __aenter__(self) -> PodServer:
        await self.bluez.__aenter__()
        for i, pod in enumerate(self.pods):
            pod.radio = self.bluez.add(pod)
            self.bluez.bus.export(control_path(i), VirtualPodControl(pod))
            self._tasks.append(asyncio.create_task(pod.run(), name=f"pod-{i}"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.bluez.__aexit__(None, None, None)

    async def apply(self, fault: Fault) -> None:
        """Run one scheduled fault (waits for its time in stream seconds)."""
        pod = self.pod(fault.pod)
        await asyncio.sleep(max(0.0, fault.at_s - pod.t_true_s) / pod.cfg.speed)
        if fault.action == "dropout":
            await pod.dropout(fault.duration_s or 5.0)
        elif fault.action == "restart":
            await pod.restart(fault.duration_s or 0.5, keep_link=fault.value == "keep")
        elif fault.action == "loss":
            pod.set_loss(float(fault.value))
        elif fault.action == "burst":
            p, _, n = fault.value.partition("/")
            pod.set_loss(pod.fault.loss.p, float(p), int(n or 10))
        elif fault.action == "drift":
            pod.set_drift(float(fault.value))
        elif fault.action == "battery":
            pod.set_battery(int(fault.value))
        elif fault.action == "malformed":
            kind, _, n = fault.value.partition("*")
            pod.inject_malformed(kind or "garbage", int(n or 1))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser(
        "serve",
        help="serve virtual footpods through a virtual BlueZ",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", default=COUNTER_PROFILE, help="technique profile, or 'counter'")
    p.add_argument("--pods", default="left,right", help="[KIND:]SIDE,... (default left,right)")
    p.add_argument("--bus", help="D-Bus address to serve on (default: start a private bus)")
    p.add_argument("--speed", type=float, default=1.0, help="stream seconds per second")
    p.add_argument("--rate", type=int, default=208, help="IMU rate until a client sets one")
    p.add_argument("--mtu", type=int, default=247, help="ATT MTU of every connection")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--drift-ppm", type=float, default=0.0, help="counter profile clock drift")
    p.add_argument("--rsc-counter", action="store_true", help="RSC values from a known sequence")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="POD:ACTION[=V][@T][+D]",
        help="scheduled fault, POD = index, side or address; ACTION dropout (+D s), restart "
        "(=keep keeps the link, +D downtime), loss=P, burst=P/LEN, drift=PPM, battery=PCT, "
        "malformed=KIND[*N] (truncated, oversized, garbage, duplicate, badformat, "
        "otherformat, empty); @T is the stream time",
    )
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds")
    p.add_argument(
        "--closed-loop",
        metavar="HOST:PORT",
        help="the simulated runner listens to the coach's cues on this MQTT broker",
    )
    p.add_argument("--runner", default="runner", help="runner id of the cue topic")
    p.add_argument(
        "--compliance", type=float, default=0.8, help="0..1: how much the runner follows cues"
    )
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    specs = parse_pods(args.pods)
    faults = [parse_fault(f) for f in args.fault]
    if args.speed <= 0:
        raise ValueError(f"--speed must be > 0, got {args.speed}")
    streams = make_streams(args.profile, args.seed, args.drift_ppm)
    with contextlib.ExitStack() as stack:
        address = args.bus or os.environ.get("GAITCOACH_SIM_BUS")
        if not address:
            try:
                address = stack.enter_context(PrivateBus()).address
            except (RuntimeError, OSError) as exc:
                raise ValueError(f"serve: cannot start a private D-Bus: {exc}") from exc
        server = PodServer(
            specs, streams, address, args.speed, args.rate, args.mtu, args.rsc_counter, args.seed
        )
        for f in faults:
            server.pod(f.pod)  # fail early on unknown pods
        loop_ = _closed_loop(args, streams, server)
        asyncio.run(_serve(server, faults, args.duration, loop_))
    return 0


def _closed_loop(
    args: argparse.Namespace, streams: StreamFactory, server: PodServer
) -> ClosedLoop | None:
    if not args.closed_loop:
        return None
    if not isinstance(streams, SimulatedStreams):
        raise ValueError("--closed-loop needs a simulated --profile, not the counter stream")
    host, _, port = args.closed_loop.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--closed-loop: {args.closed_loop!r} is not HOST:PORT")
    return ClosedLoop(
        streams.simulations,
        host,
        int(port),
        args.runner,
        sim_time=lambda: max((p.t_true_s for p in server.pods), default=0.0),
        settings=ResponseSettings(compliance=args.compliance),
    )


async def _steer(loop_: ClosedLoop, speed: float) -> None:
    # The runner re-plans about once a second of running.
    while True:
        await asyncio.sleep(1.0 / speed)
        loop_.apply()


async def _serve(
    server: PodServer, faults: list[Fault], duration_s: float, loop_: ClosedLoop | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        pods = ",".join(p.address for p in server.pods)
        print(f"ready bus={server.bluez.bus_address} pods={pods}", flush=True)
        tasks = [asyncio.create_task(server.apply(f)) for f in faults]
        if loop_ is not None:
            loop_.start()
            tasks.append(asyncio.create_task(_steer(loop_, server.pods[0].cfg.speed)))
        try:
            if duration_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), duration_s)
            else:
                await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            if loop_ is not None:
                loop_.stop()
    sys.stdout.flush()
