"""Replay: the live path (:class:`~gaitcoach.service.pipeline.Pipeline`, gait engine and
coach) over a session's stored raw samples, with the configuration the session recorded,
faster than real time.

Chunks and gaps are pushed in the order they were recorded, so the engine sees exactly what
it saw live (the raw store is lossless) and must emit the same stride records. A complete
session is finished (``finish()``) as the live service does at the end of a run; an
interrupted one is not, and its stored strides must be a prefix of the replayed ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gaitcoach.errors import ConfigError
from gaitcoach.recording import RecordingError, load_recording
from gaitcoach.session.recorder import ImuScale, Recorder
from gaitcoach.session.store import SessionData, SessionError, SessionStatus, SessionStore
from gaitcoach.types import Gap, ImuChunk, StrideRecord

if TYPE_CHECKING:
    from gaitcoach.service.config import ServiceConfig
    from gaitcoach.service.pipeline import Pipeline


def session_pipeline(data: SessionData) -> Pipeline:
    """The pipeline the session ran: its recorded ``[runner]``, ``[coach]`` and ``[gait]``."""
    # Imported here: the service package imports the session package.
    from gaitcoach.service.config import config_from_record
    from gaitcoach.service.pipeline import Pipeline

    try:
        config = config_from_record(data.config, data.info.leg_length_m)
    except ConfigError as exc:
        first = str(exc).splitlines()[0]
        raise SessionError(f"session {data.info.id}: its recorded config ({first})") from None
    return Pipeline(config)


def _finish(pipeline: Pipeline) -> list[StrideRecord]:
    try:
        return pipeline.finish().strides
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
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Replay session ``ref``; ``progress(samples_done, samples_total)`` after each chunk."""
    data = store.load(ref)
    sid = data.info.id
    _, total = store.raw_count(sid)
    if total == 0:
        raise SessionError(f"session {sid} has no raw samples to replay")
    pipeline = session_pipeline(data)
    out: list[StrideRecord] = []
    done = chunks = rejected = 0
    t_first = t_last = None
    started = time.perf_counter()
    for item in store.iter_raw(sid):
        if isinstance(item, Gap):
            out.extend(pipeline.on_gap(item).strides)
            continue
        try:
            out.extend(pipeline.on_chunk(item).strides)
        except ValueError:
            # The live service counts and skips a chunk the engine refuses: so does replay.
            rejected += 1
        chunks += 1
        done += len(item)
        finite = item.t_s[np.isfinite(item.t_s)]  # a bad timestamp is stored as it came
        if finite.size:
            t0, t1 = float(finite.min()), float(finite.max())
            t_first = t0 if t_first is None else min(t_first, t0)
            t_last = t1 if t_last is None else max(t_last, t1)
        if progress is not None:
            progress(done, total)
    finished = data.info.status is SessionStatus.COMPLETE
    if finished:
        out.extend(_finish(pipeline))
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
    config: ServiceConfig | None = None,
    packet_samples: int = 13,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Run the live pipeline (``config``: the runner's, else the defaults) over a recording
    (``docs/recording-format.md``) as if it streamed live, in packet-sized chunks of both feet
    in time order, and record it as a new session with that configuration. Returns the
    session id."""
    from gaitcoach.service.config import ServiceConfig, config_record
    from gaitcoach.service.pipeline import Pipeline

    config = config or ServiceConfig()
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
    record = {**config_record(config), "imported_from": str(recording_dir), "recording": rec.meta}
    pipeline = Pipeline(config)
    runner = config.runner.id
    leg = config.runner.leg_length_or_estimate_m
    with Recorder(data_dir, config=record, runner=runner, scales=scales, leg_length_m=leg) as out:
        done = 0
        for p in packets:
            out.add_chunk(p)
            try:
                strides = pipeline.on_chunk(p).strides
            except ValueError:
                strides = []
            for s in strides:
                out.add_stride(s)
            done += len(p)
            if progress is not None:
                progress(done, total)
        for s in _finish(pipeline):
            out.add_stride(s)
        return out.session_id
