"""PostgreSQL access for the hub with psycopg 3: batched idempotent upserts (ingest role) and
the reads of the views and of ``sync/check`` (any role with SELECT).

A batch is written in one transaction: strides go through ``COPY`` into a temporary table
(``ON COMMIT DELETE ROWS``: created once per connection, emptied by every commit) and from
there into ``strides`` with one ``INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT``, so a
few hundred rows cost three round trips; the handful of session, cue and runner rows use
``executemany`` (pipelined by psycopg). Live strides insert-or-ignore (a redelivered message
changes nothing); synced strides insert-or-update-when-different (the edge's store is the
reference). SQL is never built from data: identifiers are constants, values are parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from gaitcoach.hub.records import (
    SYNC_BATCH,
    CueRow,
    Digest,
    LiveRow,
    SessionDigest,
    SessionRow,
    StrideRow,
)
from gaitcoach.hub.schema import STRIDE_TEXT_COLUMNS, STRIDE_VALUE_COLUMNS
from gaitcoach.session.store import STRIDE_COLUMNS

_KEY = ("runner", "session_id", "foot", "idx")
_STRIDE_COLS = (*_KEY, *STRIDE_VALUE_COLUMNS, "t_unix_s")
_COLS = ", ".join(_STRIDE_COLS)

STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_strides "
    "(LIKE hub.strides INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
COPY_STRIDES = f"COPY stage_strides ({_COLS}) FROM STDIN"
INSERT_LIVE = (
    f"INSERT INTO hub.strides ({_COLS}) SELECT DISTINCT ON (runner, session_id, foot, idx) "
    f"{_COLS} FROM stage_strides ON CONFLICT (runner, session_id, foot, idx) DO NOTHING"
)
INSERT_SYNC = (
    f"INSERT INTO hub.strides ({_COLS}) SELECT DISTINCT ON (runner, session_id, foot, idx) "
    f"{_COLS} FROM stage_strides ON CONFLICT (runner, session_id, foot, idx) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in STRIDE_VALUE_COLUMNS)
    + f" WHERE ({', '.join('hub.strides.' + c for c in STRIDE_VALUE_COLUMNS)}) "
    f"IS DISTINCT FROM ({', '.join('EXCLUDED.' + c for c in STRIDE_VALUE_COLUMNS)})"
)

UPSERT_RUNNER = "INSERT INTO hub.runners (runner) VALUES (%s) ON CONFLICT (runner) DO NOTHING"
UPSERT_LIVE = (
    "INSERT INTO hub.runners (runner, live_t_unix_s, live) VALUES (%s, %s, %s) "
    "ON CONFLICT (runner) DO UPDATE SET live_t_unix_s = EXCLUDED.live_t_unix_s, "
    "live = EXCLUDED.live WHERE hub.runners.live_t_unix_s IS NULL "
    "OR hub.runners.live_t_unix_s < EXCLUDED.live_t_unix_s"
)
INSERT_SESSION = (
    "INSERT INTO hub.sessions (runner, session_id) VALUES (%s, %s) "
    "ON CONFLICT (runner, session_id) DO NOTHING"
)
UPSERT_SUMMARY = (
    "INSERT INTO hub.sessions (runner, session_id, status, started_utc, summary, "
    "summary_t_unix_s) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (runner, session_id) DO "
    "UPDATE SET summary = EXCLUDED.summary, summary_t_unix_s = EXCLUDED.summary_t_unix_s, "
    # The edge's sync record is authoritative for status and start; a summary only fills in.
    "status = CASE WHEN hub.sessions.synced_at IS NULL THEN EXCLUDED.status "
    "ELSE hub.sessions.status END, "
    "started_utc = COALESCE(hub.sessions.started_utc, EXCLUDED.started_utc), "
    "updated_at = clock_timestamp()"
)
UPSERT_SYNCED_SESSION = (
    "INSERT INTO hub.sessions (runner, session_id, status, started_utc, ended_utc, "
    "leg_length_m, first_t_s, last_t_s, edge_strides, edge_cues, synced_at) VALUES "
    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp()) "
    "ON CONFLICT (runner, session_id) DO UPDATE SET status = EXCLUDED.status, "
    "started_utc = EXCLUDED.started_utc, ended_utc = EXCLUDED.ended_utc, "
    "leg_length_m = EXCLUDED.leg_length_m, first_t_s = EXCLUDED.first_t_s, "
    "last_t_s = EXCLUDED.last_t_s, edge_strides = EXCLUDED.edge_strides, "
    "edge_cues = EXCLUDED.edge_cues, synced_at = EXCLUDED.synced_at, "
    "updated_at = clock_timestamp()"
)
_CUE_COLS = (
    "runner, session_id, cue_id, kind, text, priority, level, created_s, created_unix_s, "
    "expires_s, trigger, metronome_spm"
)
INSERT_LIVE_CUE = (
    f"INSERT INTO hub.cues ({_CUE_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s) ON CONFLICT (runner, session_id, cue_id) DO NOTHING"
)
UPSERT_SYNC_CUE = (
    f"INSERT INTO hub.cues ({_CUE_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s) ON CONFLICT (runner, session_id, cue_id) DO UPDATE SET kind = EXCLUDED.kind, "
    "text = EXCLUDED.text, priority = EXCLUDED.priority, level = EXCLUDED.level, "
    "created_s = EXCLUDED.created_s, expires_s = EXCLUDED.expires_s, "
    "trigger = EXCLUDED.trigger, metronome_spm = EXCLUDED.metronome_spm"
)

# Checksums as records.stride_row_bytes / cue_row_bytes compute them (float8send: IEEE-754
# big-endian; a tag byte per field tells NULL from a value; text is length-prefixed).
_TAG = "'\\x01'::bytea"


def _num(c: str) -> str:
    return f"COALESCE({_TAG} || float8send({c}), '\\x00'::bytea)"


def _txt(c: str) -> str:
    return (
        f"COALESCE({_TAG} || int4send(octet_length({c})) || convert_to({c}, 'UTF8'), "
        "'\\x00'::bytea)"
    )


_ROW_BYTES = " || ".join(
    [_txt("foot"), "int8send(idx::bigint)"]
    + [_txt(c) if c in STRIDE_TEXT_COLUMNS else _num(c) for c in STRIDE_VALUE_COLUMNS]
)
STRIDE_DIGEST_SQL = (
    f"SELECT foot, idx / {SYNC_BATCH} AS batch, count(*), "
    f"md5(string_agg({_ROW_BYTES}, ''::bytea ORDER BY idx)) FROM hub.strides "
    "WHERE runner = %s AND session_id = %s GROUP BY foot, idx / " + str(SYNC_BATCH)
)
_CUE_BYTES = " || ".join(
    [
        _txt("cue_id"),
        _txt("kind"),
        _txt("text"),
        "int8send(priority::bigint)",
        "int8send(level::bigint)",
        _num("created_s"),
        _num("expires_s"),
        _num("metronome_spm"),
    ]
)
CUE_DIGEST_SQL = (
    f"SELECT count(*), md5(COALESCE(string_agg({_CUE_BYTES}, ''::bytea "
    "ORDER BY cue_id COLLATE \"C\"), ''::bytea)) FROM hub.cues "
    "WHERE runner = %s AND session_id = %s"
)


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection with the hub's schema first on the search path."""
    conn = psycopg.connect(dsn, **kwargs)
    conn.execute("SET search_path = hub, pg_catalog")
    if not conn.autocommit:
        conn.commit()
    return conn


