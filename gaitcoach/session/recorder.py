"""The session recorder: a synchronous tap on the stream that never blocks on disk.

``add_*`` calls only append to an in-memory batch (microseconds, under a lock); a writer
thread commits the batch to the store every ``flush_interval_s`` in one transaction. After
kill -9 everything committed survives (SQLite WAL, ``synchronous=NORMAL``), so at most the
last ``flush_interval_s`` plus one commit is lost. A write failure mid-run (disk filled up)
is counted, the batch is kept and retried, and the service goes on; raw chunks are encoded
once (a retry writes the same blocks). Beyond ``max_pending_items`` (items of every kind, raw
chunks in encoded blocks included) the oldest raw chunks are dropped first, then the oldest
items of any kind, each counted by kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from gaitcoach.jsonenc import dumps
from gaitcoach.safepath import check_session_id
from gaitcoach.session.codec import (
    ENC_COUNTS,
    encode_samples,
    encode_times,
    pack_blocks,
    pack_parts,
)
from gaitcoach.session.store import (
    DB_NAME,
    STRIDE_COLUMNS,
    STRIDE_REQUIRED_FLOATS,
    SessionStatus,
    StorageError,
    check_storage,
    connect,
    stride_to_row,
)
from gaitcoach.types import Cue, DiscomfortReport, Foot, Gap, ImuChunk, LinkEvent, StrideRecord

MAX_BLOCK_SAMPLES = 4096
"""Largest stored raw block (samples of one foot), when a flush has fallen behind."""
DEFAULT_MIN_FREE_BYTES = 200_000_000
"""Refuse to start with less free space: about 5 h of two 208 Hz pods (docs/sessions.md)."""
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_STRIDE_REQUIRED = tuple(STRIDE_COLUMNS.index(name) for name in STRIDE_REQUIRED_FLOATS)


def _unstorable(row: tuple[Any, ...], required: Iterable[Any]) -> str | None:
    """Why ``row`` cannot be stored (None: it can). SQLite refuses the row in the commit, and
    one refused row fails its whole batch, which is kept and retried at every flush: a single
    bad value stopped the recording for good. A NaN where a number is required is stored as
    NULL (a NOT NULL column refuses it; in a stride it made the whole session unreadable)."""
    for v in required:
        if isinstance(v, float) and math.isnan(v):
            return "NaN where a number is required"
    for v in row:
        if isinstance(v, bool) or v is None or isinstance(v, float | str | bytes):
            continue
        if not isinstance(v, int):
            return f"{type(v).__name__} value {v!r} is not storable"
        if not _INT64_MIN <= v <= _INT64_MAX:
            return f"integer {v} is beyond 64 bits"
    return None


@dataclass(frozen=True, slots=True)
class ImuScale:
    """A pod's LSBs; raw chunks are stored as int16 counts times these when exact."""

    acc_lsb_mps2: float
    gyr_lsb_radps: float


@dataclass(frozen=True, slots=True)
class RecorderStats:
    items_written: int
    chunks_written: int
    samples_written: int
    write_errors: int
    dropped_chunks: int
    rejected: int
    last_error: str | None
    dropped: dict[str, int] = field(default_factory=dict)
    """Items dropped unwritten beyond ``max_pending_items``, by kind (the table: "chunks",
    "gaps", "strides", ...); ``dropped_chunks`` is ``dropped["chunks"]``."""


@dataclass(frozen=True, slots=True)
class _Block:
    """Raw chunks encoded into one stored block, waiting for a commit that succeeds."""

    row: tuple[Any, ...]
    chunks: int
    samples: int


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("started_utc must be timezone-aware")
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def _utc_now() -> str:
    return _iso(datetime.now(UTC))


class SessionExistsError(StorageError):
    """The store already holds a session with the requested id (nothing was written)."""


