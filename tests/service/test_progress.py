"""Elapsed time and distance of the session (the dashboard's first tiles)."""

from __future__ import annotations

from gaitcoach.service.progress import SessionProgress
from gaitcoach.types import Activity, GaitMetrics


def _m(speed: float | None, activity: Activity = Activity.RUNNING) -> GaitMetrics:
    return GaitMetrics(0.0, activity, 10, speed_mps=speed)


def test_distance_integrates_speed_while_moving_only() -> None:
    p = SessionProgress()
    p.update(1.0, _m(3.0))  # no session yet: nothing
    assert p.elapsed_s(1.0) is None and p.distance_m == 0.0
    p.start(10.0)
    for t in range(11, 21):  # 10 s at 3 m/s
        p.update(float(t), _m(3.0))
    p.update(21.0, _m(3.0, Activity.STANDING))  # standing adds nothing
    p.update(22.0, _m(None))  # speed unknown adds nothing
    p.update(22.0 + 60.0, _m(3.0))  # a stalled minute is not guessed
    p.update(83.0, _m(float("nan")))
    assert p.distance_m == 30.0
    assert p.elapsed_s(83.0) == 73.0
    p.start(100.0)  # a new session starts from zero
    assert p.distance_m == 0.0 and p.elapsed_s(100.0) == 0.0
    p.stop()
    assert p.elapsed_s(120.0) is None
