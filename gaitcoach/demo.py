"""``./run demo``: the whole system on one machine, on virtual footpods.

Starts a private D-Bus with the virtual BlueZ and two simulated footpods (a
``heel-overstrider`` by default) in their own process, an MQTT broker (Mosquitto when
installed, else the embedded amqtt one, which only the demo starts), the service and
``gaitcoach listen``; the simulated runner hears the cues and responds (closed loop). After
the run it prints the summary and the path of the HTML report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from gaitcoach.dashboard import WWW, DashboardSettings, page_url
from gaitcoach.mqtt.mosquitto import MosquittoBroker, mosquitto_available
from gaitcoach.paths import demo_data_dir
from gaitcoach.proc import die_with_parent, free_port
from gaitcoach.service.config import ServiceConfig, load_config

READY_TIMEOUT_S = 30.0


@contextlib.contextmanager
def _process(
    cmd: Sequence[str], env: dict[str, str], log: IO[str] | None
) -> Iterator[subprocess.Popen[str]]:
    """A child process tied to us (it dies with us), stopped with SIGTERM on exit."""
    proc = subprocess.Popen(
        list(cmd),
        env=env,
        stdout=subprocess.PIPE if log is None else log,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_line(proc: subprocess.Popen[str], prefix: str, timeout_s: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before '{prefix}'")
            continue
        if line.startswith(prefix):
            return line.strip()
    raise RuntimeError(f"no '{prefix}' from {proc.args!r} within {timeout_s:.0f} s")


@dataclasses.dataclass(frozen=True)
class DemoResult:
    summary: dict[str, Any] | None
    report_path: Path | None
    heard: str
    """What ``gaitcoach listen`` printed."""
    data_dir: Path
    gaps: int
    counts: dict[str, int]
    summary_text: str
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)


def demo_config(
    base: ServiceConfig,
    data_dir: Path,
    port: int,
    speed: float,
    runner: str,
    dashboard: DashboardSettings | None = None,
) -> ServiceConfig:
    """The service config of the demo: both virtual pods, the demo's broker, faster time;
    with the dashboard, strides are published too (the page shows the last one)."""
    return dataclasses.replace(
        base,
        runner=dataclasses.replace(base.runner, id=runner),
        mqtt=dataclasses.replace(
            base.mqtt,
            host="127.0.0.1",
            port=port,
            publish_strides=base.mqtt.publish_strides or dashboard is not None,
        ),
        link=dataclasses.replace(base.link, time_scale=speed),
        session=dataclasses.replace(base.session_settings(), data_dir=data_dir),
        dashboard=dashboard or DashboardSettings(),  # never the config's own server here
    )


async def _run_service(
    config: ServiceConfig, run_s: float, quiet: bool, embedded_broker: bool = False
) -> Any:
    from gaitcoach.service.service import Service

    view: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    on_state = None
    if not quiet:
        # Imported only here: headless runs never load rich.
        from gaitcoach.service.view import live_view

        view, on_state = live_view()
    service = Service(config, on_state=on_state)

    async def stop_when_done() -> None:
        # Judged in stream time: stop once the service has analysed the whole run from both
        # pods, however long a loaded machine (or a first-start compile) made that take; the
        # pods stream on for a minute of wall time past the run.
        deadline = time.monotonic() + run_s + POD_MARGIN_S - 5.0
        stream_s = run_s * config.link.time_scale
        while service.processed_s() < stream_s and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        service.stop()

    async def announce_dashboard() -> None:
        # Said once the page is served (the service first loads or compiles its kernels).
        while service.dashboard is None:
            await asyncio.sleep(0.05)
        url = service.dashboard.url
        print(f"dashboard: {page_url(url, config.runner.id)}  (coach's view: "
              f"{page_url(url, page='coach.html')})", flush=True)  # fmt: skip

    stopper = asyncio.get_running_loop().create_task(stop_when_done())
    announcer = asyncio.get_running_loop().create_task(announce_dashboard())
    try:
        async with contextlib.AsyncExitStack() as stack:
            if embedded_broker:
                # Only the demo does this (Mosquitto missing): the service itself never starts
                # a broker, it uses the configured one.
                from gaitcoach.mqtt.embedded import EmbeddedBroker

                await stack.enter_async_context(EmbeddedBroker("127.0.0.1", config.mqtt.port))
            with view:
                return await service.run()
    finally:
        stopper.cancel()
        announcer.cancel()


POD_MARGIN_S = 60.0
"""The pods stream this many wall seconds past the run (start-up, a loaded machine)."""


@dataclasses.dataclass
class DemoStack:
    """What the demo started: the private bus, the broker, the pods and the listener."""

    work: Path
    env: dict[str, str]
    port: int
    broker: MosquittoBroker | None
    broker_text: str
    listener_log: Path
    dashboard: DashboardSettings | None = None
    """The page on a free port, talking to the demo's Mosquitto over WebSockets."""


