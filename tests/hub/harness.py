"""The hub's real parts for tests and ``./run bench scale``: PostgreSQL (initdb in a temporary
folder, as an unprivileged account when root), Mosquitto with the hub's ACL and two
listeners, ``gaitcoach ingest`` worker processes under their supervisor, and edge stores.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gaitcoach.hub.records import Digest, SessionDigest
from gaitcoach.hub.schema import INGEST_ROLE, VIEW_ROLE, setup
from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.mosquitto import MosquittoBroker
from gaitcoach.proc import die_with_parent, stop_process
from gaitcoach.session.recorder import Recorder
from gaitcoach.session.store import SessionStore
from gaitcoach.types import Cue, CueKind, StrideRecord
from tests.hub.broker import INGEST_USER, hub_broker
from tests.hub.pgserver import PostgresServer

PASSWORD_BYTES = 12


def edge_user(runner: str) -> str:
    return f"gaitcoach-{runner}"


def child_pids(pid: int) -> list[int]:
    """A process's current children, from /proc ([] once it is gone)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class IngestProcess:
    """``gaitcoach ingest --workers N`` (a supervisor and its N worker processes)."""

    proc: subprocess.Popen[bytes]
    stats_dir: Path
    log_path: Path

    def worker_pids(self) -> list[int]:
        """The supervisor's current children (the workers)."""
        return child_pids(self.proc.pid)

    def wait_workers(self, n: int, timeout_s: float = 20.0) -> list[int]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) >= n:
                return pids
            time.sleep(0.05)
        raise RuntimeError(f"ingest workers did not start: {self.log_tail()}")

    def wait_subscribed(self, n: int, timeout_s: float = 30.0) -> None:
        """Until ``n`` live workers said they joined the group (their stats files)."""

        def ready() -> int:
            pids = set(self.worker_pids())
            count = 0
            for p in self.stats_dir.glob("slot-*.json"):
                with contextlib.suppress(OSError, ValueError):
                    d = json.loads(p.read_text())
                    count += bool(d.get("subscribed")) and d.get("pid") in pids
            return count

        deadline = time.monotonic() + timeout_s
        while ready() < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"ingest workers did not subscribe: {self.log_tail()}")
            time.sleep(0.05)

    def stats(self) -> list[dict[str, Any]]:
        """Each worker process's last counters (slot, pid and ``IngestStats``), one file per
        process: a restarted slot has one for each process it had."""
        return [json.loads(p.read_text()) for p in sorted(self.stats_dir.glob("slot-*.json"))]

    def stop(self, timeout_s: float = 90.0) -> int:
        stop_process(self.proc, timeout_s)
        return int(self.proc.returncode)

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""


