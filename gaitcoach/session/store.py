"""The session store: one SQLite database in WAL mode under the data directory.

Sessions, strides, cues, commands, link events, discomfort reports, gaps and raw IMU chunks
(compact lossless blobs, see :mod:`gaitcoach.session.codec`) live in one file,
``<data_dir>/sessions.sqlite``, so one crash-safety mechanism (SQLite's write-ahead log)
covers everything. Layout, versioning and the durability policy: docs/sessions.md.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from gaitcoach.session.codec import (
    PARTS_DTYPE,
    CodecError,
    EncodedBlock,
    decode_samples,
    decode_times,
    unpack_blocks,
    unpack_parts,
)
from gaitcoach.types import (
    Activity,
    Cue,
    CueKind,
    DiscomfortReport,
    Foot,
    Gap,
    ImuChunk,
    LinkEvent,
    LinkState,
    StrideRecord,
    StrikePattern,
)

FORMAT_VERSION = 1
"""Version of the store layout; a reader refuses files from a newer version."""
DB_NAME = "sessions.sqlite"
STALE_HEARTBEAT_S = 10.0
"""A session still marked ``recording`` whose writer has been silent this long was cut off."""


class SessionError(Exception):
    """A session problem shown to the user as one line (unknown session, corrupt file, ...)."""


class StorageError(SessionError):
    """The data directory cannot take a recording (read-only, full, not a directory)."""


class FormatVersionError(SessionError):
    """The store was written by a newer gaitcoach."""


class SessionStatus(StrEnum):
    RECORDING = "recording"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Command:
    """A command the service received during the run (e.g. from the app over MQTT)."""

    t_s: float
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    runner: str
    started_utc: str
    status: SessionStatus
    """Effective status: ``recording`` sessions whose writer is gone read as ``interrupted``."""
    ended_utc: str | None
    first_t_s: float | None
    last_t_s: float | None
    n_strides: int
    leg_length_m: float | None

    @property
    def duration_s(self) -> float:
        if self.first_t_s is None or self.last_t_s is None:
            return 0.0
        return self.last_t_s - self.first_t_s


@dataclass(frozen=True, slots=True)
class SessionData:
    """Everything recorded for one session except the raw samples (see ``iter_raw``)."""

    info: SessionInfo
    config: dict[str, Any]
    strides: list[StrideRecord]
    cues: list[Cue]
    commands: list[Command]
    events: list[LinkEvent]
    discomfort: list[DiscomfortReport]
    gaps: list[Gap]


STRIDE_COLUMNS = (
    "foot",
    "idx",
    "ic_s",
    "to_s",
    "end_ic_s",
    "contact_time_s",
    "swing_time_s",
    "stride_time_s",
    "cadence_spm",
    "activity",
    "flight_time_s",
    "step_time_s",
    "stride_length_m",
    "speed_mps",
    "clearance_m",
    "foot_strike_angle_deg",
    "strike_pattern",
    "peak_impact_g",
    "loading_rate_gps",
    "overstride_m",
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, runner TEXT NOT NULL, started_utc TEXT NOT NULL,
    status TEXT NOT NULL, ended_utc TEXT, pid INTEGER, host TEXT,
    heartbeat_wall_s REAL, config_json TEXT NOT NULL, leg_length_m REAL,
    first_t_s REAL, last_t_s REAL);
CREATE TABLE IF NOT EXISTS chunks (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, foot TEXT NOT NULL,
    t_first_s REAL NOT NULL, t_last_s REAL NOT NULL, n INTEGER NOT NULL,
    acc_enc TEXT NOT NULL, acc_scale REAL NOT NULL, gyr_enc TEXT NOT NULL,
    gyr_scale REAL NOT NULL, parts BLOB NOT NULL, payload BLOB NOT NULL,
    PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS gaps (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, foot TEXT NOT NULL, start_s REAL NOT NULL,
    end_s REAL NOT NULL, lost_samples INTEGER NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS strides (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, {", ".join(STRIDE_COLUMNS)},
    PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS cues (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL,
    text TEXT NOT NULL, priority INTEGER NOT NULL, created_s REAL NOT NULL,
    expires_s REAL NOT NULL, trigger_json TEXT NOT NULL, level INTEGER NOT NULL,
    metronome_spm REAL, PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS commands (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, t_s REAL NOT NULL, name TEXT NOT NULL,
    args_json TEXT NOT NULL, PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, t_s REAL NOT NULL, foot TEXT NOT NULL,
    address TEXT NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL, rssi_dbm INTEGER,
    battery_pct INTEGER, PRIMARY KEY (session_id, seq));
CREATE TABLE IF NOT EXISTS discomfort (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, t_s REAL NOT NULL, body_part TEXT NOT NULL,
    score INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (session_id, seq));
"""


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the store with the durability settings of docs/sessions.md; check its version."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise SessionError(f"session store {path} is corrupt or not a database ({exc})") from exc
    if version > FORMAT_VERSION:
        conn.close()
        raise FormatVersionError(
            f"session store {path} has format version {version}, newer than the supported "
            f"{FORMAT_VERSION}: upgrade gaitcoach to read it"
        )
    if not readonly:
        try:
            # WAL: readers never block the writer; synchronous=NORMAL makes every commit
            # survive a process crash (kill -9) without an fsync per commit.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if version == 0:
                conn.executescript(SCHEMA)
                conn.execute(f"PRAGMA user_version={FORMAT_VERSION}")
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('format_version', ?)",
                    (str(FORMAT_VERSION),),
                )
                conn.commit()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SessionError(f"session store {path} is corrupt or unwritable ({exc})") from exc
    return conn


