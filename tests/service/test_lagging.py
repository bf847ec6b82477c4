"""A service running behind its pods (a loaded machine) still coaches: the coach judges at
the time the analysed samples have reached, not at the clock, while samples keep coming;
when they stop, the clock takes over and the runner reads as standing (real service,
pipeline and coach; simulated pods' packets through the link's decoder)."""

from __future__ import annotations

import pytest

from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import DATA_FRESH_S, Service, ServiceClock
from gaitcoach.types import Activity, Gap
from tests.session.pipeline import simulation, stream
from tests.support import gait_engine_ready

LAG_S = 4.0


class SetClock(ServiceClock):
    """The service's clock, set by the test: the time the service runs at."""

    def __init__(self) -> None:
        self.t_s = 0.0
        super().__init__()

    def now(self) -> float:
        return self.t_s


@pytest.mark.usefixtures(gait_engine_ready.__name__)
def test_a_service_behind_its_pods_still_coaches() -> None:
    svc = Service(
        config_from_dict({"runner": {"id": "lea", "height_m": 1.75}, "service": {"record": False}})
    )
    clock = svc.clock = SetClock()
    svc._open_session(None, None)
    next_tick = 0.0
    last = 0.0
    for item in stream(simulation("heel-overstrider", 3.0, seed=3), 3.0):
        last = item.end_s if isinstance(item, Gap) else float(item.t_s[-1])
        clock.t_s = last + LAG_S  # the samples are analysed LAG_S after they were taken
        svc.handle(item)
        if clock.t_s >= next_tick:  # the service's ticker, once a second
            svc.tick()
            next_tick = clock.t_s + 1.0
    technique = [c for c in svc.pipeline.coach.cues_ if c.kind.value in ("cadence", "stride")]
    assert technique, "a heel-overstrider must be coached, however late the samples come"
    assert svc.state.metrics is not None and svc.state.metrics.activity is Activity.RUNNING
    # The pods fall silent: once no samples come for DATA_FRESH_S, the clock decides.
    clock.t_s = last + LAG_S + DATA_FRESH_S + 0.1
    svc.tick()
    assert svc.state.metrics.activity is Activity.STANDING
