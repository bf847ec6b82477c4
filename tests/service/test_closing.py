"""Closing a session never holds the event loop, and its summary and report are linear in
strides (same results as the full scans they replace)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from gaitcoach.metrics import median_of
from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import Service
from gaitcoach.session import SessionStatus
from gaitcoach.session.report import _rolling_median
from gaitcoach.session.summary import summarize
from gaitcoach.types import CueKind
from tests.session import factory
from tests.session.test_summary import record


def test_rolling_median_matches_the_window_definition() -> None:
    rng = np.random.default_rng(4)
    t = np.cumsum(rng.choice([0.0, 0.3, 0.35, 2.0, 40.0], 3000))  # ties and long pauses
    v = rng.integers(0, 20, t.size).astype(np.float64)  # many equal values
    idx = np.arange(t.size)
    want = np.array([np.median(v[(t[i] - t <= 30.0) & (idx <= i)]) for i in range(t.size)])
    assert np.array_equal(_rolling_median(t, v), want)


def test_splits_and_cue_effects_match_a_full_scan(tmp_path: Path) -> None:
    strides = factory.strides(factory.FATIGUING, 25.0, seed=2)
    cues = [factory.cue(CueKind.STRIDE, 30.0 * k, {"overstride_m": 0.2}, k) for k in range(40)]
    cues += [
        factory.cue(CueKind.CADENCE, 30.0 * k + 7, {"cadence_spm": 160.0}, k) for k in range(40)
    ]
    data = record(tmp_path, strides, cues)
    summary = summarize(data)
    t0 = min(s.ic_s for s in data.strides)
    for effect, cue in zip(summary.cues, data.cues, strict=True):
        assert effect.metric is not None
        t = cue.created_s
        before = [s for s in data.strides if t - 30.0 <= s.ic_s < t]
        after = [s for s in data.strides if t + 5.0 <= s.ic_s < t + 35.0]
        assert effect.before == median_of(before, effect.metric)
        assert effect.after == median_of(after, effect.metric)
    running = [s for s in data.strides if s.activity.value == "running"]
    assert len(summary.splits_minute) > 20 and len(summary.splits_km) > 3
    for split in [*summary.splits_minute, *summary.splits_km]:
        a, b = split.start_s + t0, split.end_s + t0
        inside = [s for s in running if a <= s.ic_s < b]
        for name, value in split.medians.items():
            assert value == median_of(inside, name), (split.kind, split.index, name)


async def test_closing_a_long_session_leaves_the_loop_running(tmp_path: Path) -> None:
    """The loop keeps turning while a two-hour session is written and summarised (once
    everything ran inside the loop: seconds without cues, metrics or link)."""
    cfg = config_from_dict(
        {"runner": {"id": "ann", "height_m": 1.7}, "session": {"data_dir": str(tmp_path)}}
    )
    svc = Service(cfg)
    svc._open_session(None, svc._new_recorder(None))
    assert svc.recorder is not None
    for s in factory.strides(factory.FATIGUING, 120.0):
        svc.recorder.add_stride(s)
    turns = 0

    async def heartbeat() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0.005)
            turns += 1

    beat = asyncio.create_task(heartbeat())
    closing = svc._close_session(SessionStatus.COMPLETE)
    assert closing is not None and not closing.done()
    while not closing.done():
        await asyncio.sleep(0.005)
    turned_while_closing = turns
    beat.cancel()
    closed = await closing
    await svc.wait_closed()
    assert turned_while_closing > 10, "the loop stood still while the session closed"
    assert closed.summary is not None and svc.last_summary == closed.summary
    assert svc.report_path is not None and svc.report_path.read_text().count("data:image/png") == 5
