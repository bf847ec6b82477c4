"""Rolling metrics over stride records (the one implementation the coach and service use)."""

from __future__ import annotations

import dataclasses

import pytest

from gaitcoach.metrics import RollingMetrics, window_cadence_spm
from gaitcoach.types import Activity, Foot, StrideRecord, StrikePattern, classify_strike


def stride(foot: Foot, ic: float, stride_s: float, contact_s: float, angle: float) -> StrideRecord:
    return StrideRecord(
        foot=foot,
        index=0,
        ic_s=ic,
        to_s=ic + contact_s,
        end_ic_s=ic + stride_s,
        contact_time_s=contact_s,
        swing_time_s=stride_s - contact_s,
        stride_time_s=stride_s,
        cadence_spm=120 / stride_s,
        activity=Activity.RUNNING,
        foot_strike_angle_deg=angle,
        strike_pattern=classify_strike(angle),
        stride_length_m=2.0,
        overstride_m=0.3,
    )


def run(
    n: int, stride_s: float = 0.7, left_contact: float = 0.25, right_contact: float = 0.25
) -> list[StrideRecord]:
    out = []
    for k in range(n):
        out.append(stride(Foot.LEFT, k * stride_s, stride_s, left_contact, 20.0))
        out.append(stride(Foot.RIGHT, k * stride_s + stride_s / 2, stride_s, right_contact, 4.0))
    return out


def test_cadence_is_steps_over_time() -> None:
    strides = [stride(Foot.LEFT, 0, 0.6, 0.2, 0), stride(Foot.LEFT, 0.6, 0.8, 0.2, 0)]
    # 4 steps in 1.4 s, not the median of 200 and 150 spm
    assert window_cadence_spm(strides) == pytest.approx(4 / 1.4 * 60)
    assert window_cadence_spm([]) is None


def test_snapshot_medians_symmetry_and_pattern() -> None:
    rm = RollingMetrics(window_steps=20, window_s=30.0, leg_length_m=0.9)
    for s in run(10, left_contact=0.30, right_contact=0.20):
        rm.add(s)
    snap = rm.snapshot(8.0)
    assert snap.activity is Activity.RUNNING
    assert snap.n_strides == 20
    assert snap.cadence_spm == pytest.approx(120 / 0.7)
    assert snap.balance_contact_left_pct == pytest.approx(60.0)
    assert snap.step_length_rel_leg == pytest.approx(1.0 / 0.9)
    assert snap.per_foot[Foot.LEFT]["foot_strike_angle_deg"] == 20.0
    assert snap.strike_pattern in (StrikePattern.REARFOOT, StrikePattern.MIDFOOT)


def test_windows_by_count_and_time_and_standing() -> None:
    rm = RollingMetrics(window_steps=6, window_s=2.0, standing_after_s=2.5)
    for s in run(10):
        rm.add(s)
    assert rm.snapshot(7.2).n_strides <= 6
    assert all(7.2 - 2.0 <= s.end_ic_s <= 7.2 for s in rm.window(7.2))
    assert rm.snapshot(20.0).activity is Activity.STANDING
    assert rm.snapshot(20.0).n_strides == 0


def test_walking_majority_and_bad_parameters() -> None:
    rm = RollingMetrics()
    for s in run(5):
        rm.add(dataclasses.replace(s, activity=Activity.WALKING))
    assert rm.snapshot(3.6).activity is Activity.WALKING
    with pytest.raises(ValueError):
        RollingMetrics(window_steps=0)