@dataclass(slots=True)
class Batch:
    """What one transaction writes."""

    live_strides: list[StrideRow] = field(default_factory=list)
    sync_strides: list[StrideRow] = field(default_factory=list)
    live_cues: list[CueRow] = field(default_factory=list)
    sync_cues: list[CueRow] = field(default_factory=list)
    summaries: list[SessionRow] = field(default_factory=list)
    synced_sessions: list[SessionRow] = field(default_factory=list)
    live: dict[str, LiveRow] = field(default_factory=dict)
    """Newest metrics per runner (older ones in the same batch are superseded)."""

    def __len__(self) -> int:
        return (
            len(self.live_strides)
            + len(self.sync_strides)
            + len(self.live_cues)
            + len(self.sync_cues)
            + len(self.summaries)
            + len(self.synced_sessions)
            + len(self.live)
        )

    def add_live(self, row: LiveRow) -> None:
        old = self.live.get(row.runner)
        if old is None or old.t_unix_s < row.t_unix_s:
            self.live[row.runner] = row


@dataclass(slots=True)
class WriteResult:
    strides_inserted: int = 0
    strides_updated: int = 0
    """Synced strides that differed from the stored row (0 when live delivery was exact)."""


def _cue_params(c: CueRow) -> tuple[Any, ...]:
    return (
        c.runner,
        c.session_id,
        c.cue_id,
        c.kind,
        c.text,
        c.priority,
        c.level,
        c.created_s,
        c.created_unix_s,
        c.expires_s,
        Jsonb(c.trigger),
        c.metronome_spm,
    )


