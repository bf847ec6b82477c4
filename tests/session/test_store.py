"""Codec, store and recorder against real files (SQLite on disk, read back)."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from gaitcoach.session.codec import (
    ENC_COUNTS,
    ENC_F32,
    ENC_F64,
    CodecError,
    EncodedBlock,
    decode_samples,
    decode_times,
    encode_samples,
    encode_times,
    pack_blocks,
    unpack_blocks,
)
from gaitcoach.session.recorder import ImuScale, Recorder
from gaitcoach.session.store import (
    DB_NAME,
    FORMAT_VERSION,
    FormatVersionError,
    SessionError,
    SessionStatus,
    SessionStore,
    StorageError,
    check_storage,
)
from gaitcoach.types import CueKind, Foot, Gap, ImuChunk, LinkEvent, LinkState
from tests.session import factory

SCALES = {f: ImuScale(factory.ACC_LSB, factory.GYR_LSB) for f in (Foot.LEFT, Foot.RIGHT)}


def test_times_round_trip_bit_exact() -> None:
    rng = np.random.default_rng(1)
    for t in (
        1.7e9 + np.arange(500) / 208.0,
        1.7e9 + np.cumsum(rng.uniform(0.001, 0.02, 300)),
        np.array([5.0]),
        np.array([0.0, 1e-300, 3.5, 1e12]),
    ):
        out = decode_times(encode_times(t), len(t))
        assert out.tobytes() == t.tobytes()


def test_samples_counts_are_exact_and_compact() -> None:
    c = factory.chunk(Foot.LEFT, 100.0, 416)
    block = encode_samples(c.acc_mps2, factory.ACC_LSB)
    assert block.encoding == ENC_COUNTS
    assert decode_samples(block, 416).tobytes() == c.acc_mps2.tobytes()
    assert len(block.payload) < 416 * 3 * 2  # smaller than the raw int16 counts
    # Without a given scale the LSB is inferred, still exact.
    inferred = encode_samples(c.gyr_radps)
    assert decode_samples(inferred, 416).tobytes() == c.gyr_radps.tobytes()


def _zlib_bomb(inflated_mb: int) -> bytes:
    """A small zlib stream of ``inflated_mb`` MB of zeros (built without holding them)."""
    c = zlib.compressobj(9)
    zeros = b"\0" * (1 << 20)
    return b"".join(c.compress(zeros) for _ in range(inflated_mb)) + c.flush()


def test_a_decompression_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    bomb = _zlib_bomb(64)
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(CodecError):
            decode_times(bomb, 1)
        with pytest.raises(CodecError):
            decode_samples(EncodedBlock(ENC_COUNTS, factory.ACC_LSB, bomb), 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, f"inflated {peak / 1e6:.0f} MB before refusing"
    # Truncated and over-long streams are corrupt as before.
    good = encode_times(np.arange(10) / 208.0)
    with pytest.raises(CodecError, match="truncated"):
        decode_times(good[:-4], 10)
    with pytest.raises(CodecError, match="more than the expected"):
        decode_times(good, 9)

    # In a stored block (valid header and checksum): reading the raw data is one corrupt-block
    # error, not gigabytes of memory or a MemoryError.
    with Recorder(tmp_path, scales=SCALES) as rec:
        rec.add_chunk(factory.chunk(Foot.LEFT, 0.0, 21, seed=1))
    conn = sqlite3.connect(tmp_path / DB_NAME)
    ((payload,),) = conn.execute("SELECT payload FROM chunks")
    _, acc, gyr = unpack_blocks(payload)
    blocks = (EncodedBlock(ENC_COUNTS, 1.0, acc), EncodedBlock(ENC_COUNTS, 1.0, gyr))
    hostile = pack_blocks(bomb, *blocks)  # the payloads only: header, lengths, checksum
    conn.execute("UPDATE chunks SET payload = ?", (hostile,))
    conn.commit()
    conn.close()
    tracemalloc.start()
    try:
        with SessionStore(tmp_path) as store:
            sid = store.list_sessions()[0].id
            with pytest.raises(SessionError, match="raw block 0 is corrupt"):
                list(store.iter_raw(sid))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, f"inflated {peak / 1e6:.0f} MB before refusing"


def test_samples_fall_back_to_exact_floats() -> None:
    rng = np.random.default_rng(2)
    f32 = rng.normal(0, 9, (50, 3)).astype(np.float32).astype(np.float64)
    f64 = rng.normal(0, 9, (50, 3))
    f64[3, 1] = np.nan
    b32, b64 = encode_samples(f32, 0.01), encode_samples(f64, 0.01)
    assert (b32.encoding, b64.encoding) == (ENC_F32, ENC_F64)
    assert decode_samples(b32, 50).tobytes() == f32.tobytes()
    assert decode_samples(b64, 50).tobytes() == f64.tobytes()


def _record_everything(data_dir: Path) -> tuple[str, list[ImuChunk], list[object]]:
    chunks = [factory.chunk(f, 10.0 + i * 0.1, 21, seed=i) for i in range(40) for f in Foot][:80]
    chunks = [c for c in chunks if c.foot is not Foot.UNKNOWN]
    strides = factory.strides(factory.EFFICIENT, 0.5)
    with Recorder(data_dir, config={"runner": {"leg_length_m": 0.9}}, scales=SCALES) as rec:
        for c in chunks[:10]:
            rec.add_chunk(c)
        rec.add_gap(Gap(Foot.LEFT, 11.0, 11.2, 41))
        for c in chunks[10:]:
            rec.add_chunk(c)
        for s in strides:
            rec.add_stride(s)
        rec.add_cue(factory.cue(CueKind.CADENCE, 12.0, {"cadence_spm": 160.0}))
        rec.add_command(12.5, "pause", {"why": "traffic"})
        rec.add_event(LinkEvent(13.0, Foot.RIGHT, "AA:BB", LinkState.STREAMING, rssi_dbm=-60))
        rec.add_discomfort(factory.discomfort(14.0, 3))
        sid = rec.session_id
    return sid, chunks, list(strides)


def test_recorder_round_trip(tmp_path: Path) -> None:
    sid, chunks, strides = _record_everything(tmp_path)
    with SessionStore(tmp_path) as store:
        [info] = store.list_sessions()
        assert info.id == sid and info.status is SessionStatus.COMPLETE
        data = store.load(sid[:10])
        assert data.strides == strides
        assert data.config == {"runner": {"leg_length_m": 0.9}}
        assert [c.kind for c in data.cues] == [CueKind.CADENCE]
        assert data.commands[0].args == {"why": "traffic"}
        assert data.events[0].rssi_dbm == -60 and data.discomfort[0].score == 3
        raw = list(store.iter_raw(sid))
        assert isinstance(raw[10], Gap)
        replayed = [r for r in raw if isinstance(r, ImuChunk)]
        assert len(replayed) == len(chunks)
        for a, b in zip(replayed, chunks, strict=True):
            assert a.foot is b.foot
            assert a.t_s.tobytes() == b.t_s.tobytes()
            assert a.acc_mps2.tobytes() == b.acc_mps2.tobytes()
            assert a.gyr_radps.tobytes() == b.gyr_radps.tobytes()


def test_unknown_session_and_newer_version(tmp_path: Path) -> None:
    _record_everything(tmp_path)
    conn = sqlite3.connect(tmp_path / DB_NAME)
    # A new store carries its format version, so a later format can tell it apart.
    assert conn.execute("PRAGMA user_version").fetchone()[0] == FORMAT_VERSION
    assert conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchall() == [
        (str(FORMAT_VERSION),)
    ]
    conn.close()
    store = SessionStore(tmp_path)
    with pytest.raises(SessionError, match="unknown session 'nope'"):
        store.load("nope")
    store.close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version={FORMAT_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(FormatVersionError, match="newer than the supported"):
        SessionStore(tmp_path).list_sessions()
    with pytest.raises(FormatVersionError):
        Recorder(tmp_path)


def test_corrupt_store_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SessionError, match="corrupt or not a database"):
        SessionStore(tmp_path).list_sessions()


def test_read_only_or_full_directory_fails_at_start(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:
        # root writes anywhere: check in a child that drops to an unprivileged user (in a
        # directory it can reach: pytest's tmp root is private).
        base = Path(tempfile.mkdtemp(prefix="gaitcoach-ro-"))
        base.chmod(0o755)
        ro = base / "ro"
        ro.mkdir(mode=0o555)
        code = (
            "import sys\n"
            "from gaitcoach.session.recorder import Recorder\n"
            "from gaitcoach.session.store import StorageError\n"
            "import os\nos.setgid(65534); os.setuid(65534)\n"
            "try:\n    Recorder(sys.argv[1])\n"
            "except StorageError as exc:\n    print(exc); sys.exit(3)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, str(ro)],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parents[2],
            timeout=60,
        )
        shutil.rmtree(base)
        assert proc.returncode == 3, proc.stderr
        assert "is not writable" in proc.stdout
    else:
        with pytest.raises(StorageError, match="not writable"):
            Recorder(ro)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot be created"):
        Recorder(blocker / "data")
    with pytest.raises(StorageError, match="MB free"):
        Recorder(tmp_path / "ok", min_free_bytes=1 << 62)


def test_bad_input_is_counted_not_fatal(tmp_path: Path) -> None:
    with Recorder(tmp_path) as rec:
        rec.add_command(1.0, "set", {"bad": object()})
        rec.add_command(2.0, "set", {"ok": 1})
        rec.flush()
        stats = rec.stats()
    assert stats.rejected == 1 and stats.last_error and "command" in stats.last_error
    with SessionStore(tmp_path) as store:
        assert [c.args for c in store.load("latest").commands] == [{"ok": 1}]


def test_session_left_recording_reads_interrupted(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, flush_interval_s=0.05)
    rec.add_stride(factory.strides(factory.EFFICIENT, 0.1)[0])
    rec.flush()
    with SessionStore(tmp_path) as store:
        assert store.list_sessions()[0].status is SessionStatus.RECORDING
    # The writer's pid is gone and its heartbeat stale: as after kill -9.
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("UPDATE sessions SET pid = 999999999, heartbeat_wall_s = 0")
    conn.commit()
    conn.close()
    with SessionStore(tmp_path) as store:
        [info] = store.list_sessions()
        assert info.status is SessionStatus.INTERRUPTED and info.n_strides == 1
    rec.close()


def test_disk_full_mid_run_is_counted_retried_and_loses_nothing(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, scales=SCALES, flush_interval_s=0.05)
    first = [factory.chunk(Foot.LEFT, i * 0.1, 21, seed=i) for i in range(5)]
    for c in first:
        rec.add_chunk(c)
    rec.flush()
    # SQLite's own size limit gives the real SQLITE_FULL "database or disk is full".
    pages = rec._conn.execute("PRAGMA page_count").fetchone()[0]
    rec._conn.execute(f"PRAGMA max_page_count = {pages}")
    more = [factory.chunk(Foot.LEFT, 1.0 + i * 0.1, 21, seed=100 + i) for i in range(400)]
    for c in more:
        rec.add_chunk(c)  # never raises: the service keeps running
    rec.flush()
    stats = rec.stats()
    assert stats.write_errors >= 1 and stats.last_error and "full" in stats.last_error
    rec._conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    rec.flush()
    stats = rec.close()
    assert stats.dropped_chunks == 0 and stats.chunks_written == 405
    with SessionStore(tmp_path) as store:
        info = store.list_sessions()[0]
        assert info.status is SessionStatus.COMPLETE
        got = list(store.iter_raw(info.id))
    assert len(got) == 405
    for a, b in zip(got, first + more, strict=True):
        assert isinstance(a, ImuChunk) and a.t_s.tobytes() == b.t_s.tobytes()
        assert a.acc_mps2.tobytes() == b.acc_mps2.tobytes()


def test_backlog_is_bounded_for_every_kind_and_drops_are_counted(tmp_path: Path) -> None:
    # The writer is behind (no flush runs): gaps, strides, events, commands, cues and
    # discomfort reports are held within max_pending_items, like raw chunks; the oldest go.
    rec = Recorder(tmp_path, scales=SCALES, flush_interval_s=3600.0, max_pending_items=100)
    strides = factory.strides(factory.EFFICIENT, 1.0)
    added: list[str] = []
    for i in range(150):
        rec.add_gap(Gap(Foot.LEFT, float(i), i + 0.5, 104, "packet loss"))
        rec.add_stride(strides[i])
        rec.add_event(LinkEvent(float(i), Foot.RIGHT, "AA:BB", LinkState.STREAMING, "", -60, 90))
        rec.add_command(float(i), "mute", {"i": i})
        rec.add_cue(factory.cue(CueKind.CADENCE, float(i), {"cadence_spm": 160.0}, n=i))
        rec.add_discomfort(factory.discomfort(float(i), 3))
        added += ["gaps", "strides", "events", "commands", "cues", "discomfort"]
    stats = rec.close()
    kept = added[-100:]
    with SessionStore(tmp_path) as store:
        data = store.load("latest")
    # The newest items are the ones kept.
    assert [c.args["i"] for c in data.commands] == list(range(150 - kept.count("commands"), 150))
    assert len(data.gaps) == kept.count("gaps") and data.gaps[-1].start_s == 149.0
    assert len(data.strides) == kept.count("strides") and data.strides[-1] == strides[149]
    assert len(data.events) == kept.count("events") and len(data.cues) == kept.count("cues")
    assert len(data.discomfort) == kept.count("discomfort")
    assert stats.dropped == {k: 150 - kept.count(k) for k in set(added)}
    assert stats.dropped_chunks == 0 and stats.items_written == 100


def test_raw_chunks_are_dropped_before_other_kinds(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, scales=SCALES, flush_interval_s=3600.0, max_pending_items=50)
    for i in range(40):
        rec.add_chunk(factory.chunk(Foot.LEFT, i * 0.1, 21, seed=i))
        rec.add_gap(Gap(Foot.LEFT, i + 0.05, i + 0.06, 1, "packet loss"))
    stats = rec.close()
    assert stats.dropped == {"chunks": 30} and stats.dropped_chunks == 30
    with SessionStore(tmp_path) as store:
        sid = store.list_sessions()[0].id
        assert len(store.load(sid).gaps) == 40
        assert store.raw_count(sid) == (10, 10 * 21)


def test_a_full_disk_encodes_raw_chunks_once_and_keeps_the_backlog_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gaitcoach.session.recorder as recorder_module

    encoded: list[int] = []
    real_encode = recorder_module.encode_times

    def counting_encode(t_s: np.ndarray) -> bytes:
        encoded.append(len(t_s))
        return real_encode(t_s)

    monkeypatch.setattr(recorder_module, "encode_times", counting_encode)
    rec = Recorder(tmp_path, scales=SCALES, flush_interval_s=3600.0, max_pending_items=300)
    first = [factory.chunk(Foot.LEFT, i * 0.1, 21, seed=i) for i in range(5)]
    for c in first:
        rec.add_chunk(c)
    rec.flush()
    pages = rec._conn.execute("PRAGMA page_count").fetchone()[0]
    rec._conn.execute(f"PRAGMA max_page_count = {pages}")  # the real SQLITE_FULL
    more = [factory.chunk(Foot.LEFT, 1.0 + i * 0.1, 21, seed=100 + i) for i in range(400)]
    for c in more[:200]:
        rec.add_chunk(c)
    rec.flush()
    assert rec.stats().write_errors == 1
    after_first_try = sum(encoded)
    assert after_first_try == 5 * 21 + 200 * 21
    for c in more[200:]:
        rec.add_chunk(c)  # beyond the bound: the oldest (encoded) chunks go
    for attempt in range(3):
        rec.flush()
        assert rec.stats().write_errors == 2 + attempt
    # Each chunk was encoded once, however often the commit was retried.
    assert sum(encoded) <= after_first_try + 200 * 21
    rec._conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    stats = rec.close()
    assert stats.dropped_chunks > 0 and stats.dropped == {"chunks": stats.dropped_chunks}
    assert stats.chunks_written + stats.dropped_chunks == 405
    assert stats.chunks_written - 5 <= 300
    with SessionStore(tmp_path) as store:
        info = store.list_sessions()[0]
        got = list(store.iter_raw(info.id))
    assert len(got) == stats.chunks_written
    # What is kept is the newest, bit-exact.
    kept = first + more[len(more) - (len(got) - 5) :]
    for a, b in zip(got, kept, strict=True):
        assert isinstance(a, ImuChunk) and a.t_s.tobytes() == b.t_s.tobytes()
        assert a.gyr_radps.tobytes() == b.gyr_radps.tobytes()


def test_interleaved_feet_replay_in_recorded_order(tmp_path: Path) -> None:
    items: list[ImuChunk | Gap] = []
    for i in range(60):
        items.append(factory.chunk(Foot.LEFT, i * 0.0625, 13, seed=i))
        items.append(factory.chunk(Foot.RIGHT, i * 0.0625 + 0.001, 13, seed=1000 + i))
        if i == 30:
            items.append(Gap(Foot.RIGHT, 1.9, 2.0, 20))
    with Recorder(tmp_path, scales=SCALES, flush_interval_s=0.01) as rec:
        for k, item in enumerate(items):
            if isinstance(item, Gap):
                rec.add_gap(item)
            else:
                rec.add_chunk(item)
            if k % 7 == 0:
                time.sleep(0.003)  # flushes land at arbitrary points
    with SessionStore(tmp_path) as store:
        sid = store.list_sessions()[0].id
        got = list(store.iter_raw(sid))
        assert store.raw_count(sid) == (120, 120 * 13)
    assert len(got) == len(items)
    for a, b in zip(got, items, strict=True):
        if isinstance(b, Gap):
            assert a == b
        else:
            assert isinstance(a, ImuChunk) and a.foot is b.foot
            assert a.t_s.tobytes() == b.t_s.tobytes()
            assert a.gyr_radps.tobytes() == b.gyr_radps.tobytes()


async def test_async_with_closes_even_when_cancelled(tmp_path: Path) -> None:
    import asyncio

    async def run() -> None:
        async with Recorder(tmp_path, flush_interval_s=0.05) as rec:
            rec.add_command(1.0, "start")
            await asyncio.sleep(30)

    task = asyncio.create_task(run())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with SessionStore(tmp_path) as store:
        [info] = store.list_sessions()
        assert info.status is SessionStatus.COMPLETE
        assert [c.name for c in store.load(info.id).commands] == ["start"]


def test_a_value_sqlite_refuses_is_rejected_and_the_recording_goes_on(tmp_path: Path) -> None:
    # A NaN gap time failed the commit of its whole batch (NOT NULL), and the kept batch
    # failed again at every flush: nothing more was written, not even the final status. A
    # NaN stride time was stored as NULL, and the session no longer loaded at all.
    good = factory.strides(factory.EFFICIENT, 0.1)[0]
    with Recorder(tmp_path, flush_interval_s=0.05) as rec:
        rec.add_gap(Gap(Foot.LEFT, math.nan, 2.0, 3, "bad clock"))
        rec.add_gap(Gap(Foot.LEFT, 1.0, 2.0, 2**70, "huge"))
        rec.add_stride(dataclasses.replace(good, cadence_spm=math.nan))
        rec.add_command(math.nan, "mute", {})
        rec.add_stride(good)
        rec.add_gap(Gap(Foot.LEFT, 1.0, 2.0, 200, "link lost"))
        rec.flush()
        stats = rec.stats()
    assert stats.write_errors == 0 and stats.rejected == 4
    with SessionStore(tmp_path) as store:
        data = store.load("latest")
    assert data.info.status is SessionStatus.COMPLETE
    assert data.strides == [good] and [g.reason for g in data.gaps] == ["link lost"]


def test_recorders_made_at_once_in_one_process_both_pass_the_storage_check(
    tmp_path: Path,
) -> None:
    # The write probe was ".write-probe-<pid>": two checks at once (a start command while the
    # first session's recorder is made, both in worker threads) removed each other's probe
    # and refused a writable directory.
    errors: list[str] = []

    def check() -> None:
        for _ in range(100):
            try:
                check_storage(tmp_path, 0)
            except StorageError as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not list(tmp_path.glob(".write-probe-*"))
