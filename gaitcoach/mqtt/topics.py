"""The topic tree of one runner (docs/mqtt/topics.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gaitcoach.coach.config import RUNNER_ID

QOS_CUE = 1
QOS_METRICS = 0
QOS_STRIDE = 0
QOS_STATUS = 1
QOS_SESSION = 1
QOS_COMMAND = 1
QOS_REPLY = 1

MAX_RESPONSE_TOPIC_CHARS = 256


def topic_within(topic: object, base: str) -> bool:
    """``topic`` is ``base`` or below it, with no wildcard or NUL and at most
    :data:`MAX_RESPONSE_TOPIC_CHARS` characters: where an MQTT v5 response topic that a
    client asks for may be honoured (the answering account may write more widely than the
    asker, so the asker must not steer it elsewhere)."""
    return (
        isinstance(topic, str)
        and 0 < len(topic) <= MAX_RESPONSE_TOPIC_CHARS
        and not any(c in topic for c in "+#\x00")
        and (topic == base or topic.startswith(base + "/"))
    )


@dataclass(frozen=True, slots=True)
class Topics:
    """``<prefix>/<runner>/...`` for one runner."""

    runner: str
    prefix: str = "gaitcoach"

    def __post_init__(self) -> None:
        if not re.fullmatch(RUNNER_ID, self.runner):
            raise ValueError(f"runner id {self.runner!r}: 1-64 of A-Z a-z 0-9 _ -")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.runner}"

    @property
    def cue(self) -> str:
        return f"{self.base}/cue"

    @property
    def metrics(self) -> str:
        return f"{self.base}/metrics"

    @property
    def stride(self) -> str:
        return f"{self.base}/stride"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def session(self) -> str:
        return f"{self.base}/session"

    @property
    def reply(self) -> str:
        return f"{self.base}/reply"

    @property
    def commands(self) -> str:
        """Subscription filter for every command."""
        return f"{self.base}/cmd/#"

    def command_name(self, topic: str) -> str | None:
        """The command name of a topic under ``cmd/`` (None for other topics)."""
        head = f"{self.base}/cmd/"
        return topic[len(head) :] if topic.startswith(head) else None
