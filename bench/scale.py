"""The team hub under load and faults: ``./run bench scale [--quick] [options]``.

Real parts on this machine: PostgreSQL (initdb, fsync on), Mosquitto (hub ACL, a persistent
session per ingest worker), ``gaitcoach ingest --workers N`` (a supervisor and N worker
processes), and edge processes replaying sessions through the service's publisher, one MQTT
connection and account per simulated runner, faster than real time.

The sessions: simulator recordings (``firmware_sim``) run once through the gait engine
(``gaitcoach replay``) into template stores (cached in ``bench/results/scale-templates``), then
copied per simulated runner under its own runner and session id.

Tables:

1. throughput: workers x runners: offered and ingested strides/s, lag from edge publish to row
   written (median, p99), CPU per worker, broker, PostgreSQL and edges (% of one core), and
   every stride counted (lost, duplicated);
2. faults: kill -9 of a worker, broker restart, PostgreSQL restart, an edge offline for the
   whole run: strides lost live (before sync), redeliveries absorbed, and after ``gaitcoach
   sync`` of every edge, sessions whose rows and checksums equal the edge's store;
3. per-runner rates measured here, for the sizing in docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gaitcoach.hub.records import SessionDigest
from gaitcoach.hub.sync import Syncer
from gaitcoach.proc import die_with_parent
from gaitcoach.session.store import DB_NAME, SessionStore
from tests.hub.edges import EdgeRun, settings_dict
from tests.hub.harness import (
    HubStack,
    IngestProcess,
    centre_digest,
    child_pids,
    edge_digest,
    same_rows,
)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "bench" / "results" / "scale-templates"
PROFILES = ("efficient-midfoot", "heel-overstrider", "fatiguing", "asymmetric")
TICKS = os.sysconf("SC_CLK_TCK")


# -- templates and edge stores ----------------------------------------------------------------


def templates(minutes: float) -> list[Path]:
    """One store per profile holding one session analysed by the gait engine (cached)."""
    from firmware_sim.recording import record
    from gaitcoach.coach import RunnerProfile
    from gaitcoach.service.config import ServiceConfig
    from gaitcoach.session.replay import import_recording

    out = []
    for k, profile in enumerate(PROFILES):
        d = TEMPLATES / f"{profile}-{minutes:g}min"
        if not (d / DB_NAME).exists():
            shutil.rmtree(d, ignore_errors=True)
            t0 = time.perf_counter()
            rec_dir = Path(tempfile.mkdtemp(prefix="scale-rec-"))
            record(profile, minutes, seed=k).save(rec_dir)
            template_cfg = ServiceConfig(runner=RunnerProfile(id="template"))
            import_recording(rec_dir, d, config=template_cfg)
            shutil.rmtree(rec_dir, ignore_errors=True)
            print(f"  template {profile}: {time.perf_counter() - t0:.0f} s", flush=True)
        out.append(d)
    return out


def clone_store(template: Path, data_dir: Path, runner: str, session_id: str) -> int:
    """The template's session under a new runner and id, without raw samples; strides."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with SessionStore(data_dir):
        pass
    from gaitcoach.session.store import connect

    conn = connect(data_dir / DB_NAME)
    conn.execute("ATTACH DATABASE ? AS t", (str(template / DB_NAME),))
    (old,) = conn.execute("SELECT id FROM t.sessions").fetchone()
    conn.execute(
        "INSERT INTO sessions SELECT ?, ?, started_utc, status, ended_utc, NULL, host, "
        "heartbeat_wall_s, config_json, leg_length_m, first_t_s, last_t_s FROM t.sessions",
        (session_id, runner),
    )
    for table in ("strides", "cues", "commands", "events", "discomfort", "gaps"):
        cols = [r[1] for r in conn.execute(f"PRAGMA t.table_info({table})")][1:]
        conn.execute(
            f"INSERT INTO {table} SELECT ?, {', '.join(cols)} FROM t.{table} WHERE session_id = ?",
            (session_id, old),
        )
    conn.commit()
    (n,) = conn.execute("SELECT count(*) FROM strides").fetchone()
    conn.execute("DETACH DATABASE t")
    conn.close()
    return int(n)


@dataclass
class Fleet:
    runners: list[str]
    stores: dict[str, tuple[Path, str, int]]
    """runner -> (data dir, session id, strides)."""