def check_storage(data_dir: Path, min_free_bytes: int) -> None:
    """Fail early with one clear line when ``data_dir`` cannot take a recording."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"data directory {data_dir} cannot be created: {exc}") from exc
    if not data_dir.is_dir():
        raise StorageError(f"data directory {data_dir} is not a directory")
    probe = data_dir / f".write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"x")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        raise StorageError(f"data directory {data_dir} is not writable: {exc}") from exc
    free = shutil.disk_usage(data_dir).free
    if free < min_free_bytes:
        raise StorageError(
            f"data directory {data_dir} has {free / 1e6:.0f} MB free, "
            f"need at least {min_free_bytes / 1e6:.0f} MB to record"
        )


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(
    status: str, pid: int | None, host: str | None, heartbeat_wall_s: float | None
) -> SessionStatus:
    st = SessionStatus(status)
    if st is not SessionStatus.RECORDING:
        return st
    same_host = host == os.uname().nodename
    stale = heartbeat_wall_s is None or time.time() - heartbeat_wall_s > STALE_HEARTBEAT_S
    if stale or (same_host and not _pid_alive(pid)):
        return SessionStatus.INTERRUPTED
    return st


def _opt(v: Any, kind: type) -> Any:
    return None if v is None else kind(v)


def stride_from_row(row: sqlite3.Row | tuple[Any, ...]) -> StrideRecord:
    d = dict(zip(STRIDE_COLUMNS, row, strict=True))
    return StrideRecord(
        foot=Foot(d["foot"]),
        index=int(d["idx"]),
        ic_s=d["ic_s"],
        to_s=d["to_s"],
        end_ic_s=d["end_ic_s"],
        contact_time_s=d["contact_time_s"],
        swing_time_s=d["swing_time_s"],
        stride_time_s=d["stride_time_s"],
        cadence_spm=d["cadence_spm"],
        activity=Activity(d["activity"]),
        flight_time_s=d["flight_time_s"],
        step_time_s=d["step_time_s"],
        stride_length_m=d["stride_length_m"],
        speed_mps=d["speed_mps"],
        clearance_m=d["clearance_m"],
        foot_strike_angle_deg=d["foot_strike_angle_deg"],
        strike_pattern=_opt(d["strike_pattern"], StrikePattern),
        peak_impact_g=d["peak_impact_g"],
        loading_rate_gps=d["loading_rate_gps"],
        overstride_m=d["overstride_m"],
    )


def stride_to_row(s: StrideRecord) -> tuple[Any, ...]:
    return (
        s.foot.value,
        s.index,
        s.ic_s,
        s.to_s,
        s.end_ic_s,
        s.contact_time_s,
        s.swing_time_s,
        s.stride_time_s,
        s.cadence_spm,
        s.activity.value,
        s.flight_time_s,
        s.step_time_s,
        s.stride_length_m,
        s.speed_mps,
        s.clearance_m,
        s.foot_strike_angle_deg,
        None if s.strike_pattern is None else s.strike_pattern.value,
        s.peak_impact_g,
        s.loading_rate_gps,
        s.overstride_m,
    )


class SessionStore:
    """Read access to the sessions under a data directory (and the path the recorder uses).

    Parameters
    ----------
    data_dir
        Directory holding ``sessions.sqlite``.
    """

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.path.exists():
                raise SessionError(f"no sessions recorded yet: {self.path} does not exist")
            self._conn = connect(self.path, readonly=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._db().execute(sql, args).fetchall())
        except sqlite3.DatabaseError as exc:
            raise SessionError(f"session store {self.path} is corrupt ({exc})") from exc

    def list_sessions(self, runner: str | None = None) -> list[SessionInfo]:
        """All sessions, oldest first."""
        if not self.path.exists():
            return []
        sql = (
            "SELECT s.id, s.runner, s.started_utc, s.status, s.ended_utc, s.pid, s.host, "
            "s.heartbeat_wall_s, s.first_t_s, s.last_t_s, s.leg_length_m, "
            "(SELECT COUNT(*) FROM strides t WHERE t.session_id = s.id) FROM sessions s"
        )
        args: tuple[Any, ...] = ()
        if runner is not None:
            sql += " WHERE s.runner = ?"
            args = (runner,)
        sql += " ORDER BY s.started_utc, s.id"
        out = []
        for r in self._query(sql, args):
            out.append(
                SessionInfo(
                    id=r[0],
                    runner=r[1],
                    started_utc=r[2],
                    status=effective_status(r[3], r[5], r[6], r[7]),
                    ended_utc=r[4],
                    first_t_s=r[8],
                    last_t_s=r[9],
                    n_strides=int(r[11]),
                    leg_length_m=r[10],
                )
            )
        return out

    def resolve(self, ref: str) -> SessionInfo:
        """A session by id, unique id prefix, or ``latest``."""
        sessions = self.list_sessions()
        if not sessions:
            raise SessionError(f"unknown session '{ref}': no sessions recorded in {self.data_dir}")
        if ref == "latest":
            return sessions[-1]
        exact = [s for s in sessions if s.id == ref]
        if exact:
            return exact[0]
        matches = [s for s in sessions if s.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise SessionError(f"session '{ref}' is ambiguous ({len(matches)} sessions match)")
        raise SessionError(f"unknown session '{ref}' (see 'gaitcoach sessions')")

    def load(self, ref: str) -> SessionData:
        return self.load_info(self.resolve(ref))

    def load_info(self, info: SessionInfo) -> SessionData:
        """A session from a SessionInfo already at hand (skips ``resolve``'s full scan)."""
        sid = info.id
        (config_json,) = self._query("SELECT config_json FROM sessions WHERE id = ?", (sid,))[0]
        strides = [
            stride_from_row(r)
            for r in self._query(
                f"SELECT {', '.join(STRIDE_COLUMNS)} FROM strides WHERE session_id = ? "
                "ORDER BY seq",
                (sid,),
            )
        ]
        cues = [
            Cue(
                id=r[0],
                kind=CueKind(r[1]),
                text=r[2],
                priority=int(r[3]),
                created_s=r[4],
                expires_s=r[5],
                trigger={k: float(v) for k, v in json.loads(r[6]).items()},
                level=int(r[7]),
                metronome_spm=r[8],
            )
            for r in self._query(
                "SELECT id, kind, text, priority, created_s, expires_s, trigger_json, level, "
                "metronome_spm FROM cues WHERE session_id = ? ORDER BY seq",
                (sid,),
            )
        ]
        commands = [
            Command(t_s=r[0], name=r[1], args=json.loads(r[2]))
            for r in self._query(
                "SELECT t_s, name, args_json FROM commands WHERE session_id = ? ORDER BY seq",
                (sid,),
            )
        ]
        events = [
            LinkEvent(
                t_s=r[0],
                foot=Foot(r[1]),
                address=r[2],
                state=LinkState(r[3]),
                detail=r[4],
                rssi_dbm=_opt(r[5], int),
                battery_pct=_opt(r[6], int),
            )
            for r in self._query(
                "SELECT t_s, foot, address, state, detail, rssi_dbm, battery_pct FROM events "
                "WHERE session_id = ? ORDER BY seq",
                (sid,),
            )
        ]
        discomfort = [
            DiscomfortReport(t_s=r[0], body_part=r[1], score=int(r[2]), note=r[3])
            for r in self._query(
                "SELECT t_s, body_part, score, note FROM discomfort WHERE session_id = ? "
                "ORDER BY seq",
                (sid,),
            )
        ]
        gaps = [
            Gap(foot=Foot(r[0]), start_s=r[1], end_s=r[2], lost_samples=int(r[3]), reason=r[4])
            for r in self._query(
                "SELECT foot, start_s, end_s, lost_samples, reason FROM gaps "
                "WHERE session_id = ? ORDER BY seq",
                (sid,),
            )
        ]
        try:
            config = json.loads(config_json)
        except json.JSONDecodeError as exc:
            raise SessionError(f"session {sid}: stored config is corrupt ({exc})") from exc
        return SessionData(info, config, strides, cues, commands, events, discomfort, gaps)

    def raw_count(self, session_id: str) -> tuple[int, int]:
        """(number of chunks as recorded, number of samples) stored for a session."""
        ((chunks, samples),) = self._query(
            "SELECT COALESCE(SUM(LENGTH(parts)), 0), COALESCE(SUM(n), 0) FROM chunks "
            "WHERE session_id = ?",
            (session_id,),
        )
        return int(chunks) // PARTS_DTYPE.itemsize, int(samples)

    def _blocks(self, session_id: str) -> Iterator[tuple[int, list[tuple[int, ImuChunk | Gap]]]]:
        """Stored blocks and gaps by first sequence number, each split into its items."""
        cursor = self._db().execute(
            "SELECT seq, 'c', foot, n, acc_enc, acc_scale, gyr_enc, gyr_scale, parts, payload, "
            "NULL, NULL, NULL, NULL FROM chunks WHERE session_id = ? "
            "UNION ALL SELECT seq, 'g', foot, NULL, NULL, NULL, NULL, NULL, NULL, NULL, start_s, "
            "end_s, lost_samples, reason FROM gaps WHERE session_id = ? ORDER BY 1",
            (session_id, session_id),
        )
        for r in cursor:
            seq, foot = int(r[0]), Foot(r[2])
            if r[1] == "g":
                yield seq, [(seq, Gap(foot, r[10], r[11], int(r[12]), r[13]))]
                continue
            n = int(r[3])
            try:
                seqs, lengths = unpack_parts(r[8], n)
                times, acc, gyr = unpack_blocks(r[9])
                t = decode_times(times, n)
                a = decode_samples(EncodedBlock(r[4], r[5], acc), n)
                g = decode_samples(EncodedBlock(r[6], r[7], gyr), n)
            except CodecError as exc:
                raise SessionError(
                    f"session {session_id}: raw block {seq} is corrupt ({exc})"
                ) from exc
            items: list[tuple[int, ImuChunk | Gap]] = []
            start = 0
            for part_seq, length in zip(seqs, lengths, strict=True):
                sl = slice(start, start + length)
                items.append((part_seq, ImuChunk(foot, t[sl], a[sl], g[sl])))
                start += length
            yield seq, items

    def iter_raw(self, session_id: str) -> Iterator[ImuChunk | Gap]:
        """Raw chunks and gaps of a session, exactly as and in the order they were recorded.

        Blocks of the two feet written in one flush interleave, so the items are merged by
        sequence number: a block is read once no item before its first one is pending.
        """
        pending: list[tuple[int, int, ImuChunk | Gap]] = []
        tie = 0
        try:
            blocks = self._blocks(session_id)
            nxt = next(blocks, None)
            while nxt is not None or pending:
                while nxt is not None and (not pending or nxt[0] <= pending[0][0]):
                    for seq, item in nxt[1]:
                        heapq.heappush(pending, (seq, tie, item))
                        tie += 1
                    nxt = next(blocks, None)
                yield heapq.heappop(pending)[2]
        except sqlite3.DatabaseError as exc:
            raise SessionError(f"session store {self.path} is corrupt ({exc})") from exc

    def raw_bytes(self, session_id: str) -> int:
        """Bytes of compressed raw sample payload stored for a session."""
        ((total,),) = self._query(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM chunks WHERE session_id = ?",
            (session_id,),
        )
        return int(total)
