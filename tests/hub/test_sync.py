"""``gaitcoach sync`` against the real hub: it sends only what the centre's digest says
differs (docs/hub.md, "gaitcoach sync")."""

from __future__ import annotations

from pathlib import Path

import psycopg

from gaitcoach.hub.records import SYNC_BATCH
from gaitcoach.hub.sync import STATE_FILE, Syncer
from tests.hub.harness import (
    HubStack,
    centre_digest,
    edge_digest,
    make_cues,
    record_session,
    same_rows,
)
from tests.session import factory


def test_a_session_record_the_centre_holds_is_not_sent_again(
    stack: HubStack, tmp_path: Path
) -> None:
    runner, sid = "dave", "dave-1"
    data_dir = tmp_path / runner
    strides = factory.strides(factory.EFFICIENT, 3.0, seed=7)
    record_session(data_dir, runner, strides, make_cues(sid, strides[0].ic_s, 2), sid)
    ingest = stack.ingest(1, name="sync")
    first = Syncer(stack.edge_settings(runner), runner, data_dir, timeout_s=60).run()
    assert first.verified == [sid], first

    # The centre loses one stride batch but keeps the synced record (as after a sync cut off
    # mid-way), and the edge forgot it had verified the session.
    foot, batch = min(edge_digest(data_dir, runner, sid).strides)
    with psycopg.connect(stack.pg.admin_dsn(), autocommit=True) as conn:
        lost = conn.execute(
            "DELETE FROM hub.strides WHERE runner = %s AND session_id = %s AND foot = %s "
            "AND idx / %s = %s",
            (runner, sid, foot, SYNC_BATCH, batch),
        ).rowcount
    assert lost > 0
    (data_dir / STATE_FILE).unlink()

    again = Syncer(stack.edge_settings(runner), runner, data_dir, timeout_s=60).run()
    assert again.verified == [sid], again
    assert (again.messages_sent, again.strides_sent, again.cues_sent) == (1, lost, 0), again
    assert same_rows(edge_digest(data_dir, runner, sid), centre_digest(stack, runner, sid))
    assert ingest.stop() == 0