def make_fleet(base: Path, n: int, tmpl: list[Path], tag: str) -> Fleet:
    runners = [f"r{i:04d}" for i in range(n)]
    stores = {}
    for i, r in enumerate(runners):
        sid = f"{tag}-{r}"
        d = base / tag / r
        stores[r] = (d, sid, clone_store(tmpl[i % len(tmpl)], d, r, sid))
    return Fleet(runners, stores)


def prepare(base: Path, n: int, tmpl: list[Path], tag: str) -> tuple[Fleet, Path]:
    """The edges' stores of one run and its working folder."""
    work = base / "work" / tag
    work.mkdir(parents=True)
    return make_fleet(base / "edges", n, tmpl, tag), work


# -- process CPU -------------------------------------------------------------------------------


def own_cpu_s(pid: int) -> float:
    """utime + stime of the process only (no children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


class CpuMeter:
    """CPU seconds used by named process groups between start() and stop()."""

    def __init__(self, groups: dict[str, Any]) -> None:
        self.groups = groups  # name -> callable returning pids
        self.seen: dict[int, float] = {}
        self.first: dict[int, float] = {}
        self._owner: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _sample(self) -> None:
        for name, pids_of in self.groups.items():
            for pid in pids_of():
                c = own_cpu_s(pid)
                if c <= 0:
                    continue
                self.first.setdefault(pid, c)
                self.seen[pid] = c
                self._owner[pid] = name

    def start(self) -> None:
        self._sample()
        self.t0 = time.monotonic()
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample()
        out: dict[str, float] = {}
        for pid, name in self._owner.items():
            out[name] = out.get(name, 0.0) + self.seen[pid] - self.first[pid]
        self.wall_s = time.monotonic() - self.t0
        return out


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Run:
    workers: int
    runners: int
    speed: float
    offered_sps: float = 0.0
    ingested_sps: float = 0.0
    lag_p50_ms: float = math.nan
    lag_p99_ms: float = math.nan
    cpu_pct: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_1k: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per 1000 strides stored, by component (independent of wall time)."""
    lost: int = 0
    duplicated: int = 0
    redelivered: int = 0
    unacked: int = 0
    """Messages the edges gave up on (not acknowledged by the broker in 300 s)."""
    expected: int = 0
    stored: int = 0
    messages_per_s: float = 0.0
    notes: str = ""


def start_edges(
    stack: HubStack, fleet: Fleet, runners: list[str], speed: float, work: Path, procs: int
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    out = []
    per = math.ceil(len(runners) / procs)
    for p in range(procs):
        part = runners[p * per : (p + 1) * per]
        if not part:
            continue
        spec = work / f"edges-{p}.json"
        result = work / f"edges-{p}-out.json"
        runs = [
            EdgeRun(
                r,
                str(fleet.stores[r][0]),
                fleet.stores[r][1],
                settings_dict(stack.edge_settings(r)),
                start_delay_s=2.0 * i / max(len(part), 1),
            )
            for i, r in enumerate(part)
        ]
        spec.write_text(
            json.dumps({"speed": speed, "runs": [asdict(r) for r in runs]}, default=str)
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hub.edges", str(spec), str(result)],
            cwd=ROOT,
            preexec_fn=die_with_parent,
        )
        out.append((proc, result))
    return out


def db_counts(stack: HubStack, tag: str) -> tuple[int, int]:
    with stack.view() as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT (runner, session_id, foot, idx)) FROM strides "
            "WHERE session_id LIKE %s",
            (tag + "-%",),
        ).fetchone()
    return int(row[0]), int(row[1])


def wait_stored(stack: HubStack, tag: str, expected: int, stall_s: float = 15.0) -> int:
    last, since = -1, time.monotonic()
    while True:
        n, _ = db_counts(stack, tag)
        if n >= expected:
            return n
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > stall_s:
            return n
        time.sleep(1.0)


def truncate(stack: HubStack) -> None:
    """Empty the tables between runs (administrator): each run counts only its own rows."""
    import psycopg

    with psycopg.connect(stack.pg.admin_dsn(), autocommit=True) as conn:
        conn.execute("TRUNCATE hub.strides, hub.cues, hub.sessions, hub.runners")
        conn.execute("VACUUM ANALYZE")


def lag_and_rate(stack: HubStack, tag: str) -> tuple[float, float, float]:
    with stack.view() as conn:
        row = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), "
            "percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), "
            "count(*) / GREATEST(extract(epoch FROM max(ingested_at) - min(ingested_at)), 1e-3) "
            "FROM (SELECT extract(epoch FROM ingested_at) - t_unix_s AS lag, ingested_at "
            "FROM strides WHERE session_id LIKE %s AND t_unix_s IS NOT NULL) x",
            (tag + "-%",),
        ).fetchone()
    return 1000 * float(row[0] or math.nan), 1000 * float(row[1] or math.nan), float(row[2] or 0)


