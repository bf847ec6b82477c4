"""Wiring between the coach and the publisher: MQTT commands applied to a
:class:`~gaitcoach.coach.Coach`, their answers published."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gaitcoach.coach import Coach, Command, StartSession, StopSession
from gaitcoach.mqtt.publisher import CommandHandler, MqttPublisher


def coach_command_handler(
    coach: Coach, publisher: MqttPublisher, now_s: Callable[[], float]
) -> CommandHandler:
    """A command handler for ``MqttPublisher(command_handler=...)``.

    ``now_s`` gives the coach's clock (the stride stream's time). A discomfort report's answer
    goes out on the cue topic at once; start/stop update the session id in the status.
    """

    def handle(command: Command) -> dict[str, Any]:
        outcome = coach.apply_command(command, now_s())
        if outcome.cue is not None:
            publisher.publish_cue(outcome.cue)
        if isinstance(command, StartSession | StopSession):
            publisher.session_id = coach.session_id if coach.active else None
            publisher.publish_status()
        return dict(outcome.detail)

    return handle
