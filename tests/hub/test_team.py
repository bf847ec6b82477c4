"""Team views from the real database: sessions synced from three edges (several weeks each)
and read back with the view role; the squad figures must be the single-runner summary's
figures of each edge's own store, to the bit."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from gaitcoach.hub.schema import VIEW_ROLE
from gaitcoach.hub.sync import Syncer
from gaitcoach.session.history import history
from gaitcoach.session.store import SessionStore
from gaitcoach.session.summary import summarize
from tests.hub.harness import HubStack, make_cues, record_session
from tests.session import factory

PROFILES = {"alice": factory.EFFICIENT, "bob": factory.OVERSTRIDER, "carol": factory.FATIGUING}


def _team(stack: HubStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**stack.edge_env("alice"), "PGPASSWORD": stack.view_db_password}
    return subprocess.run(
        [sys.executable, "-m", "gaitcoach.cli", "team", "--dsn", stack.dsn(VIEW_ROLE), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[str] = []
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-runner"):
            self.rows.append(str(a["data-runner"]))
        if tag == "img" and str(a.get("src", "")).startswith("data:image/png;base64,"):
            self.images += 1


def test_team_views_show_each_runners_runs_and_the_squad_from_the_database(
    stack: HubStack, tmp_path: Path
) -> None:
    ingest = stack.ingest(1, name="team")
    now = datetime.now(UTC).replace(microsecond=0)
    stores = {}
    for k, (runner, profile) in enumerate(PROFILES.items()):
        data_dir = tmp_path / runner
        for week in range(3):
            strides = factory.strides(profile, 3.0, seed=10 * k + week)
            sid = f"{runner}-w{week}"
            started = now - timedelta(days=7 * (3 - week), hours=k)
            record_session(
                data_dir, runner, strides, make_cues(sid, strides[0].ic_s, 2), sid, started
            )
        result = Syncer(stack.edge_settings(runner), runner, data_dir, timeout_s=60).run()
        assert len(result.verified) == 3 and not result.failed, result
        stores[runner] = data_dir
    ingest.stop()

    out = _team(stack, "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["runner"]: r for r in json.loads(out.stdout)["runners"]}
    assert set(rows) >= set(PROFILES)
    for runner, data_dir in stores.items():
        with SessionStore(data_dir) as store:
            latest = summarize(store.load("latest"))
            h = history(store, runner)
        row = rows[runner]
        assert row["runs"] == 3 and row["session_id"] == f"{runner}-w2"
        # Same strides, same code: the same numbers as on the edge, exactly.
        assert row["cadence_spm"] == latest.metrics["cadence_spm"].all.median  # type: ignore[union-attr]
        assert row["overstride_cm"] == latest.metrics["overstride_m"].all.median * 100  # type: ignore[union-attr]
        assert row["rearfoot_pct"] == latest.strike_share_pct["all"]["rearfoot"]
        assert row["balance_contact_left_pct"] == latest.metrics["contact_time_s"].left_share_pct
        slope = {t.metric: t.slope_per_week for t in h.trends}["cadence_spm"]
        assert row["cadence_trend_spm_per_week"] == slope
    # The overstrider compares as one against the squad.
    assert rows["bob"]["cadence_spm"] < rows["alice"]["cadence_spm"]
    assert rows["bob"]["overstride_cm"] > rows["alice"]["overstride_cm"]

    page = tmp_path / "team.html"
    text = _team(stack, "--html", str(page))
    assert text.returncode == 0, text.stderr
    assert "squad median" in text.stdout and "bob" in text.stdout
    tags = _Tags()
    tags.feed(page.read_text())
    assert tags.rows[:3] == ["alice", "bob", "carol"]
    assert tags.images == 2 + 3  # squad and strike plots, one trend plot per runner
    # The history page's rule: 3 runs are too few for a trend line, and the page says so.
    assert page.read_text().count("Trends need 4 runs (so far 3)") == 3


def test_one_runners_implausible_run_is_skipped_and_the_team_view_goes_on(
    stack: HubStack, tmp_path: Path
) -> None:
    # Any finite time or length passes the ingest's checks (it sees one stride at a time);
    # the summary walks a run minute by minute and kilometre by kilometre: a stride
    # thousands of years on, or one 1e11 m long, stalled or exhausted everyone's view.
    ingest = stack.ingest(1, name="team-odd")
    runner, data_dir = "erin", tmp_path / "erin"
    now = datetime.now(UTC).replace(microsecond=0)
    good = factory.strides(factory.EFFICIENT, 3.0, seed=1)
    far, long = list(good), list(good)
    far[-1] = replace(far[-1], ic_s=far[-1].ic_s + 1e11, end_ic_s=far[-1].end_ic_s + 1e11)
    long[5] = replace(long[5], stride_length_m=1e11)
    runs = (("erin-far", far), ("erin-long", long), ("erin-early", good), ("erin-ok", good))
    for k, (sid, strides) in enumerate(runs):
        record_session(data_dir, runner, strides, [], sid, now - timedelta(days=4 - k))
    # A start in year 1 is a valid time, but not on the trend plots' date axis.
    record_session(data_dir, runner, good, [], "erin-ancient", datetime(1, 1, 1, tzinfo=UTC))
    # The session record's own first time (sync/session) widens the summary's span too.
    with sqlite3.connect(data_dir / "sessions.sqlite") as db:
        db.execute("UPDATE sessions SET first_t_s = -1e11 WHERE id = 'erin-early'")
    result = Syncer(stack.edge_settings(runner), runner, data_dir, timeout_s=60).run()
    assert len(result.verified) == 5 and not result.failed, result
    ingest.stop()

    page = tmp_path / "team.html"
    out = _team(stack, "--json", "--runner", runner, "--html", str(page))
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    [row] = report["runners"]
    assert row["runs"] == 1 and row["session_id"] == "erin-ok"
    assert sorted(report["skipped"]) == [
        "erin/erin-ancient",
        "erin/erin-early",
        "erin/erin-far",
        "erin/erin-long",
    ]
    assert "erin-ok" in page.read_text()