def worker_stats(ing: IngestProcess) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in ing.stats():
        for k in ("strides_live", "strides_inserted_live", "duplicates"):
            out[k] = out.get(k, 0) + int(d[k])
        for k, v in d["rejected"].items():
            out["rejected_" + k] = out.get("rejected_" + k, 0) + int(v)
    return out


def run_once(
    stack: HubStack,
    fleet: Fleet,
    tag: str,
    workers: int,
    speed: float,
    work: Path,
    fault: str | None = None,
    offline: set[str] | None = None,
    drain: bool = False,
) -> Run:
    """One run; with ``drain`` the workers are stopped (SIGSTOP) while the edges publish and
    continued afterwards: the backlog, waiting in their broker sessions, is drained as fast
    as the hub can (no edge competes for the CPU then)."""
    offline = offline or set()
    live = [r for r in fleet.runners if r not in offline]
    run = Run(workers, len(fleet.runners), speed)
    run.expected = sum(fleet.stores[r][2] for r in live)
    ing = stack.ingest(workers, name=f"ingest-{tag}")
    meter = CpuMeter(
        {
            "workers": lambda: ing.worker_pids(),
            "broker": lambda: [stack.broker._proc.pid] if stack.broker._proc else [],
            "postgres": lambda: (
                [stack.pg._proc.pid, *child_pids(stack.pg._proc.pid)] if stack.pg._proc else []
            ),
            "edges": lambda: [p.pid for p, _ in edges],
        }
    )
    edges: list[tuple[subprocess.Popen[bytes], Path]] = []
    paused = ing.worker_pids() if drain else []
    for pid in paused:
        os.kill(pid, signal.SIGSTOP)
    if not drain:
        meter.start()
    t0 = time.monotonic()
    procs = max(1, min(4, math.ceil(len(live) / 100)))
    edges = start_edges(stack, fleet, live, speed, work, procs)
    if fault is not None:
        time.sleep(6.0)
        if fault == "kill -9 worker":
            victim = ing.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            run.notes = f"killed pid {victim}"
        elif fault == "broker restart":
            stack.broker.stop()
            stack.broker.start()
        elif fault == "PostgreSQL restart":
            stack.pg.restart("fast")
    for proc, _ in edges:
        proc.wait()
    edge_wall = time.monotonic() - t0
    results = [r for _, path in edges for r in json.loads(path.read_text())]
    published = sum(r["published"].get("stride", 0) for r in results)
    t_cont = time.time()
    if drain:
        meter.start()
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
    run.stored = wait_stored(stack, tag, run.expected)
    cpu = meter.stop()
    wall = meter.wall_s
    run.cpu_pct = {k: 100 * v / wall for k, v in cpu.items()}
    run.cpu_pct["per worker"] = run.cpu_pct.get("workers", 0.0) / workers
    run.cpu_ms_per_1k = {k: 1e6 * v / max(run.stored, 1) for k, v in cpu.items()}
    n, distinct = db_counts(stack, tag)
    run.lost = run.expected - distinct
    run.duplicated = n - distinct
    run.lag_p50_ms, run.lag_p99_ms, run.ingested_sps = lag_and_rate(stack, tag)
    if drain:
        with stack.view() as conn:
            (last,) = conn.execute(
                "SELECT extract(epoch FROM max(ingested_at)) FROM strides WHERE session_id LIKE %s",
                (tag + "-%",),
            ).fetchone()
        run.ingested_sps = distinct / max(float(last) - t_cont, 1e-3)
        run.lag_p50_ms = run.lag_p99_ms = math.nan
    # What the edges managed to publish per second of their replay (on 2 cores they compete
    # with the hub for CPU, so this is the offered load as it was, not as planned).
    replay_s = max((r["wall_s"] for r in results), default=edge_wall)
    run.offered_sps = published / max(replay_s, 1e-3)
    msgs = sum(sum(r["published"].values()) for r in results)
    run.messages_per_s = msgs / max(replay_s, 1e-3)
    ing.stop()
    ws = worker_stats(ing)
    run.redelivered = ws.get("duplicates", 0)
    run.unacked = sum(int(r.get("unacked", 0)) for r in results)
    dropped = sum(sum(r["dropped"].values()) for r in results)
    if dropped:
        run.notes += f" edge drops {dropped}"
    return run


