"""FIT activity export of a session with ``fit-tool`` (BSD-3-Clause: an open encoder we may
ship; Garmin's own SDK is under a licence that forbids redistribution).

One record per second with strides: distance, speed, running cadence (FIT's ``cadence`` is
strides per minute with ``fractional_cadence``; watches show twice that as steps per minute),
and the running dynamics FIT has fields for: stance time, stance time balance and step
length. A lap per kilometre (and the rest), each with its averages, a session with the run's
averages, device info of both pods, and the timer paused during every gap in the data (so
moving time and average pace leave them out). An empty session is refused.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from gaitcoach.metrics import median_of, symmetry_pct
from gaitcoach.session.store import SessionData
from gaitcoach.session.summary import distance_track
from gaitcoach.types import Activity, Foot, StrideRecord

MIN_GAP_S = 3.0
"""A pause in the strides (or a reported gap in the data) this long stops the timer."""


class FitExportError(ValueError):
    """The session cannot be written as an activity (no running or walking strides)."""


@dataclass(frozen=True, slots=True)
class _Block:
    """A stretch of strides without a pause: the timer runs from start to end."""

    start_s: float
    end_s: float


def _blocks(strides: Sequence[StrideRecord], gaps: Sequence[tuple[float, float]]) -> list[_Block]:
    out: list[_Block] = []
    start = prev = strides[0].ic_s
    for s in strides:
        paused = s.ic_s - prev >= MIN_GAP_S or any(
            g0 < s.ic_s and g1 > prev and g1 - g0 >= MIN_GAP_S for g0, g1 in gaps
        )
        if paused:
            out.append(_Block(start, prev))
            start = s.ic_s
        prev = max(prev, s.end_ic_s)
    out.append(_Block(start, prev))
    return out


def fit_bytes(data: SessionData) -> bytes:
    """The session as a FIT activity file; :class:`FitExportError` when it has no strides."""
    from fit_tool.fit_file_builder import FitFileBuilder
    from fit_tool.profile.messages.activity_message import ActivityMessage
    from fit_tool.profile.messages.device_info_message import DeviceInfoMessage
    from fit_tool.profile.messages.event_message import EventMessage
    from fit_tool.profile.messages.file_id_message import FileIdMessage
    from fit_tool.profile.messages.lap_message import LapMessage
    from fit_tool.profile.messages.record_message import RecordMessage
    from fit_tool.profile.messages.session_message import SessionMessage
    from fit_tool.profile.profile_type import (
        Activity as FitActivity,
    )
    from fit_tool.profile.profile_type import (
        Event,
        EventType,
        FileType,
        Manufacturer,
        Sport,
        SubSport,
    )

    strides = sorted(
        (s for s in data.strides if s.activity is not Activity.STANDING), key=lambda s: s.end_ic_s
    )
    if not strides:
        raise FitExportError(
            f"session {data.info.id} has no running or walking strides: nothing to export"
        )
    start = datetime.fromisoformat(data.info.started_utc)
    t0 = min(strides[0].ic_s, data.info.first_t_s if data.info.first_t_s is not None else math.inf)
    start_ms = start.timestamp() * 1000.0

    def ms(t_s: float) -> int:
        return round(start_ms + (t_s - t0) * 1000.0)

    gaps = [(g.start_s, g.end_s) for g in data.gaps]
    blocks = _blocks(strides, gaps)
    times, dist = distance_track(strides)

    def distance_at(t_s: float) -> float:
        return float(np.interp(t_s, times, dist, left=0.0)) if times.size else 0.0

    b = FitFileBuilder(auto_define=True, min_string_size=50)
    fid = FileIdMessage()
    fid.type = FileType.ACTIVITY
    fid.manufacturer = Manufacturer.DEVELOPMENT.value
    fid.product = 1
    fid.time_created = ms(t0)
    fid.serial_number = 0x6A7E0001
    b.add(fid)
    for index, foot in enumerate((Foot.LEFT, Foot.RIGHT)):
        dev = DeviceInfoMessage()
        dev.timestamp = ms(t0)
        dev.device_index = index + 1
        dev.manufacturer = Manufacturer.DEVELOPMENT.value
        dev.product_name = f"gaitcoach footpod {foot.value}"
        b.add(dev)

    def event(t_s: float, kind: Any) -> None:
        e = EventMessage()
        e.timestamp = ms(t_s)
        e.event = Event.TIMER
        e.event_type = kind
        b.add(e)

    by_second: dict[int, list[StrideRecord]] = defaultdict(list)
    for s in strides:
        by_second[math.floor(s.end_ic_s - t0)].append(s)
    seconds = sorted(by_second)
    for i, block in enumerate(blocks):
        event(block.start_s, EventType.START)
        for sec in seconds:
            if not block.start_s - 1.0 <= t0 + sec <= block.end_s:
                continue
            group = by_second[sec]
            r = RecordMessage()
            r.timestamp = ms(t0 + sec)
            r.distance = distance_at(max(s.end_ic_s for s in group))
            speed = median_of(group, "speed_mps")
            if speed is not None:
                r.speed = speed
            strides_pm = float(statistics.median(s.cadence_spm for s in group)) / 2.0
            r.cadence = int(strides_pm)
            r.fractional_cadence = strides_pm - int(strides_pm)
            r.stance_time = 1000.0 * statistics.median(s.contact_time_s for s in group)
            length = median_of(group, "stride_length_m")
            if length is not None:
                r.step_length = 1000.0 * length / 2.0
            balance = _balance(group)
            if balance is not None:
                r.stance_time_balance = balance
            b.add(r)
        event(block.end_s, EventType.STOP_ALL if i == len(blocks) - 1 else EventType.STOP)

    laps = _laps(strides, blocks, distance_at)
    for index, lap in enumerate(laps):
        m = LapMessage()
        m.message_index = index
        _totals(m, lap, ms, distance_at)
        m.event = Event.LAP
        m.event_type = EventType.STOP
        m.sport = Sport.RUNNING
        b.add(m)
    all_strides = _Lap(strides, blocks, blocks[0].start_s, blocks[-1].end_s)
    sess = SessionMessage()
    sess.message_index = 0
    _totals(sess, all_strides, ms, distance_at)
    sess.event = Event.SESSION
    sess.event_type = EventType.STOP
    sess.sport = Sport.RUNNING
    sess.sub_sport = SubSport.GENERIC
    sess.first_lap_index = 0
    sess.num_laps = len(laps)
    b.add(sess)
    act = ActivityMessage()
    act.timestamp = ms(all_strides.end_s)
    act.num_sessions = 1
    act.total_timer_time = all_strides.timer_s
    act.type = FitActivity.MANUAL
    act.event = Event.ACTIVITY
    act.event_type = EventType.STOP
    b.add(act)
    return bytes(b.build().to_bytes())


@dataclass
class _Lap:
    strides: list[StrideRecord]
    blocks: list[_Block]
    start_s: float
    end_s: float

    @property
    def timer_s(self) -> float:
        """Time the timer ran within the lap (pauses left out)."""
        return sum(
            max(0.0, min(b.end_s, self.end_s) - max(b.start_s, self.start_s)) for b in self.blocks
        )


def _laps(strides: list[StrideRecord], blocks: list[_Block], distance_at: Any) -> list[_Lap]:
    """One lap per full kilometre, and the rest."""
    laps: list[_Lap] = []
    start = blocks[0].start_s
    km = 1
    current: list[StrideRecord] = []
    for s in strides:
        current.append(s)
        if distance_at(s.end_ic_s) >= 1000.0 * km:
            laps.append(_Lap(current, blocks, start, s.end_ic_s))
            start, current, km = s.end_ic_s, [], km + 1
    if current:
        laps.append(_Lap(current, blocks, start, blocks[-1].end_s))
    return laps


def _balance(strides: Sequence[StrideRecord]) -> float | None:
    left = median_of([s for s in strides if s.foot is Foot.LEFT], "contact_time_s")
    right = median_of([s for s in strides if s.foot is Foot.RIGHT], "contact_time_s")
    return symmetry_pct(left, right)


def _totals(m: Any, lap: _Lap, ms: Any, distance_at: Any) -> None:
    """Times, distance and averages of a lap or the session (FIT running dynamics units)."""
    m.timestamp = ms(lap.end_s)
    m.start_time = ms(lap.start_s)
    m.total_elapsed_time = lap.end_s - lap.start_s
    m.total_timer_time = lap.timer_s
    distance = distance_at(lap.end_s) - distance_at(lap.start_s)
    m.total_distance = distance
    if lap.timer_s > 0:
        m.avg_speed = distance / lap.timer_s
    speeds = [s.speed_mps for s in lap.strides if s.speed_mps is not None]
    if speeds:
        m.max_speed = max(speeds)
    cadence = statistics.median(s.cadence_spm for s in lap.strides) / 2.0
    m.avg_running_cadence = int(cadence)
    m.avg_fractional_cadence = cadence - int(cadence)
    m.max_running_cadence = int(max(s.cadence_spm for s in lap.strides) / 2.0)
    m.total_strides = len({(s.foot, s.index) for s in lap.strides}) // 2
    m.avg_stance_time = 1000.0 * statistics.median(s.contact_time_s for s in lap.strides)
    balance = _balance(lap.strides)
    if balance is not None:
        m.avg_stance_time_balance = balance
    length = median_of(lap.strides, "stride_length_m")
    if length is not None:
        m.avg_step_length = 1000.0 * length / 2.0


def export_fit(data: SessionData, path: Path) -> int:
    """Write the FIT file; returns the number of strides it covers."""
    path.write_bytes(fit_bytes(data))
    return len(data.strides)