class HubStack:
    """PostgreSQL + the hub schema and roles + Mosquitto (hub ACL) for ``runners``.

    ``edge_settings(runner)`` are the MQTT settings of a runner's edge (its own account),
    ``ingest(n)`` starts the workers, ``view()`` is a read-only database connection.
    """

    def __init__(
        self,
        directory: Path,
        runners: Sequence[str],
        pg_settings: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.runners = list(runners)
        self.passwords = {edge_user(r): secrets.token_urlsafe(PASSWORD_BYTES) for r in runners}
        self.passwords[INGEST_USER] = secrets.token_urlsafe(PASSWORD_BYTES)
        self.ingest_db_password = secrets.token_urlsafe(PASSWORD_BYTES)
        self.view_db_password = secrets.token_urlsafe(PASSWORD_BYTES)
        self.pg = PostgresServer(pg_settings)
        self.broker: MosquittoBroker = hub_broker(directory / "broker", self.passwords, runners)
        self._ingests: list[IngestProcess] = []

    def start(self) -> HubStack:
        self.pg.start()
        self.pg.create_database()
        setup(self.pg.admin_dsn(), self.ingest_db_password, self.view_db_password)
        self.broker.start()
        return self

    def close(self) -> None:
        for ing in self._ingests:
            with contextlib.suppress(Exception):
                ing.stop(10)
        self.broker.stop()
        self.pg.cleanup()

    def __enter__(self) -> HubStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ingest_port(self) -> int:
        return int(self.broker.ingest_port)  # type: ignore[attr-defined]

    def dsn(self, role: str) -> str:
        """Without the password (that goes in PGPASSWORD, as in production)."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(host=self.pg.host, port=self.pg.port, user=role, dbname="gaitcoach")

    def view(self) -> Any:
        from gaitcoach.hub.db import connect

        return connect(self.pg.dsn(VIEW_ROLE, self.view_db_password), autocommit=True)

    def edge_settings(self, runner: str, **kw: Any) -> MqttSettings:
        base = MqttSettings(
            host=self.broker.host,
            port=self.broker.port,
            username=edge_user(runner),
            password=self.passwords[edge_user(runner)],
            publish_strides=True,
            stride_qos=1,
            queue_max=20000,
            connect_timeout_s=2.0,
        )
        return replace(base, **kw)

    def ingest_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GAITCOACH_MQTT_PASSWORD": self.passwords[INGEST_USER],
            "PGPASSWORD": self.ingest_db_password,
        }

    def ingest(self, workers: int, *extra: str, name: str = "ingest") -> IngestProcess:
        stats = self.directory / f"{name}-stats"
        stats.mkdir(parents=True, exist_ok=True)
        log_path = self.directory / f"{name}.log"
        argv = [
            sys.executable,
            "-m",
            "gaitcoach.cli",
            "ingest",
            "--workers",
            str(workers),
            "--host",
            self.broker.host,
            "--port",
            str(self.ingest_port),
            "--username",
            INGEST_USER,
            "--dsn",
            self.dsn(INGEST_ROLE),
            "--stats-dir",
            str(stats),
            "--stats-interval-s",
            "0.5",
            *extra,
        ]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.ingest_env(),
                preexec_fn=die_with_parent,
            )
        ing = IngestProcess(proc, stats, log_path)
        self._ingests.append(ing)
        ing.wait_workers(workers)
        ing.wait_subscribed(workers)
        return ing

    def edge_config(self, runner: str, data_dir: Path, path: Path) -> Path:
        """A ``gaitcoach.toml`` for a runner's edge (for ``gaitcoach sync``); the password
        goes in GAITCOACH_MQTT_PASSWORD (:meth:`edge_env`)."""
        path.write_text(
            f'[runner]\nid = "{runner}"\n\n[mqtt]\nhost = "{self.broker.host}"\n'
            f'port = {self.broker.port}\nusername = "{edge_user(runner)}"\n'
            f"publish_strides = true\nstride_qos = 1\n\n"
            f'[session]\ndata_dir = "{data_dir}"\n'
        )
        return path

    def edge_env(self, runner: str) -> dict[str, str]:
        return {**os.environ, "GAITCOACH_MQTT_PASSWORD": self.passwords[edge_user(runner)]}


# -- edge stores ---------------------------------------------------------------------------------


def record_session(
    data_dir: Path,
    runner: str,
    strides: Iterable[StrideRecord],
    cues: Iterable[Cue] = (),
    session_id: str | None = None,
    started_utc: datetime | None = None,
) -> str:
    """A complete session in an edge's store, as the service records it (no raw samples)."""
    with Recorder(
        data_dir,
        config={"source": "tests.hub"},
        runner=runner,
        leg_length_m=0.9,
        min_free_bytes=0,
        session_id=session_id,
        started_utc=started_utc or datetime.now(UTC),
    ) as rec:
        for c in cues:
            rec.add_cue(c)
        for s in strides:
            rec.add_stride(s)
        return rec.session_id


def make_cues(session_id: str, t0_s: float, n: int) -> list[Cue]:
    kinds = (CueKind.CADENCE, CueKind.STRIDE, CueKind.SOFTER)
    return [
        Cue(
            id=f"{session_id}-{i + 1:04d}",
            kind=kinds[i % 3],
            text=f"cue {i}: quicker, lighter steps",
            priority=40,
            created_s=t0_s + 60.0 * (i + 1),
            expires_s=t0_s + 60.0 * (i + 1) + 8.0,
            trigger={"cadence_spm": 160.0 + i, "target_spm": 170.0},
            level=i % 2,
            metronome_spm=170.0,
        )
        for i in range(n)
    ]


def edge_digest(data_dir: Path, runner: str, session_id: str) -> SessionDigest:
    """What the edge's store holds of a session, in the centre's terms."""
    from gaitcoach.hub.sync import LocalSession

    with SessionStore(data_dir) as store:
        local = LocalSession.of(store.load(session_id))
    return SessionDigest(
        known=True,
        status=local.data.info.status.value,
        synced=True,
        strides=dict(local.stride_digests),
        cues=local.cue_digest,
    )


def centre_digest(stack: HubStack, runner: str, session_id: str) -> SessionDigest:
    from gaitcoach.hub.db import session_digest

    with stack.view() as conn:
        return session_digest(conn, runner, session_id)


def same_rows(edge: SessionDigest, centre: SessionDigest) -> bool:
    return edge.strides == centre.strides and edge.cues == centre.cues


def count_strides(stack: HubStack) -> dict[tuple[str, str], int]:
    with stack.view() as conn:
        rows = conn.execute(
            "SELECT runner, session_id, count(*) FROM strides GROUP BY 1, 2"
        ).fetchall()
    return {(r, s): int(n) for r, s, n in rows}


def wait_for(pred: Any, timeout_s: float, every_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every_s)
    return bool(pred())


__all__ = [
    "Digest",
    "HubStack",
    "IngestProcess",
    "centre_digest",
    "child_pids",
    "count_strides",
    "edge_digest",
    "edge_user",
    "make_cues",
    "record_session",
    "same_rows",
    "wait_for",
]


@contextlib.contextmanager
def hub_stack(directory: Path, runners: Sequence[str], **kw: Any) -> Iterator[HubStack]:
    stack = HubStack(directory, runners, **kw)
    try:
        yield stack.start()
    finally:
        stack.close()
