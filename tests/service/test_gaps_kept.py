"""A run keeps only the latest gaps in memory, and counts them all (view, result)."""

from __future__ import annotations

from gaitcoach.service.config import config_from_dict
from gaitcoach.service.service import GAPS_KEEP, Service
from gaitcoach.service.view import pods_line
from gaitcoach.types import Foot, Gap


def test_gaps_in_memory_are_bounded_and_all_counted() -> None:
    svc = Service(config_from_dict({"runner": {"id": "viv"}, "service": {"record": False}}))
    svc._open_session(None, svc._new_recorder(None))
    n = GAPS_KEEP + 250
    for i in range(n):  # a flaky pod over a long run
        svc.handle(Gap(Foot.LEFT, 2.0 * i, 2.0 * i + 0.5, 104, "packet loss"))
    assert len(svc.state.gaps) == GAPS_KEEP
    assert [g.start_s for g in svc.state.gaps] == [2.0 * i for i in range(250, n)]
    assert svc.state.gap_count == n
    assert f"{n} gap(s) in the data" in pods_line(svc).plain
    result = svc.result()
    assert result.gap_count == n and result.gaps == list(svc.state.gaps)
