"""Cues the runner never got: the publisher's outbox reports every cue it drops, the session
stores the outcome, and the summary and report mark the cue undelivered and claim no effect
for it ("the metric moved after 0 of 10" is never said of cues that expired on the way)."""

from __future__ import annotations

from pathlib import Path

from gaitcoach.mqtt.outbox import Outbox, Outgoing
from gaitcoach.session.recorder import Recorder
from gaitcoach.session.report import render_html
from gaitcoach.session.store import SessionStore
from gaitcoach.session.summary import summarize
from gaitcoach.types import CueKind
from tests.session import factory


def test_the_outbox_reports_the_cues_it_drops() -> None:
    dropped: list[tuple[str, str]] = []
    box = Outbox(2, on_drop=lambda item, why: dropped.append((item.ref, why)))
    box.push(Outgoing("cue", "t/cue", b"{}", 1, False, 0.0, 8.0, ref="c1"), 1.0)
    box.push(Outgoing("cue", "t/cue", b"{}", 1, False, 1.0, 9.0, ref="c2"), 2.0)
    assert box.take_all(8.5) and dropped == [("c1", "expired")]
    box.push(Outgoing("cue", "t/cue", b"{}", 1, False, 20.0, 10.0, ref="late"), 20.0)
    assert dropped[-1] == ("late", "expired")


def test_undelivered_cues_are_marked_and_claim_no_effect(tmp_path: Path) -> None:
    first = factory.strides(factory.Runner(cadence_spm=160.0, noise=0.003), 5.0)
    t = first[-1].end_ic_s
    second = factory.strides(factory.Runner(cadence_spm=172.0, noise=0.003), 5.0, t0_s=t + 0.3)
    heard = factory.cue(CueKind.CADENCE, t, {"cadence_spm": 160.0})
    lost = factory.cue(CueKind.CADENCE, t + 1.0, {"cadence_spm": 160.0}, n=1)
    with Recorder(tmp_path) as rec:
        for s in [*first, *second]:
            rec.add_stride(s)
        rec.add_cue(heard)
        rec.add_cue(lost)
        rec.add_cue_outcome(heard.id, True, "sent")
        rec.add_cue_outcome(lost.id, False, "expired")
        sid = rec.session_id
    with SessionStore(tmp_path) as store:
        data = store.load(sid)
    assert data.cue_outcomes == {heard.id: True, lost.id: False}
    summary = summarize(data)
    by_id = {c.cue_id: c for c in summary.cues}
    assert by_id[heard.id].delivered and by_id[heard.id].moved is True
    assert not by_id[lost.id].delivered and by_id[lost.id].moved is None
    html = render_html(data, summary)
    assert html.count("no (expired)") == 1 and "class='undelivered'" in html
