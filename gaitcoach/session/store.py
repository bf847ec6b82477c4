"""The session store: one SQLite database in WAL mode under the data directory.

Sessions, strides, cues, commands, link events, discomfort reports, gaps and raw IMU chunks
(compact lossless blobs, see :mod:`gaitcoach.session.codec`) live in one file,
``<data_dir>/sessions.sqlite``, so one crash-safety mechanism (SQLite's write-ahead log)
covers everything. Layout, versioning and the durability policy: docs/sessions.md.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from gaitcoach.session.codec import (
    PARTS_DTYPE,
    CodecError,
    EncodedBlock,
    decode_samples,
    decode_times,
    unpack_blocks,
    unpack_parts,
)
from gaitcoach.typehints import without_none
from gaitcoach.types import (
    Cue,
    CueKind,
    DiscomfortReport,
    Foot,
    Gap,
    ImuChunk,
    LinkEvent,
    LinkState,
    StrideRecord,
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
class StoredCommand:
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
    commands: list[StoredCommand]
    events: list[LinkEvent]
    discomfort: list[DiscomfortReport]
    gaps: list[Gap]
    cue_outcomes: dict[str, bool] = field(default_factory=dict)
    """Cue id -> whether it reached the runner (cues without an outcome: unknown, taken as
    delivered; the live view showed them)."""


@dataclass(frozen=True, slots=True)
class StrideColumn:
    """One stored stride column, derived from a :class:`StrideRecord` field."""

    field: str
    """The StrideRecord attribute."""
    name: str
    """The column name (the field's name, except ``idx`` for ``index``, an SQL keyword)."""
    kind: type
    """``float``, ``int`` or a :class:`~enum.StrEnum` (stored as its ``.value``)."""
    optional: bool
    """The field may be None (the column may be NULL)."""

    @property
    def choices(self) -> tuple[str, ...]:
        """The values of an enum column (empty for numbers)."""
        kind: type = self.kind
        return tuple(e.value for e in kind) if issubclass(kind, StrEnum) else ()


_COLUMN_NAMES = {"index": "idx"}
"""Column names that differ from their StrideRecord field's name."""


def _stride_columns() -> tuple[StrideColumn, ...]:
    """The stride columns: one per StrideRecord field, in field order, typed by its hint."""
    hints = get_type_hints(StrideRecord)
    out = []
    for f in dataclasses.fields(StrideRecord):
        hint = hints[f.name]
        kinds, optional = without_none(hint)
        kind = kinds[0] if len(kinds) == 1 else None
        if not (kind in (float, int) or (isinstance(kind, type) and issubclass(kind, StrEnum))):
            raise TypeError(
                f"StrideRecord.{f.name}: {hint} has no stored column kind "
                "(gaitcoach.session.store knows float, int and StrEnum, each optional)"
            )
        assert kind is not None
        name = _COLUMN_NAMES.get(f.name, f.name)
        out.append(StrideColumn(f.name, name, kind, optional))
    return tuple(out)


STRIDE_SCHEMA = _stride_columns()
"""The stride columns, derived from the StrideRecord fields (docs/sessions.md): the store's
``strides`` table, the hub's ``hub.strides`` and sync rows, the exports."""
STRIDE_COLUMNS = tuple(c.name for c in STRIDE_SCHEMA)
"""Stride column names in order."""
STRIDE_TEXT_COLUMNS = tuple(c.name for c in STRIDE_SCHEMA if issubclass(c.kind, StrEnum))
"""Stride columns holding an enum's value (text)."""
STRIDE_REQUIRED_FLOATS = tuple(c.name for c in STRIDE_SCHEMA if c.kind is float and not c.optional)
"""Stride columns that must hold a number (the rest of the float columns may be NULL)."""
STRIDE_OPTIONAL_FLOATS = tuple(c.name for c in STRIDE_SCHEMA if c.kind is float and c.optional)

CUE_OUTCOMES_TABLE = """CREATE TABLE IF NOT EXISTS cue_outcomes (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, cue_id TEXT NOT NULL,
    delivered INTEGER NOT NULL, how TEXT NOT NULL, PRIMARY KEY (session_id, seq));"""
"""Whether each cue reached the runner (added within format version 1: created in older
stores when a writer opens them; a store without it has no outcomes)."""

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
{CUE_OUTCOMES_TABLE}
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
            else:  # a format-1 store written before cue outcomes were recorded
                conn.executescript(CUE_OUTCOMES_TABLE)
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
    try:
        # A new file of a random name (O_EXCL): a fixed name such as .write-probe-<pid> was
        # shared by two recorders made at once in one process (one removed the other's probe:
        # "not writable"), and planted as a symlink it had the probe write outside the data
        # directory.
        fd, probe = tempfile.mkstemp(dir=data_dir, prefix=".write-probe-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"x")
            fh.flush()
            os.fsync(fh.fileno())
        os.unlink(probe)
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
    st = _enum(SessionStatus, status, "status")
    if st is not SessionStatus.RECORDING:
        return st
    same_host = host == os.uname().nodename
    stale = heartbeat_wall_s is None or time.time() - heartbeat_wall_s > STALE_HEARTBEAT_S
    if stale or (same_host and not _pid_alive(pid)):
        return SessionStatus.INTERRUPTED
    return st


class BadValue(ValueError):
    """A stored value of the wrong type or outside its set (a semantically corrupt store)."""


def _num(v: Any, name: str) -> float:
    # SQLite keeps whatever it is given: text in a REAL column comes back as str.
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
        raise BadValue(f"{name} = {v!r} is not a number")
    return float(v)


def _opt_num(v: Any, name: str) -> float | None:
    return None if v is None else _num(v, name)


def _int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadValue(f"{name} = {v!r} is not an integer")
    return v


def _opt_int(v: Any, name: str) -> int | None:
    return None if v is None else _int(v, name)


def _text(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise BadValue(f"{name} = {v!r} is not text")
    return v


_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")


def _enum(kind: type[_E], v: Any, name: str) -> _E:
    try:
        return kind(v)
    except ValueError:
        allowed = ", ".join(e.value for e in kind)
        raise BadValue(f"{name} = {v!r} is not one of {allowed}") from None


def _json_object(v: Any, name: str) -> dict[str, Any]:
    try:
        out = json.loads(_text(v, name))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadValue(f"{name} is not valid JSON ({exc})") from None
    if not isinstance(out, dict):
        raise BadValue(f"{name} is not a JSON object")
    return out


def _column_value(c: StrideColumn, v: Any) -> Any:
    """A stored value checked and converted to its field's type (:class:`BadValue` if not)."""
    if v is None and c.optional:
        return None
    if c.kind is float:
        return _num(v, c.name)
    if c.kind is int:
        return _int(v, c.name)
    return _enum(c.kind, v, c.name)


def stride_from_row(row: sqlite3.Row | tuple[Any, ...]) -> StrideRecord:
    """A stride from its row (``STRIDE_COLUMNS`` order); :class:`BadValue` names the first
    column that is not valid."""
    values = tuple(row)
    if len(values) != len(STRIDE_SCHEMA):
        raise BadValue(f"a stride row of {len(values)} values, not {len(STRIDE_SCHEMA)}")
    return StrideRecord(
        **{c.field: _column_value(c, v) for c, v in zip(STRIDE_SCHEMA, values, strict=True)}
    )


def stride_to_row(s: StrideRecord) -> tuple[Any, ...]:
    """A stride as its row in ``STRIDE_COLUMNS`` order (enums as their value)."""
    return tuple(
        v.value if isinstance(v, StrEnum) else v
        for v in (getattr(s, c.field) for c in STRIDE_SCHEMA)
    )


def _gap_from_row(r: tuple[Any, ...]) -> Gap:
    """A gap from (foot, start_s, end_s, lost_samples, reason)."""
    return Gap(
        _enum(Foot, r[0], "foot"),
        _num(r[1], "start_s"),
        _num(r[2], "end_s"),
        _int(r[3], "lost_samples"),
        _text(r[4], "reason"),
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

        def info(r: tuple[Any, ...]) -> SessionInfo:
            return SessionInfo(
                id=_text(r[0], "id"),
                runner=_text(r[1], "runner"),
                started_utc=_text(r[2], "started_utc"),
                status=effective_status(
                    r[3], _opt_int(r[5], "pid"), r[6], _opt_num(r[7], "heartbeat_wall_s")
                ),
                ended_utc=r[4] if r[4] is None else _text(r[4], "ended_utc"),
                first_t_s=_opt_num(r[8], "first_t_s"),
                last_t_s=_opt_num(r[9], "last_t_s"),
                n_strides=int(r[11]),
                leg_length_m=_opt_num(r[10], "leg_length_m"),
            )

        return self._rows("sessions", self._query(sql, args), info)

    def _rows(
        self, table: str, rows: list[tuple[Any, ...]], convert: Callable[[tuple[Any, ...]], _T]
    ) -> list[_T]:
        """Rows converted one by one; a value of the wrong type or outside its set is one
        :class:`SessionError` naming the table and row (never a traceback further on)."""
        out = []
        for i, r in enumerate(rows):
            try:
                out.append(convert(r))
            except BadValue as exc:
                raise SessionError(
                    f"session store {self.path} is corrupt: {table} row {i + 1}: {exc}"
                ) from exc
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

        def rows(table: str, columns: str, convert: Callable[[tuple[Any, ...]], _T]) -> list[_T]:
            sql = f"SELECT {columns} FROM {table} WHERE session_id = ? ORDER BY seq"
            return self._rows(f"session {sid}: {table}", self._query(sql, (sid,)), convert)

        def cue(r: tuple[Any, ...]) -> Cue:
            trigger = _json_object(r[6], "trigger_json")
            return Cue(
                id=_text(r[0], "id"),
                kind=_enum(CueKind, r[1], "kind"),
                text=_text(r[2], "text"),
                priority=_int(r[3], "priority"),
                created_s=_num(r[4], "created_s"),
                expires_s=_num(r[5], "expires_s"),
                trigger={k: _num(v, f"trigger_json[{k!r}]") for k, v in trigger.items()},
                level=_int(r[7], "level"),
                metronome_spm=_opt_num(r[8], "metronome_spm"),
            )

        def event(r: tuple[Any, ...]) -> LinkEvent:
            return LinkEvent(
                t_s=_num(r[0], "t_s"),
                foot=_enum(Foot, r[1], "foot"),
                address=_text(r[2], "address"),
                state=_enum(LinkState, r[3], "state"),
                detail=_text(r[4], "detail"),
                rssi_dbm=_opt_int(r[5], "rssi_dbm"),
                battery_pct=_opt_int(r[6], "battery_pct"),
            )

        strides = rows("strides", ", ".join(STRIDE_COLUMNS), stride_from_row)
        cues = rows(
            "cues",
            "id, kind, text, priority, created_s, expires_s, trigger_json, level, metronome_spm",
            cue,
        )
        commands = rows(
            "commands",
            "t_s, name, args_json",
            lambda r: StoredCommand(
                _num(r[0], "t_s"), _text(r[1], "name"), _json_object(r[2], "args_json")
            ),
        )
        events = rows("events", "t_s, foot, address, state, detail, rssi_dbm, battery_pct", event)
        discomfort = rows(
            "discomfort",
            "t_s, body_part, score, note",
            lambda r: DiscomfortReport(
                _num(r[0], "t_s"),
                _text(r[1], "body_part"),
                _int(r[2], "score"),
                _text(r[3], "note"),
            ),
        )
        gaps = rows("gaps", "foot, start_s, end_s, lost_samples, reason", _gap_from_row)
        outcomes: dict[str, bool] = {}
        if self._has_table("cue_outcomes"):
            for cue_id, delivered in rows(
                "cue_outcomes",
                "cue_id, delivered",
                lambda r: (_text(r[0], "cue_id"), bool(_int(r[1], "delivered"))),
            ):
                outcomes[cue_id] = delivered
        try:
            config = _json_object(config_json, "config_json")
        except BadValue as exc:
            raise SessionError(f"session {sid}: stored config is corrupt ({exc})") from exc
        return SessionData(
            info, config, strides, cues, commands, events, discomfort, gaps, outcomes
        )

    def _has_table(self, name: str) -> bool:
        rows = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return bool(rows)

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
            try:
                seq = _int(r[0], "seq")
                if r[1] == "g":
                    yield seq, [(seq, _gap_from_row((r[2], *r[10:14])))]
                    continue
                foot, n = _enum(Foot, r[2], "foot"), _int(r[3], "n")
                for name, v in (("acc_scale", r[5]), ("gyr_scale", r[7])):
                    _num(v, name)
            except BadValue as exc:
                raise SessionError(
                    f"session {session_id}: stored raw data is corrupt ({exc})"
                ) from exc
            try:
                seqs, lengths = unpack_parts(r[8], n)
                times, acc, gyr = unpack_blocks(r[9])
                t = decode_times(times, n)
                a = decode_samples(EncodedBlock(r[4], r[5], acc), n)
                g = decode_samples(EncodedBlock(r[6], r[7], gyr), n)
            except (CodecError, ValueError, TypeError) as exc:
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