@contextlib.contextmanager
def demo_stack(
    profile: str,
    run_s: float,
    speed: float,
    compliance: float,
    seed: int = 0,
    faults: Sequence[str] = (),
    runner: str = "demo",
    work: Path | None = None,
    pods: str = "left,right",
) -> Iterator[DemoStack]:
    """Private bus + virtual pods (their own process, steered by the cues), a broker
    (Mosquitto when installed; else the demo starts the embedded one on ``port`` next to the
    service, see :func:`_run_service`) and
    ``gaitcoach listen``. Points this process's bleak at the private bus."""
    from firmware_sim.bluez.daemon import PrivateBus, env_for_bus, write_bluetoothctl_shim

    with contextlib.ExitStack() as stack:
        if work is None:
            # The bus, the broker's files and the listener's log: gone after the demo.
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gaitcoach-demo-")))
        bus = stack.enter_context(PrivateBus(work / "bus"))
        write_bluetoothctl_shim(work)
        env = env_for_bus(bus.address, work)
        os.environ.update({k: env[k] for k in ("DBUS_SYSTEM_BUS_ADDRESS", "PATH")})
        broker: MosquittoBroker | None = None
        if mosquitto_available():
            # MQTT over WebSockets on a second listener, for the dashboard.
            broker = stack.enter_context(MosquittoBroker(work / "broker", websockets=True))
            port = broker.port
            text = f"Mosquitto on 127.0.0.1:{port} (WebSockets on {broker.ws_port})"
            dashboard = DashboardSettings(
                enabled=True,
                port=free_port(),
                broker_url=f"ws://127.0.0.1:{broker.ws_port}/mqtt",
            )
        else:
            port = free_port()
            text = f"embedded broker on 127.0.0.1:{port} (Mosquitto is not installed)"
            dashboard = None  # the embedded broker has no websockets listener here
        py = sys.executable
        pod_proc = stack.enter_context(
            _process(
                [
                    py,
                    "-m",
                    "firmware_sim",
                    "serve",
                    "--bus",
                    bus.address,
                    "--profile",
                    profile,
                    "--pods",
                    pods,
                    "--speed",
                    str(speed),
                    "--seed",
                    str(seed),
                    "--duration",
                    str(run_s + POD_MARGIN_S),
                    "--closed-loop",
                    f"127.0.0.1:{port}",
                    "--runner",
                    runner,
                    "--compliance",
                    str(compliance),
                    *(a for f in faults for a in ("--fault", f)),
                ],
                env,
                None,
            )
        )
        print("demo: pods " + _wait_line(pod_proc, "ready", READY_TIMEOUT_S), flush=True)
        listener_log = work / "listener.log"
        log_file = stack.enter_context(open(listener_log, "w"))
        stack.enter_context(
            _process(
                [
                    py,
                    "-m",
                    "gaitcoach",
                    "listen",
                    "--runner",
                    runner,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-speak",
                ],
                env,
                log_file,
            )
        )
        yield DemoStack(work, env, port, broker, text, listener_log, dashboard)


def run_demo(
    profile: str = "heel-overstrider",
    minutes: float = 3.0,
    speed: float = 1.0,
    compliance: float = 0.8,
    seed: int = 0,
    data_dir: Path | None = None,
    quiet: bool = False,
    config_path: str | None = None,
    faults: Sequence[str] = (),
    runner: str = "demo",
) -> DemoResult:
    """Run the demo; returns the summary, the report and what the listener heard."""
    base = load_config(config_path)
    run_s = minutes * 60.0 / speed
    with demo_stack(profile, run_s, speed, compliance, seed, faults, runner) as st:
        data = data_dir or demo_data_dir()
        print(
            f"demo: sessions are kept in {data}, apart from your runs "
            f"(gaitcoach sessions --data-dir {data})",
            flush=True,
        )
        print(
            f"demo: profile {profile}, {minutes:g} min at x{speed:g}, {st.broker_text}", flush=True
        )
        dashboard = st.dashboard
        if dashboard is not None and not (WWW / "manifest.json").exists():
            print("demo: no dashboard (not built: ./run setup builds it with npm)", flush=True)
            dashboard = None
        cfg = demo_config(base, data, st.port, speed, runner, dashboard)
        result = asyncio.run(_run_service(cfg, run_s, quiet, embedded_broker=st.broker is None))
        heard = st.listener_log.read_text(encoding="utf-8", errors="replace")
    return DemoResult(
        result.summary,
        result.report_path,
        heard,
        data,
        result.gap_count,
        result.counts,
        result.summary_text,
        result.dropped,
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="./run demo", description=__doc__)
    ap.add_argument("--profile", default="heel-overstrider")
    ap.add_argument("--minutes", type=float, default=3.0, help="simulated running time")
    ap.add_argument("--speed", type=float, default=1.0, help="times faster than real time")
    ap.add_argument(
        "--compliance", type=float, default=0.8, help="0..1: how the runner follows cues"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--config", default=None)
    ap.add_argument("--quiet", action="store_true", help="no live view")
    ap.add_argument("--fault", action="append", default=[], help="as firmware_sim serve --fault")
    args = ap.parse_args(argv)
    try:
        res = run_demo(
            args.profile,
            args.minutes,
            args.speed,
            args.compliance,
            args.seed,
            args.data_dir,
            args.quiet,
            args.config,
            args.fault,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print("\nlistener heard:")
    print(res.heard.rstrip() or "(nothing)")
    if res.summary is not None:
        print("\nsummary:")
        print(res.summary_text)
    print(f"\nHTML report: {res.report_path}")
    return 0 if res.summary is not None else 1


if __name__ == "__main__":
    sys.exit(main())
