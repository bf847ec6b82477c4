"""Edges replaying recorded sessions faster than real time, through the service's own
publisher (:class:`~gaitcoach.mqtt.publisher.MqttPublisher`, one connection and account per
runner): strides (QoS 1), rolling metrics once per second of run time (QoS 0), cues (QoS 1)
and the summary at the end (retained, QoS 1), in the order and at ``speed`` times the pace
the session recorded them.

The gait engine does not run again here: the sessions were analysed once (simulator
recordings through ``gaitcoach replay``, or generated strides) and the edges republish what
the engine emitted, so the bench measures the hub, not N copies of the engine.

``t_unix_s`` of a stride is its publish time (the publisher's clock offset is set just before
each stride), so the database's ``ingested_at - t_unix_s`` is the edge-publish-to-row lag.

Also a process entry point for the bench: ``python -m tests.hub.edges SPEC.json OUT.json``.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gaitcoach.metrics import RollingMetrics
from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.publisher import MqttPublisher
from gaitcoach.session.store import SessionStore
from gaitcoach.session.summary import summarize
from gaitcoach.types import Cue, StrideRecord


@dataclass(frozen=True, slots=True)
class EdgeRun:
    runner: str
    data_dir: str
    session_id: str
    settings: dict[str, Any]
    """MqttSettings fields (JSON-able for the bench's edge processes)."""
    start_delay_s: float = 0.0


@dataclass(slots=True)
class EdgeResult:
    runner: str
    session_id: str
    strides: int = 0
    published: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    flushed: bool = False
    unacked: int = 0
    """QoS 1 messages not acknowledged by the broker when the edge gave up waiting (never
    reached the hub live; sync uploads them)."""
    wall_s: float = 0.0


async def _replay_one(
    run: EdgeRun, speed: float, stop_at_s: float | None, flush_timeout_s: float = 300.0
) -> EdgeResult:
    with SessionStore(Path(run.data_dir)) as store:
        data = store.load(run.session_id)
    summary = summarize(data).to_json()
    settings = MqttSettings(**run.settings)
    result = EdgeResult(run.runner, run.session_id, len(data.strides))
    events: list[tuple[float, int, str, Any]] = []
    for i, s in enumerate(data.strides):
        events.append((s.end_ic_s, i, "stride", s))
    for i, c in enumerate(data.cues):
        events.append((c.created_s, i, "cue", c))
    if not events:
        return result
    t0 = min(e[0] for e in events)
    t_end = max(e[0] for e in events)
    n = int(t_end - t0)
    events += [(t0 + k + 0.5, k, "metrics", None) for k in range(n)]
    heapq.heapify(events)
    await asyncio.sleep(run.start_delay_s)
    rolling = RollingMetrics()
    async with MqttPublisher(settings, run.runner) as pub:
        await pub.wait_connected(10.0)
        pub.session_id = run.session_id
        wall0 = time.time()
        while events:
            t, _, kind, item = events[0]
            due = wall0 + (t - t0) / speed
            now = time.time()
            if due > now:
                await asyncio.sleep(min(due - now, 0.05))
                continue
            heapq.heappop(events)
            if stop_at_s is not None and now - wall0 > stop_at_s:
                break
            if kind == "stride":
                stride: StrideRecord = item
                rolling.add(stride)
                pub.unix_offset_s = time.time() - stride.end_ic_s
                pub.publish_stride(stride)
            elif kind == "cue":
                cue: Cue = item
                pub.unix_offset_s = time.time() - cue.created_s
                pub.publish_cue(cue)
            else:
                pub.unix_offset_s = time.time() - t
                pub.publish_metrics(rolling.snapshot(t))
        pub.publish_session(summary)
        result.flushed = await pub.flush(flush_timeout_s)
        result.unacked = pub.queued + len(pub._pending)
        result.published = dict(pub.stats.published)
        result.dropped = pub.dropped
        result.wall_s = time.time() - wall0
    return result


async def replay_edges(
    runs: list[EdgeRun], speed: float, stop_at_s: float | None = None
) -> list[EdgeResult]:
    """Replay every run concurrently; each waits its ``start_delay_s`` first."""
    return list(await asyncio.gather(*(_replay_one(r, speed, stop_at_s) for r in runs)))


def settings_dict(s: MqttSettings) -> dict[str, Any]:
    return {k: getattr(s, k) for k in MqttSettings.__dataclass_fields__}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    runs = [EdgeRun(**r) for r in spec["runs"]]
    results = asyncio.run(replay_edges(runs, float(spec["speed"])))
    Path(argv[1]).write_text(json.dumps([asdict(r) for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