class Writer:
    """The ingest side: one connection, one transaction per :meth:`write`.

    ``known`` caches the runners and sessions this connection has already created, so the
    steady state writes no session rows at all (a cache miss costs an ignored insert).
    """

    KNOWN_MAX = 100_000

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: psycopg.Connection[Any] | None = None
        self._runners: set[str] = set()
        self._sessions: set[tuple[str, str]] = set()

    def open(self) -> None:
        self.close()
        conn = connect(self.dsn, connect_timeout=5)
        conn.execute(STAGE_DDL)
        conn.commit()
        self.conn = conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def write(self, batch: Batch) -> WriteResult:
        """Write a batch in one transaction; on any error nothing of it is committed (the
        caller keeps the messages unacknowledged and retries)."""
        if self.conn is None or self.conn.closed:
            self.open()
        conn = self.conn
        assert conn is not None
        result = WriteResult()
        try:
            with conn.cursor() as cur:
                self._parents(cur, batch)
                result.strides_inserted = self._strides(cur, batch.live_strides, INSERT_LIVE)
                result.strides_updated = self._strides(cur, batch.sync_strides, INSERT_SYNC)
                if batch.live_cues:
                    cur.executemany(INSERT_LIVE_CUE, [_cue_params(c) for c in batch.live_cues])
                if batch.sync_cues:
                    cur.executemany(UPSERT_SYNC_CUE, [_cue_params(c) for c in batch.sync_cues])
                if batch.live:
                    cur.executemany(
                        UPSERT_LIVE,
                        [(r.runner, r.t_unix_s, Jsonb(r.metrics)) for r in batch.live.values()],
                    )
            conn.commit()
        except BaseException:
            self._rollback()
            raise
        return result

    def _rollback(self) -> None:
        conn = self.conn
        if conn is None:
            return
        try:
            conn.rollback()
        except psycopg.Error:
            self.close()
        # A failed transaction may have inserted cached parents that are now rolled back.
        self._runners.clear()
        self._sessions.clear()

    def _parents(self, cur: psycopg.Cursor[Any], batch: Batch) -> None:
        runners: set[str] = set(batch.live)
        sessions: set[tuple[str, str]] = set()
        for rows in (batch.live_strides, batch.sync_strides, batch.live_cues, batch.sync_cues):
            for r in rows:
                runners.add(r.runner)
                sessions.add((r.runner, r.session_id))
        for s in (*batch.summaries, *batch.synced_sessions):
            runners.add(s.runner)
        new_runners = sorted(runners - self._runners)
        if new_runners:
            cur.executemany(UPSERT_RUNNER, [(r,) for r in new_runners])
        if batch.synced_sessions:
            cur.executemany(
                UPSERT_SYNCED_SESSION,
                [
                    (
                        s.runner,
                        s.session_id,
                        s.status,
                        s.started_utc,
                        s.ended_utc,
                        s.leg_length_m,
                        s.first_t_s,
                        s.last_t_s,
                        s.edge_strides,
                        s.edge_cues,
                    )
                    for s in batch.synced_sessions
                ],
            )
        if batch.summaries:
            cur.executemany(
                UPSERT_SUMMARY,
                [
                    (
                        s.runner,
                        s.session_id,
                        s.status or "complete",
                        s.started_utc,
                        Jsonb(s.summary),
                        s.summary_t_unix_s,
                    )
                    for s in batch.summaries
                ],
            )
        new_sessions = sorted(sessions - self._sessions)
        if new_sessions:
            cur.executemany(INSERT_SESSION, new_sessions)
        if len(self._sessions) > self.KNOWN_MAX:
            self._sessions.clear()
        self._runners.update(new_runners)
        self._sessions.update(new_sessions)

    @staticmethod
    def _strides(cur: psycopg.Cursor[Any], rows: Sequence[StrideRow], insert: str) -> int:
        if not rows:
            return 0
        with cur.copy(COPY_STRIDES) as copy:
            for r in rows:
                copy.write_row((r.runner, r.session_id, r.foot, r.idx, *r.values, r.t_unix_s))
        cur.execute(insert)
        n = cur.rowcount
        cur.execute("DELETE FROM stage_strides")  # live and synced rows share the stage
        return max(n, 0)


def session_digest(conn: psycopg.Connection[Any], runner: str, session_id: str) -> SessionDigest:
    """What the database holds of one session, for ``sync/check`` and the checks."""
    row = conn.execute(
        "SELECT status, synced_at IS NOT NULL FROM hub.sessions "
        "WHERE runner = %s AND session_id = %s",
        (runner, session_id),
    ).fetchone()
    strides = {
        (str(f), int(b)): Digest(int(n), str(m))
        for f, b, n, m in conn.execute(STRIDE_DIGEST_SQL, (runner, session_id)).fetchall()
    }
    cue = conn.execute(CUE_DIGEST_SQL, (runner, session_id)).fetchone()
    assert cue is not None
    return SessionDigest(
        known=row is not None,
        status=None if row is None else str(row[0]),
        synced=bool(row and row[1]),
        strides=strides,
        cues=Digest(int(cue[0]), str(cue[1])),
    )


def stride_rows_from_db(
    conn: psycopg.Connection[Any], runner: str, session_id: str
) -> list[tuple[Any, ...]]:
    """A session's strides in ``STRIDE_COLUMNS`` order, by initial contact, foot, then index."""
    return conn.execute(
        f"SELECT {', '.join(STRIDE_COLUMNS)} FROM hub.strides WHERE runner = %s AND "
        "session_id = %s ORDER BY ic_s, foot, idx",
        (runner, session_id),
    ).fetchall()