def sync_all(stack: HubStack, fleet: Fleet, workers: int, tag: str) -> tuple[int, int, float]:
    """Every edge syncs (8 at a time); then each session's rows and checksums are compared
    with the edge's store. Returns (sessions equal, sessions, seconds)."""
    ing = stack.ingest(workers, name=f"sync-{tag}")
    t0 = time.monotonic()

    def one(r: str) -> bool:
        d, sid, _ = fleet.stores[r]
        res = Syncer(stack.edge_settings(r), r, d, timeout_s=120).run()
        if res.failed:
            print(f"  sync {r}: {res.failed}", flush=True)
        return sid in res.verified

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, fleet.runners))
    took = time.monotonic() - t0
    ing.stop()
    equal = 0
    for r in fleet.runners:
        d, sid, _ = fleet.stores[r]
        e: SessionDigest = edge_digest(d, r, sid)
        if same_rows(e, centre_digest(stack, r, sid)):
            equal += 1
    return equal, len(fleet.runners), took


# -- tables -------------------------------------------------------------------------------------


def _n(v: float, d: int = 0) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{d}f}"


def print_throughput(runs: list[Run]) -> None:
    print(
        "\n| workers | runners | speed | offered strides/s | ingested strides/s | msgs/s in "
        "| lag p50 ms | lag p99 ms | CPU/worker % | broker % | PostgreSQL % | edges % "
        "| lost | dup | duplicates absorbed | edge unacked |"
    )
    print("|---:" * 16 + "|")
    for r in runs:
        c = r.cpu_pct
        print(
            f"| {r.workers} | {r.runners} | {r.speed:g}x | {_n(r.offered_sps)} "
            f"| {_n(r.ingested_sps)} | {_n(r.messages_per_s)} | {_n(r.lag_p50_ms)} "
            f"| {_n(r.lag_p99_ms)} | {_n(c.get('per worker', 0))} | {_n(c.get('broker', 0))} "
            f"| {_n(c.get('postgres', 0))} | {_n(c.get('edges', 0))} | {r.lost} "
            f"| {r.duplicated} | {r.redelivered} | {r.unacked} |",
            flush=True,
        )


