"""The JSON Schema of ``gaitcoach.toml``, from the same section types that validate it."""

from __future__ import annotations

from typing import Any

from gaitcoach.coach import CoachSettings, RunnerProfile
from gaitcoach.configmodel import section_schema
from gaitcoach.dashboard.config import DashboardSettings
from gaitcoach.link import LinkConfig
from gaitcoach.mqtt import MqttSettings
from gaitcoach.service.config import ServiceSettings, gait_section
from gaitcoach.session.settings import SessionSettings


def config_schema() -> dict[str, Any]:
    sections: dict[str, Any] = {
        "runner": section_schema(RunnerProfile),
        "coach": section_schema(CoachSettings),
        "mqtt": section_schema(MqttSettings),
        "link": section_schema(LinkConfig),
        "gait": gait_section().model_json_schema(),
        "session": section_schema(SessionSettings),
        "service": section_schema(ServiceSettings),
        "dashboard": section_schema(DashboardSettings),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "gaitcoach.toml",
        "type": "object",
        "additionalProperties": False,
        "properties": sections,
    }