def new_session_id(started_utc: datetime | None = None) -> str:
    """Sortable, unique: UTC start time plus a random suffix."""
    t = datetime.now(UTC) if started_utc is None else started_utc.astimezone(UTC)
    return t.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


class Recorder:
    """Records one session into ``<data_dir>/sessions.sqlite``.

    Use as a context manager (``with`` or, from asyncio, ``async with``); leaving the block
    closes the session as ``complete`` (or ``failed`` when the block raised; a cancelled task
    is a normal end of the run). All ``add_*`` methods are thread-safe and cheap.

    Parameters
    ----------
    data_dir
        Directory of the store (created when missing). Writability and free space are checked
        here, so a read-only or full directory fails at start with :class:`StorageError`.
    config
        The configuration in force (stored as JSON with the session).
    runner
        Runner id (history is per runner).
    leg_length_m
        Runner's leg length, if known.
    scales
        Per-foot LSBs for compact raw storage; without them the scale is inferred per chunk.
    flush_interval_s
        Commit period of the writer thread: the most a kill -9 can lose.
    session_id, started_utc
        Override the generated id (checked: :data:`gaitcoach.safepath.SESSION_ID`; an id the
        store already holds raises :class:`SessionExistsError`) and the start time (for
        imports of older runs).
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        config: Mapping[str, Any] | None = None,
        runner: str = "default",
        leg_length_m: float | None = None,
        scales: Mapping[Foot, ImuScale] | None = None,
        flush_interval_s: float = 0.5,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        max_pending_items: int = 100_000,
        session_id: str | None = None,
        started_utc: datetime | None = None,
    ) -> None:
        if not flush_interval_s > 0:
            raise ValueError("flush_interval_s must be > 0")
        # The id names files later (reports): refuse anything but a plain id before any I/O.
        self.session_id = (
            new_session_id(started_utc) if session_id is None else check_session_id(session_id)
        )
        self.data_dir = Path(data_dir)
        check_storage(self.data_dir, min_free_bytes)
        self.flush_interval_s = flush_interval_s
        self.max_pending_items = max_pending_items
        self._scales = dict(scales or {})
        self._lock = threading.Lock()
        # Pending rows by table, oldest first (a row is (session id, seq, ...)), and the raw
        # blocks a failed commit left, encoded already; _n_pending counts both in items
        # (a block counts its chunks).
        self._pending: dict[str, deque[tuple[Any, ...]]] = {}
        self._ready: deque[_Block] = deque()
        self._n_pending = 0
        self._seq = 0
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._items = self._chunks = self._samples = 0
        self._errors = self._rejected = 0
        self._dropped: dict[str, int] = {}
        self._last_error: str | None = None
        self._closed = False
        self._flush_waiters: list[threading.Event] = []
        # Serialise before connecting so a bad config cannot leak the connection.
        try:
            config_json = dumps(dict(config or {}), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"session config is not JSON-serialisable: {exc}") from exc
        self._conn = connect(self.data_dir / DB_NAME)
        try:
            self._conn.execute(
                "INSERT INTO sessions (id, runner, started_utc, status, pid, host, "
                "heartbeat_wall_s, config_json, leg_length_m) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    self.session_id,
                    runner,
                    _utc_now() if started_utc is None else _iso(started_utc),
                    SessionStatus.RECORDING.value,
                    os.getpid(),
                    os.uname().nodename,
                    time.time(),
                    config_json,
                    leg_length_m,
                ),
            )
            self._conn.commit()
        except sqlite3.IntegrityError as exc:
            self._conn.close()
            raise SessionExistsError(
                f"session {self.session_id} already exists in {self.data_dir}"
            ) from exc
        except sqlite3.Error as exc:
            self._conn.close()
            raise StorageError(f"cannot start a session in {self.data_dir}: {exc}") from exc
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-{self.session_id}", daemon=True
        )
        self._thread.start()

    # -- the tap -----------------------------------------------------------------------

    def _put(
        self,
        table: str,
        row: tuple[Any, ...],
        t_s: float | None,
        t_from: float | None = None,
        required: Iterable[Any] = (),
    ) -> None:
        """Queue ``row``; ``required`` are its values in NOT NULL number columns."""
        problem = _unstorable(row, required) if table != "chunks" else None
        if problem is not None:
            self._reject(table, ValueError(problem))
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("recorder is closed")
            queue = self._pending.get(table)
            if queue is None:
                queue = self._pending[table] = deque()
            queue.append((self.session_id, self._seq, *row))
            self._n_pending += 1
            self._seq += 1
            if t_s is not None and math.isfinite(t_s):
                first = t_s if t_from is None else t_from
                self._first_t = first if self._first_t is None else min(self._first_t, first)
                self._last_t = t_s if self._last_t is None else max(self._last_t, t_s)
            self._bound_locked()

    def _bound_locked(self) -> None:
        """Drop (and count) the oldest pending items beyond ``max_pending_items``: raw chunks
        first (encoded blocks, then chunks not yet encoded: the bulk of the data, and the
        replay's input only), then the oldest items of any kind. Caller holds the lock."""
        while self._n_pending > self.max_pending_items:
            if self._ready:
                block = self._ready.popleft()
                self._count_drop_locked("chunks", block.chunks)
                continue
            table = "chunks" if self._pending.get("chunks") else None
            if table is None:
                heads = [(q[0][1], t) for t, q in self._pending.items() if q]
                if not heads:
                    return
                table = min(heads)[1]
            self._pending[table].popleft()
            self._count_drop_locked(table, 1)

    def _count_drop_locked(self, table: str, n: int) -> None:
        self._dropped[table] = self._dropped.get(table, 0) + n
        self._n_pending -= n

    def _reject(self, what: str, exc: Exception) -> None:
        with self._lock:
            self._rejected += 1
            self._last_error = f"rejected {what}: {exc}"

    def add_chunk(self, chunk: ImuChunk) -> None:
        """Raw samples of one pod, as the gait engine gets them (a bad timestamp or sample
        too: the engine skips it and restarts the stride, and a replay must do the same);
        encoded by the writer, joined per foot and flush."""
        if len(chunk) == 0:
            return
        try:
            # A private float64 copy (exact for any float input; the engine reads float64):
            # encoding happens later in the writer, the caller may reuse buffers.
            own = ImuChunk(
                chunk.foot,
                np.array(chunk.t_s, dtype=np.float64),
                np.array(chunk.acc_mps2, dtype=np.float64),
                np.array(chunk.gyr_radps, dtype=np.float64),
            )
        except (TypeError, ValueError) as exc:
            self._reject("chunk", exc)
            return
        finite = own.t_s[np.isfinite(own.t_s)]
        span = (float(finite.max()), float(finite.min())) if finite.size else (None, None)
        self._put("chunks", (own,), *span)

    def add_gap(self, gap: Gap) -> None:
        row = (gap.foot.value, gap.start_s, gap.end_s, gap.lost_samples, gap.reason)
        self._put("gaps", row, gap.end_s, required=row[1:3])

    def add_stride(self, stride: StrideRecord) -> None:
        row = stride_to_row(stride)
        self._put("strides", row, stride.end_ic_s, required=(row[i] for i in _STRIDE_REQUIRED))

    def add_cue(self, cue: Cue) -> None:
        try:
            trigger = dumps({k: float(v) for k, v in cue.trigger.items()})
        except (TypeError, ValueError) as exc:
            self._reject("cue", exc)
            return
        row = (
            cue.id,
            cue.kind.value,
            cue.text,
            cue.priority,
            cue.created_s,
            cue.expires_s,
            trigger,
            cue.level,
            cue.metronome_spm,
        )
        self._put("cues", row, cue.created_s, required=row[4:6])

    def add_cue_outcome(self, cue_id: str, delivered: bool, how: str) -> None:
        """Whether a cue reached the runner: ``how`` is "sent" or why it was dropped."""
        self._put("cue_outcomes", (cue_id, int(delivered), how), None)

    def add_command(self, t_s: float, name: str, args: Mapping[str, Any] | None = None) -> None:
        try:
            args_json = dumps(dict(args or {}), sort_keys=True)
        except (TypeError, ValueError) as exc:
            self._reject("command", exc)
            return
        self._put("commands", (t_s, name, args_json), t_s, required=(t_s,))

    def add_event(self, event: LinkEvent) -> None:
        row = (
            event.t_s,
            event.foot.value,
            event.address,
            event.state.value,
            event.detail,
            event.rssi_dbm,
            event.battery_pct,
        )
        self._put("events", row, event.t_s, required=row[:1])

    def add_discomfort(self, report: DiscomfortReport) -> None:
        row = (report.t_s, report.body_part, report.score, report.note)
        self._put("discomfort", row, report.t_s, required=row[:1])

    # -- writer ------------------------------------------------------------------------

    def flush(self) -> None:
        """Ask the writer to commit now and wait until it has tried."""
        done = threading.Event()
        with self._lock:
            self._flush_waiters.append(done)
        self._wake.set()
        done.wait(timeout=30.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self._write_batch()

    def _write_batch(self, status: SessionStatus | None = None) -> None:
        with self._lock:
            rows, self._pending = self._pending, {}
            blocks, self._ready = list(self._ready), deque()
            self._n_pending = 0
            first_t, last_t = self._first_t, self._last_t
            waiters, self._flush_waiters = self._flush_waiters, []
        # Raw chunks are encoded once: a failed commit keeps the blocks, not the chunks.
        chunks = rows.pop("chunks", None)
        if chunks:
            blocks.extend(self._blocks(chunks))
        try:
            self._commit(rows, [b.row for b in blocks], first_t, last_t, status)
        except sqlite3.Error as exc:
            with self._lock:
                # Keep the batch for the next attempt (e.g. space was freed), before anything
                # added meanwhile; beyond the bound the oldest goes.
                self._ready.extendleft(reversed(blocks))
                for table, queue in rows.items():
                    self._pending.setdefault(table, deque()).extendleft(reversed(queue))
                self._n_pending += sum(map(len, rows.values())) + sum(b.chunks for b in blocks)
                self._bound_locked()
                self._errors += 1
                self._last_error = f"write failed: {exc}"
        else:
            n_chunks = sum(b.chunks for b in blocks)
            with self._lock:
                self._items += sum(map(len, rows.values())) + n_chunks
                self._chunks += n_chunks
                self._samples += sum(b.samples for b in blocks)
        for w in waiters:
            w.set()

    def _blocks(self, chunks: Iterable[tuple[Any, ...]]) -> list[_Block]:
        """One stored block per foot and flush (at most ``MAX_BLOCK_SAMPLES`` samples)."""
        by_foot: dict[Foot, list[tuple[int, ImuChunk]]] = {}
        for _, seq, chunk in chunks:
            by_foot.setdefault(chunk.foot, []).append((seq, chunk))
        blocks = []
        for foot, items in by_foot.items():
            start = 0
            while start < len(items):
                stop, size = start, 0
                while stop < len(items) and (stop == start or size < MAX_BLOCK_SAMPLES):
                    size += len(items[stop][1])
                    stop += 1
                try:
                    row = self._encode_block(foot, items[start:stop])
                except (ValueError, TypeError) as exc:
                    # Unencodable samples (should not happen for ImuChunk): count, go on.
                    self._reject(f"{stop - start} chunks", exc)
                else:
                    blocks.append(_Block(row, stop - start, size))
                start = stop
        return blocks

    def _encode_block(self, foot: Foot, items: list[tuple[int, ImuChunk]]) -> tuple[Any, ...]:
        t = np.concatenate([c.t_s for _, c in items])
        acc = np.concatenate([c.acc_mps2 for _, c in items])
        gyr = np.concatenate([c.gyr_radps for _, c in items])
        scale = self._scales.get(foot)
        acc_block = encode_samples(acc, scale.acc_lsb_mps2 if scale else None)
        gyr_block = encode_samples(gyr, scale.gyr_lsb_radps if scale else None)
        if acc_block.encoding == ENC_COUNTS and gyr_block.encoding == ENC_COUNTS:
            # Without configured LSBs, an inferred pair that worked is tried first next time
            # (inference alone fails on a block of small values now and then).
            self._scales.setdefault(foot, ImuScale(acc_block.scale, gyr_block.scale))
        # The block's time range (not read back: a label) from its finite timestamps; the
        # codec keeps every timestamp's bits, a NaN included.
        finite = t[np.isfinite(t)]
        return (
            self.session_id,
            items[0][0],
            foot.value,
            float(finite[0]) if finite.size else 0.0,
            float(finite[-1]) if finite.size else 0.0,
            int(t.shape[0]),
            acc_block.encoding,
            acc_block.scale,
            gyr_block.encoding,
            gyr_block.scale,
            pack_parts([seq for seq, _ in items], [len(c) for _, c in items]),
            pack_blocks(encode_times(t), acc_block, gyr_block),
        )

    def _commit(
        self,
        rows: Mapping[str, deque[tuple[Any, ...]]],
        blocks: list[tuple[Any, ...]],
        first_t: float | None,
        last_t: float | None,
        status: SessionStatus | None,
    ) -> None:
        conn = self._conn
        try:
            for table, table_rows in (*rows.items(), ("chunks", blocks)):
                if table_rows:
                    marks = ",".join("?" * len(table_rows[0]))
                    conn.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
            conn.execute(
                "UPDATE sessions SET heartbeat_wall_s = ?, first_t_s = ?, last_t_s = ? "
                "WHERE id = ?",
                (time.time(), first_t, last_t, self.session_id),
            )
            if status is not None:
                conn.execute(
                    "UPDATE sessions SET status = ?, ended_utc = ? WHERE id = ?",
                    (status.value, _utc_now(), self.session_id),
                )
            conn.commit()
        except sqlite3.Error:
            conn.rollback()
            raise

    # -- lifecycle ---------------------------------------------------------------------

    def stats(self) -> RecorderStats:
        with self._lock:
            return self._stats_locked()

    def close(self, status: SessionStatus | str = SessionStatus.COMPLETE) -> RecorderStats:
        """Write everything pending, mark the session ``status`` and release the store."""
        st = SessionStatus(status)
        with self._lock:
            if self._closed:
                return self._stats_locked()
            self._closed = True
        self._stop.set()
        self._wake.set()
        self._thread.join()
        # If this last write fails the session stays 'recording' and reads as interrupted.
        self._write_batch(status=st)
        with contextlib.suppress(sqlite3.Error):
            # Fold the write-ahead log into the database and shrink it.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()
        return self.stats()

    def _stats_locked(self) -> RecorderStats:
        # Caller holds self._lock.
        return RecorderStats(
            self._items,
            self._chunks,
            self._samples,
            self._errors,
            self._dropped.get("chunks", 0),
            self._rejected,
            self._last_error,
            dict(self._dropped),
        )

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(SessionStatus.COMPLETE if exc_type is None else SessionStatus.FAILED)

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # From asyncio: the final write and checkpoint run in a worker thread, and the session
        # is closed even when the task is cancelled (shielded).
        ok = exc_type is None or issubclass(exc_type, asyncio.CancelledError)
        status = SessionStatus.COMPLETE if ok else SessionStatus.FAILED
        await asyncio.shield(asyncio.to_thread(self.close, status))


__all__ = [
    "STRIDE_COLUMNS",
    "ImuScale",
    "Recorder",
    "RecorderStats",
    "SessionExistsError",
    "new_session_id",
]
