"""Fatigue as a trend over the run, on the simulator's 50-minute ``fatiguing`` profile: the
runner fades from the first kilometre to the last (cadence down, contact time, strike angle
and overstride up), the summary's trend says so and the strength tip fires with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.recording import record
from gaitcoach.gait import analyze
from gaitcoach.session.advice import AdviceBook, advise
from gaitcoach.session.history import session_cadence_target
from gaitcoach.session.recorder import Recorder
from gaitcoach.session.store import SessionStore
from gaitcoach.session.summary import summarize


@pytest.mark.slow
def test_the_fatiguing_run_is_a_trend_and_calls_for_strength(tmp_path: Path) -> None:
    rec = record("fatiguing", 50.0, 208.0, seed=1)
    strides = analyze(rec.imu)
    with Recorder(tmp_path) as out:
        for s in strides:
            out.add_stride(s)
        sid = out.session_id
    with SessionStore(tmp_path) as store:
        data = store.load(sid)
    summary = advise(summarize(data, session_cadence_target(data)), AdviceBook.load())
    fat = summary.fatigue
    assert fat.cadence_spm.minutes >= 45
    # The advice's thresholds (advice.toml): -3 %, +5 %, +4 deg, +4 cm.
    assert fat.cadence_spm.change_pct is not None and fat.cadence_spm.change_pct <= -3.0
    assert fat.contact_time_s.change_pct is not None and fat.contact_time_s.change_pct >= 5.0
    assert fat.foot_strike_angle_deg.change is not None and fat.foot_strike_angle_deg.change >= 4.0
    assert fat.overstride_m.change is not None and fat.overstride_m.change >= 0.04
    # The km splits show the fade the trend summarises (the profile's 30-minute fade, km 1
    # to km 6; the simulator then starts the profile again).
    km = [sp for sp in summary.splits_km if sp.distance_m > 990]
    first, sixth = km[0].medians["cadence_spm"], km[5].medians["cadence_spm"]
    assert first is not None and sixth is not None and sixth < first - 8.0
    [strength] = [a for a in summary.advice if a.tip == "strength"]
    text = " ".join(strength.reasons)
    assert "cadence fell over the run" in text and "contact time rose" in text
