"""Replay: run the gait engine over a session's stored raw samples, faster than real time.

Chunks and gaps are pushed in the order they were recorded, so the engine sees exactly what
it saw live (the raw store is lossless) and must emit the same stride records. A complete
session is finished (``finish()``) as the live service does at the end of a run; an
interrupted one is not, and its stored strides must be a prefix of the replayed ones.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gaitcoach.session.recorder import ImuScale, Recorder
from gaitcoach.session.store import (
    SessionData,
    SessionError,
    SessionInfo,
    SessionStatus,
    SessionStore,
)
from gaitcoach.types import Gap, ImuChunk, StrideRecord


class StrideAnalyzer(Protocol):
    """The gait engine's streaming interface (``gaitcoach.gait.GaitAnalyzer``)."""

    def push(self, chunk: ImuChunk) -> list[StrideRecord]: ...

    def push_gap(self, gap: Gap) -> list[StrideRecord] | None: ...

    def finish(self) -> list[StrideRecord]: ...


AnalyzerFactory = Callable[[SessionData], StrideAnalyzer]


def default_analyzer(data: SessionData) -> StrideAnalyzer:
    """The gait engine with the session's leg length and default gait settings."""
    try:
        # Imported at call time: the session tools work without the engine installed.
        gait = importlib.import_module("gaitcoach.gait")
        cls = gait.GaitAnalyzer
    except (ImportError, AttributeError) as exc:
        raise SessionError(f"the gait engine is not available ({exc})") from exc
    analyzer: StrideAnalyzer = cls(leg_length_m=data.info.leg_length_m)
    return analyzer


def _finish(analyzer: StrideAnalyzer) -> list[StrideRecord]:
    try:
        return analyzer.finish()
    except ValueError:
        # As live: an engine error at the end loses the held strides, not the session.
        return []


@dataclass(frozen=True, slots=True)
class ReplayResult:
    session_id: str
    strides: list[StrideRecord]
    stored: int
    chunks: int
    samples: int
    data_s: float
    """Span of the replayed samples (s)."""
    wall_s: float
    matched: int
    """Leading replayed strides identical to the stored ones."""
    finished: bool
    """The session ended normally, so the engine was finished and all strides must match."""
    rejected_chunks: int
    """Chunks the engine refused (as live, they are skipped)."""

    @property
    def speed_x(self) -> float:
        return self.data_s / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def reproduces(self) -> bool:
        """Every stored stride is reproduced exactly, in order (and no more when finished)."""
        return self.matched == self.stored and (
            not self.finished or len(self.strides) == self.stored
        )


def replay(
    store: SessionStore,
    ref: str,
    analyzer_factory: AnalyzerFactory = default_analyzer,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Replay session ``ref``; ``progress(samples_done, samples_total)`` after each chunk."""
    data = store.load(ref)
    sid = data.info.id
    _, total = store.raw_count(sid)
    if total == 0:
        raise SessionError(f"session {sid} has no raw samples to replay")
    analyzer = analyzer_factory(data)
    out: list[StrideRecord] = []
    done = chunks = rejected = 0
    t_first = t_last = None
    started = time.perf_counter()
    for item in store.iter_raw(sid):
        if isinstance(item, Gap):
            out.extend(analyzer.push_gap(item) or [])
            continue
        try:
            out.extend(analyzer.push(item))
        except ValueError:
            # The live service counts and skips a chunk the engine refuses: so does replay.
            rejected += 1
        chunks += 1
        done += len(item)
        t0, t1 = float(item.t_s[0]), float(item.t_s[-1])
        t_first = t0 if t_first is None else min(t_first, t0)
        t_last = t1 if t_last is None else max(t_last, t1)
        if progress is not None:
            progress(done, total)
    finished = data.info.status is SessionStatus.COMPLETE
    if finished:
        out.extend(_finish(analyzer))
    wall = time.perf_counter() - started
    matched = 0
    for a, b in zip(data.strides, out, strict=False):
        if a != b:
            break
        matched += 1
    return ReplayResult(
        session_id=sid,
        strides=out,
        stored=len(data.strides),
        chunks=chunks,
        samples=done,
        data_s=(t_last - t_first) if t_first is not None and t_last is not None else 0.0,
        wall_s=wall,
        matched=matched,
        finished=finished,
        rejected_chunks=rejected,
    )


def _packets(chunk: ImuChunk, samples: int) -> list[ImuChunk]:
    return [chunk.slice(i, i + samples) for i in range(0, len(chunk), samples)]


def import_recording(
    recording_dir: Path,
    data_dir: Path,
    runner: str = "default",
    packet_samples: int = 13,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Run the gait engine over a simulator recording (``docs/recording-format.md``) as if it
    streamed live, in packet-sized chunks of both feet in time order, and record it as a new
    session. Returns the session id."""
    try:
        from firmware_sim.recording import RecordingError, load_recording
    except ImportError as exc:
        raise SessionError(f"cannot read simulator recordings ({exc})") from exc
    try:
        rec = load_recording(recording_dir)
    except RecordingError as exc:
        raise SessionError(str(exc)) from exc
    packets = [p for c in rec.imu.values() for p in _packets(c, packet_samples)]
    packets.sort(key=lambda p: (float(p.t_s[-1]), p.foot.value))
    total = sum(len(p) for p in packets)
    lsb = (rec.meta.get("acc_lsb_mps2"), rec.meta.get("gyr_lsb_radps"))
    scales = (
        {f: ImuScale(float(lsb[0]), float(lsb[1])) for f in rec.imu} if lsb[0] and lsb[1] else None
    )
    config = {"imported_from": str(recording_dir), "recording": rec.meta}
    with Recorder(data_dir, config=config, runner=runner, scales=scales) as recorder:
        session = SessionData(_info_stub(recorder.session_id, runner), {}, [], [], [], [], [], [])
        analyzer = default_analyzer(session)
        done = 0
        for p in packets:
            recorder.add_chunk(p)
            try:
                strides = analyzer.push(p)
            except ValueError:
                strides = []
            for s in strides:
                recorder.add_stride(s)
            done += len(p)
            if progress is not None:
                progress(done, total)
        for s in _finish(analyzer):
            recorder.add_stride(s)
        return recorder.session_id


def _info_stub(session_id: str, runner: str) -> SessionInfo:
    return SessionInfo(session_id, runner, "", SessionStatus.RECORDING, None, None, None, 0, None)
