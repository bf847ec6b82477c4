"""Fixtures of the hub tests: one real PostgreSQL + Mosquitto per module (start-up is about
1.5 s), edges' stores with generated sessions."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gaitcoach.mqtt.mosquitto import mosquitto_available
from tests.hub.harness import HubStack, hub_stack
from tests.hub.pgserver import postgres_available
from tests.support import require

RUNNERS = ("alice", "bob", "carol", "dave", "erin")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStack]:
    require(postgres_available(), "PostgreSQL server (apt-get install postgresql)")
    require(mosquitto_available(), "mosquitto (apt-get install mosquitto)")
    require(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd")
    directory: Path = tmp_path_factory.mktemp("hub")
    # fsync off: these tests are about correctness, not durability (the bench keeps it on).
    with hub_stack(directory, RUNNERS, pg_settings={"fsync": "off"}) as s:
        yield s
