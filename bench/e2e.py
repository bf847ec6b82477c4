"""End-to-end figures of the service (issue 7).

``./run bench e2e [--seconds S] [--pods N ...]``

1. **Latency** on the real stack: virtual pods (real time, 208 Hz) through the virtual BlueZ
   and bleak, the service, Mosquitto, and an MQTT subscriber. For every stride and cue:
   from the arrival of the notification whose samples completed the stride (the service's
   hand-off from the link) to (a) the stride record published and received by a subscriber
   and (b) the cue received by a subscriber; and from the completing sample's own timestamp,
   which adds the pod's batching interval (stated separately).
2. **Capacity**: how many pods one service process keeps up with in real time. No radio
   here, so each pod's notifications are produced in-process (real footpod packets, the
   link's real decoder and time tracker), then the gait engine, the coach and MQTT
   publishing of metrics (1 Hz) per runner; the figure is pod-seconds of data per CPU
   second, and CPU per pod.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from firmware_sim.simulation import Simulation
from gaitcoach.footpod.codec import ImuFormat, encode_imu_packet, samples_per_packet
from gaitcoach.link.tracker import ImuTracker
from gaitcoach.mqtt.mosquitto import MosquittoBroker
from gaitcoach.service.config import load_config
from gaitcoach.service.pipeline import Pipeline
from gaitcoach.types import Foot, ImuChunk


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class _Subscriber:
    """Receipt times (service clock) of strides and cues."""

    def __init__(self, port: int, runner: str, to_service_clock: Any) -> None:
        self.got: dict[str, float] = {}
        self._to = to_service_clock
        self._c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._c.on_connect = lambda c, *_: c.subscribe(
            [(f"gaitcoach/{runner}/stride", 0), (f"gaitcoach/{runner}/cue", 1)]
        )
        self._c.on_message = self._on
        self._c.connect("127.0.0.1", port)
        self._c.loop_start()

    def _on(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        t = self._to(time.monotonic())
        p = json.loads(msg.payload)
        if msg.topic.endswith("/cue"):
            key = f"cue:{p['id']}"
        else:
            key = f"stride:{p['stride']['foot']}:{p['stride']['index']}"
        self.got[key] = t

    def close(self) -> None:
        self._c.loop_stop()
        self._c.disconnect()


def latency(seconds: float) -> None:
    from gaitcoach.demo import demo_config, demo_stack
    from gaitcoach.service.service import Service

    runner = "bench"
    with demo_stack("heel-overstrider", seconds, 1.0, 0.0, runner=runner) as st:
        base = load_config(None)
        cfg = demo_config(base, st.work / "data", st.port, 1.0, runner)
        cfg = dataclasses.replace(
            cfg,
            mqtt=dataclasses.replace(cfg.mqtt, publish_strides=True),
            coach=dataclasses.replace(cfg.coach, warmup_s=20.0, min_interval_any_s=8.0),
        )
        marks: dict[str, tuple[float, float, float]] = {}  # key -> (sample t, arrival, publish)

        class Timed(Service):
            def handle(self, item: Any) -> None:
                self._arrival = self.clock.now()
                self._sample_t = (
                    float(item.t_s[-1]) if isinstance(item, ImuChunk) else self._arrival
                )
                super().handle(item)

            def _emit(self, out: Any) -> None:
                now = self.clock.now()
                for s in out.strides:
                    marks[f"stride:{s.foot.value}:{s.index}"] = (self._sample_t, self._arrival, now)
                for c in out.cues:
                    marks[f"cue:{c.id}"] = (self._sample_t, self._arrival, now)
                super()._emit(out)

            def _cues(self, cues: Any) -> None:
                # Cues decided at a metrics tick (not on a stride): their origin is the tick.
                now = self.clock.now()
                for c in cues:
                    marks.setdefault(f"cue:{c.id}", (now, now, now))
                super()._cues(cues)

        svc = Timed(cfg)
        sub = _Subscriber(st.port, runner, lambda m: m * svc.clock.time_scale)

        async def main() -> None:
            asyncio.get_running_loop().call_later(seconds, svc.stop)
            await svc.run()

        asyncio.run(main())
        time.sleep(0.5)
        sub.close()
    print(f"published {len(marks)} strides and cues, the subscriber received {len(sub.got)}")
    rows = []
    for kind in ("stride", "cue"):
        keys = [k for k in marks if k.startswith(kind) and k in sub.got]
        arr_pub = [1000 * (marks[k][2] - marks[k][1]) for k in keys]
        arr_sub = [1000 * (sub.got[k] - marks[k][1]) for k in keys]
        smp_sub = [1000 * (sub.got[k] - marks[k][0]) for k in keys]
        rows.append((kind, len(keys), arr_pub, arr_sub, smp_sub))
    fmt = ImuFormat(208, 16, 2000)
    batch_ms = 1000 * samples_per_packet(247) / 208.0
    print(
        f"latency, real stack, 208 Hz, {seconds:.0f} s (pod batching: {samples_per_packet(247)} "
        f"samples per notification = {batch_ms:.1f} ms at MTU 247; format {fmt})"
    )
    print(
        f"{'what':<8}{'n':>6}{'arrival->published':>22}{'arrival->subscriber':>22}{'sample->subscriber':>22}"
    )
    print(f"{'':<8}{'':>6}{'median / p99 ms':>22}{'median / p99 ms':>22}{'median / p99 ms':>22}")
    for kind, n, a, b, c in rows:
        print(
            f"{kind:<8}{n:>6}{_pct(a, 50):>12.1f} / {_pct(a, 99):<7.1f}{_pct(b, 50):>12.1f} / "
            f"{_pct(b, 99):<7.1f}{_pct(c, 50):>12.1f} / {_pct(c, 99):<7.1f}"
        )
    print("goal: <= 60 ms p99 beyond the last packet's arrival (arrival->subscriber); cues decided")
    print("at a metrics tick (every service.metrics_interval_s) count from the tick")


def _packets(seconds: float, seed: int) -> dict[Foot, list[bytes]]:
    sim = Simulation("efficient-midfoot", seed=seed, rate_hz=208)
    fmt = ImuFormat(208, 16, 2000)
    per = samples_per_packet(247)
    out: dict[Foot, list[bytes]] = {}
    for foot in (Foot.LEFT, Foot.RIGHT):
        s = sim.pod(foot).read(int(seconds * 208))
        counts = np.hstack([s.acc_counts, s.gyr_counts])
        out[foot] = [
            encode_imu_packet(i, round(float(s.t_sensor_s[j]) * 1e6), fmt, counts[j : j + per])
            for i, j in enumerate(range(0, len(counts), per))
        ]
    return out


def capacity(pod_counts: list[int], seconds: float) -> None:
    print(
        f"\ncapacity: {seconds:.0f} s of data per pod, 208 Hz, one process (decode, time "
        "tracking, gait engine, coach, MQTT metrics at 1 Hz per runner)"
    )
    heads = (("pods", 6), ("cpu s", 10), ("pod-s per cpu-s", 18), ("cpu % per pod", 16))
    print("".join(f"{h:>{w}}" for h, w in heads) + f"{'real-time pods':>16}")
    base = load_config(None)
    packets = _packets(seconds, 1)
    per = samples_per_packet(247)
    dt = per / 208.0
    with MosquittoBroker(Path("/tmp") / f"gaitcoach-bench-{time.time_ns()}") as broker:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        for n_pods in pod_counts:
            runners = max(1, n_pods // 2)
            pipes = [Pipeline(base) for _ in range(runners)]
            trackers = [
                {
                    foot: ImuTracker(foot, settle_s=0.0, settle_batches=1)
                    for foot in (Foot.LEFT, Foot.RIGHT)
                }
                for _ in range(runners)
            ]
            n_packets = len(packets[Foot.LEFT])
            t0 = time.process_time()
            next_metrics = 1.0
            for k in range(n_packets):
                t_host = (k + 1) * dt
                for r in range(runners):
                    for foot in (Foot.LEFT, Foot.RIGHT):
                        for item in trackers[r][foot].push(packets[foot][k], t_host):
                            if isinstance(item, ImuChunk):
                                pipes[r].on_chunk(item)
                            else:
                                pipes[r].on_gap(item)
                if t_host >= next_metrics:
                    next_metrics += 1.0
                    for r in range(runners):
                        pipes[r].tick(t_host)
                        m = pipes[r].metrics(t_host)
                        pub.publish(
                            f"gaitcoach/r{r}/metrics", json.dumps({"cadence_spm": m.cadence_spm})
                        )
            for p in pipes:
                p.finish()
            cpu = time.process_time() - t0
            pods = 2 * runners
            pod_s = pods * seconds
            rate = pod_s / cpu
            print(f"{pods:>6}{cpu:>10.2f}{rate:>18.1f}{100 / rate:>16.3f}{int(rate):>16d}")
        pub.loop_stop()
        pub.disconnect()
    print("goal: >= 200 pods in real time (pod-s per cpu-s >= 200 on one core)")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench e2e")
    ap.add_argument("--seconds", type=float, default=150.0, help="latency run length (real time)")
    ap.add_argument("--data-seconds", type=float, default=60.0, help="capacity: data per pod")
    ap.add_argument("--pods", type=int, nargs="*", default=[2, 20, 60])
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args(argv)
    if not args.skip_latency:
        latency(args.seconds)
    capacity(args.pods, args.data_seconds)
    return 0
