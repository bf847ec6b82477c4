"""Cue delivery over MQTT on loopback: publish-to-subscriber latency (median, p99).

``./run bench mqtt [--cues N] [--interval-ms MS]``. Publisher: :class:`MqttPublisher`
(paho, asyncio facade); subscriber: :class:`MqttSubscriber` in the same process, timed from
``publish_cue()`` to the message reaching the subscriber's asyncio loop. Brokers: Mosquitto
(MQTT v5 and 3.1.1) started here with a generated config, and the embedded amqtt broker
(3.1.1). Then every simulated technique profile coached over MQTT (cues per kind, the
first cue), and one broker outage: what was dropped and how soon the service reconnected.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from firmware_sim.simulation import Simulation
from gaitcoach.coach import Coach, RunnerProfile
from gaitcoach.mqtt import MqttPublisher, MqttSettings
from gaitcoach.mqtt.embedded import EmbeddedBroker
from gaitcoach.mqtt.subscriber import MqttSubscriber
from gaitcoach.types import Activity, Cue, CueKind, GaitMetrics
from tests.mqtt.broker import MosquittoBroker


def cue(i: int, ttl_s: float = 8.0) -> Cue:
    now = time.time()
    return Cue(
        f"b-{i}",
        CueKind.CADENCE,
        "Quicker steps",
        40,
        now,
        now + ttl_s,
        {"cadence_spm": 155.0, "target_spm": 167.0},
        0,
        167.0,
    )


@asynccontextmanager
async def broker(kind: str, directory: Path) -> AsyncIterator[tuple[str, int]]:
    if kind == "mosquitto":
        with MosquittoBroker(directory / "mosquitto") as m:
            yield m.host, m.port
    else:
        async with EmbeddedBroker() as e:
            yield e.host, e.port


async def latency(host: str, port: int, protocol: str, n: int, interval_s: float) -> list[float]:
    settings = MqttSettings.from_dict({"host": host, "port": port, "protocol": protocol})
    sent: dict[str, float] = {}
    delays_ms: list[float] = []
    async with (
        MqttSubscriber(settings, [("gaitcoach/bench/cue", 1)], "bench-sub") as sub,
        MqttPublisher(settings, "bench") as pub,
    ):
        if not (await pub.wait_connected(10) and await sub.wait_subscribed(10)):
            raise RuntimeError(f"no connection to {host}:{port}")

        async def receive() -> None:
            while len(delays_ms) < n:
                msg = await sub.get(10.0)
                t = time.perf_counter()
                key = msg.payload.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode()
                delays_ms.append((t - sent.pop(key)) * 1000)

        receiver = asyncio.create_task(receive())
        for i in range(n):
            sent[f"b-{i}"] = time.perf_counter()
            pub.publish_cue(cue(i))
            await asyncio.sleep(interval_s)
        await asyncio.wait_for(receiver, 30)
    return delays_ms


async def outage(directory: Path) -> dict[str, float]:
    """Broker stopped for 2 s mid-run with metrics at 10 Hz and two cues during the outage."""
    m = MosquittoBroker(directory / "outage", persistence=True)
    m.start()
    try:
        settings = MqttSettings(
            host=m.host, port=m.port, embedded="never", reconnect_min_s=0.05, reconnect_max_s=0.5
        )
        async with MqttPublisher(settings, "bench") as pub:
            await pub.wait_connected(10)
            stop = asyncio.Event()

            async def metrics() -> None:
                while not stop.is_set():
                    pub.publish_metrics(GaitMetrics(time.time(), Activity.RUNNING, 10, 170.0))
                    await asyncio.sleep(0.1)

            task = asyncio.create_task(metrics())
            await asyncio.sleep(0.5)
            m.stop()
            pub.publish_cue(cue(1, ttl_s=1.0))
            pub.publish_cue(cue(2, ttl_s=30.0))
            await asyncio.sleep(2.0)
            restarted = time.perf_counter()
            m.start()
            await pub.wait_connected(10)
            reconnect_ms = (time.perf_counter() - restarted) * 1000
            await pub.flush(5)
            stop.set()
            await task
            dropped = pub.dropped
        return {
            "reconnect_ms": reconnect_ms,
            "cues_sent_late": pub.stats.published["cue"],
            "cue_expired": dropped.get("cue_expired", 0),
            "metrics_superseded": dropped.get("metrics_superseded", 0),
            "metrics_expired": dropped.get("metrics_expired", 0),
        }
    finally:
        m.stop()


PROFILES = {
    "heel-overstrider": 608.0,
    "efficient-midfoot": 608.0,
    "forefoot": 608.0,
    "asymmetric": 608.0,
    "fatiguing": 1808.0,
    "walk-run": 402.0,
}


async def coaching(directory: Path) -> list[tuple[str, int, Counter[str], float | None, int]]:
    """Each simulated profile (exact truth) through coach -> publisher -> Mosquitto -> app."""
    rows = []
    with MosquittoBroker(directory / "coaching") as m:
        settings = MqttSettings(host=m.host, port=m.port, embedded="never")
        for profile, until_s in PROFILES.items():
            sim = Simulation(profile, seed=0)
            sim.run_until(until_s)
            strides = sim.truth_records(until_s=until_s)
            coach = Coach(RunnerProfile(id="bench", height_m=1.75))
            topic = [("gaitcoach/bench/cue", 1)]
            async with (
                MqttSubscriber(settings, topic, "bench-app") as sub,
                MqttPublisher(settings, "bench") as pub,
            ):
                await pub.wait_connected(10)
                await sub.wait_subscribed(10)
                for stride in strides:
                    pub.unix_offset_s = time.time() - stride.end_ic_s  # replay as if live
                    for c in coach.on_stride(stride):
                        pub.publish_cue(c)
                    if stride.index % 100 == 0:
                        await asyncio.sleep(0)
                await pub.flush(10)
                received = 0
                while received < len(coach.cues_):
                    await sub.get(10.0)
                    received += 1
            kinds = Counter(c.kind.value for c in coach.cues_)
            technique = [c.created_s for c in coach.cues_ if c.kind.value != "reinforce"]
            rows.append((profile, len(strides), kinds, min(technique, default=None), received))
    return rows


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(n: int, interval_s: float) -> int:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        cases = [("mosquitto", "5"), ("mosquitto", "3.1.1"), ("amqtt", "3.1.1")]
        if shutil.which("mosquitto") is None:
            print("mosquitto is not installed: embedded broker only")
            cases = cases[2:]
        for kind, protocol in cases:
            async with broker(kind, Path(tmp)) as (host, port):
                delays = await latency(host, port, protocol, n, interval_s)
            rows.append(
                (
                    kind,
                    protocol,
                    len(delays),
                    statistics.median(delays),
                    pct(delays, 99),
                    max(delays),
                )
            )
        print(
            f"\ncue latency, publish_cue() -> subscriber, loopback ({n} cues, "
            f"{interval_s * 1000:.0f} ms apart)"
        )
        print(f"{'broker':<10} {'MQTT':<6} {'n':>5} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
        for kind, protocol, count, med, p99, worst in rows:
            print(f"{kind:<10} {protocol:<6} {count:>5} {med:>10.2f} {p99:>8.2f} {worst:>8.2f}")
        if shutil.which("mosquitto") is not None:
            print("\ncoaching over MQTT: simulated profiles (exact truth), default coach settings")
            print(
                f"{'profile':<18} {'min':>4} {'strides':>8} {'cad':>4} {'stride':>6} "
                f"{'softer':>6} {'first cue s':>11} {'received':>8}"
            )
            for profile, n, kinds, first, received in await coaching(Path(tmp)):
                first_s = f"{first:.0f}" if first is not None else "-"
                print(
                    f"{profile:<18} {PROFILES[profile] / 60:>4.0f} {n:>8} {kinds['cadence']:>4} "
                    f"{kinds['stride']:>6} {kinds['softer']:>6} {first_s:>11} {received:>8}"
                )
            o = await outage(Path(tmp))
            print("\nbroker outage of 2 s (metrics at 10 Hz, cues with 1 s and 30 s expiry)")
            for key, value in o.items():
                print(f"  {key:<20} {value:>8.0f}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench mqtt", description=__doc__)
    parser.add_argument("--cues", type=int, default=1000)
    parser.add_argument("--interval-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.cues, args.interval_ms / 1000))
