"""The hub end to end on real parts: edges publishing through the service's publisher to a
real Mosquitto (per-runner accounts, hub ACL), ``gaitcoach ingest`` worker processes on a
shared subscription, a real PostgreSQL; a worker killed with SIGKILL mid-stream and the
database restarted mid-stream; an edge that was offline syncs afterwards. The database must
then hold exactly what the edges' stores hold (row counts and checksums per batch)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from gaitcoach.hub.records import SYNC_BATCH
from tests.hub.edges import EdgeResult, EdgeRun, replay_edges, settings_dict
from tests.hub.harness import (
    HubStack,
    centre_digest,
    count_strides,
    edge_digest,
    make_cues,
    record_session,
    same_rows,
    wait_for,
)
from tests.session import factory

SPEED = 40.0
MINUTES = 6.0


def _sync(stack: HubStack, runner: str, data_dir: Path, tmp: Path) -> dict[str, object]:
    cfg = stack.edge_config(runner, data_dir, tmp / f"{runner}.toml")
    out = subprocess.run(
        [sys.executable, "-m", "gaitcoach.cli", "sync", "--config", str(cfg), "--timeout", "60"],
        capture_output=True,
        text=True,
        env=stack.edge_env(runner),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_live_ingest_survives_a_killed_worker_and_a_database_restart_then_sync_is_exact(
    stack: HubStack, tmp_path: Path
) -> None:
    edges = {}
    for i, runner in enumerate(("alice", "bob", "carol")):
        data_dir = tmp_path / runner
        profile = (factory.EFFICIENT, factory.OVERSTRIDER, factory.FATIGUING)[i]
        strides = factory.strides(profile, MINUTES, seed=i)
        sid = f"run-{runner}-1"
        record_session(data_dir, runner, strides, make_cues(sid, strides[0].ic_s, 4), sid)
        edges[runner] = (data_dir, sid, len(strides))
    assert all(n > 2 * SYNC_BATCH for _, _, n in edges.values())  # several batches per foot

    ingest = stack.ingest(2)
    pids = ingest.worker_pids()
    runs = [
        EdgeRun(r, str(d), sid, settings_dict(stack.edge_settings(r)), 0.1 * k)
        for k, (r, (d, sid, _)) in enumerate(edges.items())
        if r != "carol"  # carol's edge is offline for the whole run
    ]
    faults: list[str] = []
    results: list[EdgeResult] = []
    # The edges run in a thread; the faults come from the main thread (a child started from a
    # short-lived thread would get its parent-death signal when that thread ends).
    edges_thread = threading.Thread(
        target=lambda: results.extend(asyncio.run(replay_edges(runs, SPEED)))
    )
    edges_thread.start()
    time.sleep(2.0)
    os.kill(pids[0], signal.SIGKILL)  # its unacknowledged messages come back to its slot
    faults.append(f"killed worker {pids[0]}")
    time.sleep(2.0)
    stack.pg.restart("fast")  # the workers keep their batches and retry
    faults.append("database restarted")
    edges_thread.join()
    assert faults == [f"killed worker {pids[0]}", "database restarted"]
    assert all(r.flushed and not r.dropped for r in results), results

    # Every stride published live is stored once, after redelivery.
    want = {(r, sid): n for r, (_, sid, n) in edges.items() if r != "carol"}
    assert wait_for(
        lambda: {k: v for k, v in count_strides(stack).items() if k in want} == want, 30.0
    ), (count_strides(stack), want, ingest.log_tail())
    assert ingest.wait_workers(2)  # the killed slot was restarted
    for runner in ("alice", "bob"):
        data_dir, sid, _ = edges[runner]
        centre = centre_digest(stack, runner, sid)
        assert centre.strides == edge_digest(data_dir, runner, sid).strides

    # The offline edge syncs; the others' syncs find the strides there and send none.
    for runner, (data_dir, sid, n) in edges.items():
        result = _sync(stack, runner, data_dir, tmp_path)
        assert result["verified"] == [sid]
        if runner == "carol":
            assert result["strides_sent"] == n
        else:
            assert result["strides_sent"] == 0, result
        assert same_rows(edge_digest(data_dir, runner, sid), centre_digest(stack, runner, sid))
        again = _sync(stack, runner, data_dir, tmp_path)
        assert again["skipped"] == 1 and again["messages_sent"] == 0

    with stack.view() as conn:
        rows = conn.execute(
            "SELECT runner, status, edge_strides, synced_at IS NOT NULL, summary IS NOT NULL "
            "FROM sessions WHERE session_id LIKE 'run-%' ORDER BY runner"
        ).fetchall()
    assert rows == [
        ("alice", "complete", edges["alice"][2], True, True),
        ("bob", "complete", edges["bob"][2], True, True),
        ("carol", "complete", edges["carol"][2], True, False),
    ]
    assert ingest.stop() == 0
    stats = ingest.stats()
    assert sum(s["connects"] for s in stats) >= 3
    assert not any(s["rejected"] for s in stats), stats
