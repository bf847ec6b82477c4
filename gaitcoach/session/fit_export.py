"""FIT activity export of a session (Garmin's FIT Python SDK, ``garmin-fit-sdk``).

One record per second with strides: distance, speed, running cadence (FIT's ``cadence`` is
strides per minute with ``fractional_cadence``; watches show twice that as steps per minute),
stance time, step length and stance time balance as native fields; the gait metrics FIT has no
field for as developer fields (foot strike angle, overstride, flight time, peak impact and the
cadence in steps per minute). Then lap, session and activity messages as in Garmin's activity
file recipe.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitcoach.metrics import median_of, symmetry_pct
from gaitcoach.session.store import SessionData
from gaitcoach.session.summary import distance_track
from gaitcoach.types import Activity, Foot

APP_ID: list[int | None] = list(b"gaitcoach-gait01")
"""16-byte developer application id of gaitcoach's developer fields."""

# (key, name, units, FIT base type id, StrideRecord attribute, scale to the unit)
DEV_FIELDS = (
    (0, "cadence_spm", "steps/min", 136, "cadence_spm", 1.0),
    (1, "foot_strike_angle", "deg", 136, "foot_strike_angle_deg", 1.0),
    (2, "overstride", "cm", 136, "overstride_m", 100.0),
    (3, "flight_time", "ms", 136, "flight_time_s", 1000.0),
    (4, "peak_impact", "g", 136, "peak_impact_g", 1.0),
)
# 136 = float32 in FIT's base types.


def fit_bytes(data: SessionData) -> bytes:
    """The session as a FIT activity file."""
    from garmin_fit_sdk import Encoder, Profile

    if TYPE_CHECKING:
        from garmin_fit_sdk.mesgs import DeveloperDataIdMesg, FieldDescriptionMesg
    else:
        DeveloperDataIdMesg = FieldDescriptionMesg = dict

    mesg = Profile["mesg_num"]
    strides = sorted(
        (s for s in data.strides if s.activity is not Activity.STANDING), key=lambda s: s.end_ic_s
    )
    start = datetime.fromisoformat(data.info.started_utc)
    t0 = min([s.ic_s for s in strides] + [data.info.first_t_s or math.inf])
    if not math.isfinite(t0):
        t0 = 0.0

    def when(t_s: float) -> datetime:
        return start + timedelta(seconds=t_s - t0)

    enc = Encoder()
    enc.on_mesg(
        mesg["FILE_ID"],
        {"manufacturer": "development", "product": 1, "time_created": start, "type": "activity"},
    )
    dev_id = DeveloperDataIdMesg(
        developer_data_index=0, application_id=list(APP_ID), application_version=1
    )
    enc.on_mesg(mesg["DEVELOPER_DATA_ID"], dict(dev_id))
    for key, name, units, base, _, _ in DEV_FIELDS:
        desc = FieldDescriptionMesg(
            developer_data_index=0,
            field_definition_number=key,
            fit_base_type_id=base,
            field_name=name,
            units=units,
        )
        enc.on_mesg(mesg["FIELD_DESCRIPTION"], dict(desc))
        enc.add_developer_field(key, dev_id, desc)
    enc.on_mesg(mesg["EVENT"], {"timestamp": start, "event": "timer", "event_type": "start"})

    times, dist = distance_track(strides)
    by_second: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(strides):
        by_second[math.floor(s.end_ic_s - t0)].append(i)
    for sec in sorted(by_second):
        group = [strides[i] for i in by_second[sec]]
        end = max(s.end_ic_s for s in group)
        record: dict[str, Any] = {"timestamp": start + timedelta(seconds=sec)}
        if times.size:
            record["distance"] = float(_interp(end, times, dist))
        speed = median_of(group, "speed_mps")
        if speed is not None:
            record["speed"] = record["enhanced_speed"] = speed
        # A group is never empty, so its cadence median always exists.
        strides_pm = float(statistics.median(s.cadence_spm for s in group)) / 2.0
        record["cadence"] = int(strides_pm)
        record["fractional_cadence"] = strides_pm - int(strides_pm)
        record["stance_time"] = 1000.0 * statistics.median(s.contact_time_s for s in group)
        length = median_of(group, "stride_length_m")
        if length is not None:
            record["step_length"] = 1000.0 * length / 2.0
        left = median_of([s for s in group if s.foot is Foot.LEFT], "contact_time_s")
        right = median_of([s for s in group if s.foot is Foot.RIGHT], "contact_time_s")
        balance = symmetry_pct(left, right)
        if balance is not None:
            record["stance_time_balance"] = balance
        dev: dict[int, float] = {}
        for key, _, _, _, attr, scale in DEV_FIELDS:
            v = median_of(group, attr)
            if v is not None:
                dev[key] = v * scale
        record["developer_fields"] = dev
        enc.on_mesg(mesg["RECORD"], record)

    end_t = max([s.end_ic_s for s in strides] + [data.info.last_t_s or t0])
    stop = when(end_t)
    elapsed = max(end_t - t0, 0.0)
    total = float(dist[-1]) if dist.size else 0.0
    enc.on_mesg(mesg["EVENT"], {"timestamp": stop, "event": "timer", "event_type": "stop"})
    common = {
        "timestamp": stop,
        "start_time": start,
        "total_elapsed_time": elapsed,
        "total_timer_time": elapsed,
        "total_distance": total,
    }
    enc.on_mesg(mesg["LAP"], {"message_index": 0, **common})
    enc.on_mesg(
        mesg["SESSION"],
        {
            "message_index": 0,
            "sport": "running",
            "first_lap_index": 0,
            "num_laps": 1,
            **common,
        },
    )
    enc.on_mesg(
        mesg["ACTIVITY"],
        {"timestamp": stop, "num_sessions": 1, "total_timer_time": elapsed, "type": "manual"},
    )
    return bytes(enc.close())


def _interp(t: float, times: Any, values: Any) -> float:
    import numpy as np

    return float(np.interp(t, times, values, left=0.0))


def export_fit(data: SessionData, path: Path) -> int:
    """Write the FIT file; returns the number of strides it covers."""
    path.write_bytes(fit_bytes(data))
    return len(data.strides)
