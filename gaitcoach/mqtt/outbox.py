"""Bounded queue of outgoing messages while the broker is away (pure, no I/O).

Every message has an expiry. When the queue is full, expired messages go first (stale cues
before anything else), then the least valuable by kind (strides, metrics, status, replies,
cues, session summaries), oldest first. A newer retained message (or latest-only snapshot) on the
same topic replaces the queued one. Everything dropped is counted by ``<kind>_<reason>``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

# Lower is dropped first when the queue is full.
KEEP_RANK = {"stride": 0, "metrics": 1, "status": 2, "reply": 3, "cue": 4, "session": 5}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message waiting to be published."""

    kind: str
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created_unix_s: float
    expires_unix_s: float = math.inf
    latest_only: bool = False
    """Only the newest queued message of this topic is worth sending (metrics, status)."""
    ref: str = ""
    """What the message carries, for its sender's bookkeeping (a cue's id)."""
    correlation: bytes | None = None
    """MQTT v5 correlation data (a command's reply): kept with the message, so that a reply
    queued while the broker is away, or sent again after a reconnect, still carries it."""

    def expired(self, now_unix_s: float) -> bool:
        return now_unix_s >= self.expires_unix_s


class Outbox:
    """At most ``max_messages`` messages; see the module docstring for what goes first."""

    def __init__(
        self, max_messages: int, on_drop: Callable[[Outgoing, str], None] | None = None
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages >= 1 required")
        self.max_messages = max_messages
        self._items: list[Outgoing] = []
        self.dropped: Counter[str] = Counter()
        self.on_drop = on_drop
        """Told about every message dropped, with the reason (a cue the runner never got)."""

    def __len__(self) -> int:
        return len(self._items)

    def _drop(self, index: int, reason: str) -> None:
        self._dropped(self._items.pop(index), reason)

    def _dropped(self, item: Outgoing, reason: str) -> None:
        self.dropped[f"{item.kind}_{reason}"] += 1
        if self.on_drop is not None:
            self.on_drop(item, reason)

    def push(self, item: Outgoing, now_unix_s: float) -> None:
        if item.expired(now_unix_s):
            self._dropped(item, "expired")
            return
        if item.retain or item.latest_only:
            # Only the newest retained state (or latest snapshot) of a topic matters.
            for i, old in enumerate(self._items):
                if (old.retain or old.latest_only) and old.topic == item.topic:
                    self._drop(i, "superseded")
                    break
        self._items.append(item)
        if len(self._items) <= self.max_messages:
            return
        self.drop_expired(now_unix_s)
        if len(self._items) > self.max_messages:
            victim = min(
                range(len(self._items)),
                key=lambda i: (
                    KEEP_RANK.get(self._items[i].kind, 0),
                    self._items[i].created_unix_s,
                ),
            )
            self._drop(victim, "queue_full")

    def drop_expired(self, now_unix_s: float) -> None:
        """Drop every expired message, cues first (they are counted separately anyway)."""
        for i in reversed(range(len(self._items))):
            if self._items[i].expired(now_unix_s):
                self._drop(i, "expired")

    def take_all(self, now_unix_s: float) -> list[Outgoing]:
        """Everything still fresh, oldest first; the queue is empty afterwards."""
        self.drop_expired(now_unix_s)
        items, self._items = self._items, []
        return items
