"""Coaching: turns rolling gait metrics into running-technique cues (pure logic, no I/O).

See docs/coaching.md for the rules and every default.
"""

from gaitcoach.coach.commands import (
    COMMAND_NAMES,
    Command,
    CommandError,
    Mute,
    ReportDiscomfort,
    SetTargets,
    StartSession,
    StopSession,
    command_name,
    parse_command,
)
from gaitcoach.coach.config import CoachSettings, RunnerProfile
from gaitcoach.coach.engine import Coach, CommandOutcome, Decision, DecisionAction
from gaitcoach.coach.templates import CueTemplates

__all__ = [
    "COMMAND_NAMES",
    "Coach",
    "CoachSettings",
    "Command",
    "CommandError",
    "CommandOutcome",
    "CueTemplates",
    "Decision",
    "DecisionAction",
    "Mute",
    "ReportDiscomfort",
    "RunnerProfile",
    "SetTargets",
    "StartSession",
    "StopSession",
    "command_name",
    "parse_command",
]