def print_drain(runs: list[Run]) -> None:
    print(
        "\n| workers | backlog strides | drained strides/s | CPU ms per 1000 strides: workers "
        "| broker | PostgreSQL | lost | dup |"
    )
    print("|---:" * 8 + "|")
    for r in runs:
        c = r.cpu_ms_per_1k
        print(
            f"| {r.workers} | {r.expected:,} | {_n(r.ingested_sps)} | {_n(c.get('workers', 0))} "
            f"| {_n(c.get('broker', 0))} | {_n(c.get('postgres', 0))} | {r.lost} "
            f"| {r.duplicated} |",
            flush=True,
        )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="./run bench scale")
    ap.add_argument("--quick", action="store_true", help="small: 1-2 workers, 20-50 runners")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--runners", default="50,200,500")
    ap.add_argument("--speed", type=float, default=10.0, help="x real time (default 10)")
    ap.add_argument("--minutes", type=float, default=6.0, help="session length (default 6)")
    ap.add_argument("--no-faults", action="store_true")
    ap.add_argument("--fault-runners", type=int, default=100)
    ap.add_argument("--drain-runners", type=int, default=200)
    args = ap.parse_args(argv)
    if args.quick:
        args.workers, args.runners, args.fault_runners = "1,2", "20,50", 20
        args.drain_runners = 30
        args.minutes = min(args.minutes, 3.0)
    workers = [int(x) for x in args.workers.split(",")]
    sizes = [int(x) for x in args.runners.split(",")]
    print(
        f"# bench scale: {os.cpu_count()} cores; sessions of {args.minutes:g} min "
        f"at {args.speed:g}x real time",
        flush=True,
    )
    tmpl = templates(args.minutes)
    base = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    n_max = max([*sizes, args.fault_runners, args.drain_runners])
    all_runners = [f"r{i:04d}" for i in range(n_max)]
    stack = HubStack(base / "stack", all_runners)
    stack.start()
    runs: list[Run] = []
    drains: list[Run] = []
    faults: list[tuple[str, Run, tuple[int, int, float]]] = []
    rates: dict[str, float] = {}
    try:
        for size in sizes:
            for w in workers:
                tag = f"t{size}w{w}"
                fleet, work = prepare(base, size, tmpl, tag)
                runs.append(run_once(stack, fleet, tag, w, args.speed, work))
                print_throughput(runs[-1:])
                if (size, w) != (sizes[-1], workers[-1]):
                    truncate(stack)
        # Per-runner rates (real time) from the templates, for docs/scale.md.
        with stack.view() as conn:
            row = conn.execute(
                "SELECT avg(pg_column_size(s.*)) FROM strides s LIMIT 10000"
            ).fetchone()
            size_row = conn.execute(
                "SELECT pg_total_relation_size('hub.strides'), count(*) FROM strides"
            ).fetchone()
        per_runner = []
        for t in tmpl:
            with SessionStore(t) as store:
                info = store.list_sessions()[0]
                per_runner.append(info.n_strides / max(info.duration_s, 1.0))
        rates = {
            "strides_per_runner_s": sum(per_runner) / len(per_runner),
            "stride_row_bytes": float(row[0]),
            "stride_bytes_on_disk": size_row[0] / max(size_row[1], 1),
            "stride_payload_bytes": stride_payload_bytes(tmpl[0]),
            "metrics_payload_bytes": metrics_payload_bytes(tmpl[0]),
            # From the smallest run: the largest ones are limited by the simulated edges.
            "messages_per_runner_s": runs[0].messages_per_s / (runs[0].runners * args.speed),
        }
        truncate(stack)
        print("\n## Throughput (every stride published live is counted in the database)")
        print_throughput(runs)
        for w in workers:
            tag = f"d{w}"
            fleet, work = prepare(base, args.drain_runners, tmpl, tag)
            drains.append(run_once(stack, fleet, tag, w, args.speed, work, drain=True))
            print_drain(drains[-1:])
            truncate(stack)
        print("\n## Capacity: a backlog drained by N workers (no edge running meanwhile)")
        print_drain(drains)
        if not args.no_faults:
            w = max(workers)
            for fault in ("kill -9 worker", "broker restart", "PostgreSQL restart", "edge offline"):
                tag = "f" + "".join(ch for ch in fault if ch.isalnum())[:10]
                fleet, work = prepare(base, args.fault_runners, tmpl, tag)
                offline = {fleet.runners[0]} if fault == "edge offline" else set()
                r = run_once(
                    stack,
                    fleet,
                    tag,
                    w,
                    args.speed,
                    work,
                    None if fault == "edge offline" else fault,
                    offline,
                )
                synced = sync_all(stack, fleet, w, tag)
                faults.append((fault, r, synced))
                truncate(stack)
                print(
                    f"  {fault}: live lost {r.lost}, after sync {synced[0]}/{synced[1]} "
                    f"sessions exact",
                    flush=True,
                )
            print(
                "\n## Faults\n\n| fault | workers | runners | strides | lost live | dup "
                "| redelivered | after sync: sessions exact | sync s |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for fault, r, (eq, total, took) in faults:
                print(
                    f"| {fault} | {r.workers} | {r.runners} | {r.expected:,} | {r.lost} "
                    f"| {r.duplicated} | {r.redelivered} | {eq}/{total} | {took:.0f} |"
                )
    finally:
        stack.close()
        shutil.rmtree(base, ignore_errors=True)
    print("\n## Per-runner rates measured (real time)\n")
    for k, v in rates.items():
        print(f"- {k}: {v:.2f}")
    bad = [r for r in runs + drains if r.lost or r.duplicated] + [
        r for _, r, (eq, total, _) in faults if eq != total or r.duplicated
    ]
    return 1 if bad else 0


def metrics_payload_bytes(template: Path) -> float:
    from gaitcoach.metrics import RollingMetrics
    from gaitcoach.mqtt.payloads import MetricsPayload, encode

    with SessionStore(template) as store:
        data = store.load("latest")
    rolling = RollingMetrics()
    sizes = []
    for s in data.strides[:600]:
        rolling.add(s)
        sizes.append(len(encode(MetricsPayload.from_metrics(rolling.snapshot(s.end_ic_s), "r0"))))
    return sum(sizes) / len(sizes)


def stride_payload_bytes(template: Path) -> float:
    from gaitcoach.mqtt.payloads import StridePayload, encode

    with SessionStore(template) as store:
        data = store.load("latest")
    sizes = [
        len(encode(StridePayload.from_stride(s, "r0000", 1.7e9, data.info.id)))
        for s in data.strides[:500]
    ]
    return sum(sizes) / len(sizes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
