"""The hub's Mosquitto: accounts, ACL and settings (``hub.conf`` and ``hub-acl`` in
``gaitcoach/data/examples/mosquitto/`` are the production examples of the same).

Two listeners: the edges' listener with ``use_username_as_clientid`` (no account can take
another's client id, docs/mqtt/topics.md), and an internal one for the ingest workers, whose
client ids are ``<group>-<slot>`` under one account (on the edges' listener they would all
become the username and throw each other off).

Accounts (the existing ACL pattern, docs/mqtt/topics.md "Brokers and access control"):
``gaitcoach-<runner>`` is the runner's edge service, limited to ``gaitcoach/<runner>/#``;
the runner's own devices log in as ``<runner>`` (pattern ``gaitcoach/%u/#``);
``gaitcoach-ingest`` reads every runner's data topics and writes only sync answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from gaitcoach.mqtt.mosquitto import MosquittoBroker
from gaitcoach.proc import free_port

INGEST_USER = "gaitcoach-ingest"

HUB_SETTINGS = (
    # A worker's session keeps what the broker could not deliver yet (a worker being
    # restarted, a slow database): bounded by bytes, not by the default 1000 messages, which
    # would drop QoS 1 strides under a burst.
    "max_queued_messages 0",
    "max_queued_bytes 1073741824",
    # Live payloads are small; sync batches up to 256 strides are about 100 KB.
    "message_size_limit 1048576",
)


def hub_acl(
    runners: Iterable[str], ingest_user: str = INGEST_USER, prefix: str = "gaitcoach"
) -> str:
    """ACL text: the ingest account, a runner's devices by pattern, one block per edge."""
    lines = [
        "# gaitcoach team hub: every account reaches only what its purpose needs.",
        f"user {ingest_user}",
        *(f"topic read {prefix}/+/{kind}" for kind in ("stride", "cue", "metrics", "session")),
        f"topic read {prefix}/+/sync/+",
        f"topic write {prefix}/+/sync/reply/#",
        f"topic write {prefix}/+/sync/reply",
        "",
        "# A runner's own devices log in with the runner id (gaitcoach listen, phone).",
        f"pattern readwrite {prefix}/%u/#",
        "",
    ]
    for runner in runners:
        lines += [f"user gaitcoach-{runner}", f"topic readwrite {prefix}/{runner}/#", ""]
    return "\n".join(lines)


def hub_broker(
    directory: Path,
    users: Mapping[str, str],
    runners: Iterable[str],
    persistence: bool = True,
) -> MosquittoBroker:
    """A Mosquitto with the hub's ACL, two listeners (``broker.port`` for edges,
    ``broker.ingest_port`` for the workers) and :data:`HUB_SETTINGS`."""
    ingest_port = free_port()
    broker = MosquittoBroker(
        directory,
        users=users,
        persistence=persistence,
        acl=hub_acl(runners),
        listener_options=["use_username_as_clientid true"],
        extra=[*HUB_SETTINGS, f"listener {ingest_port} {MosquittoBroker.host}"],
    )
    broker.ingest_port = ingest_port  # type: ignore[attr-defined]
    return broker
