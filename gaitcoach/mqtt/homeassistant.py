"""Home Assistant MQTT discovery: the runner's sensors announced under ``homeassistant/``.

Off by default (``[mqtt] homeassistant_discovery = true`` turns it on). Each sensor is one
retained config message on ``<discovery prefix>/sensor/gaitcoach_<runner>/<object>/config``
(Home Assistant's MQTT discovery, docs/mqtt/topics.md "Home Assistant"); its state comes from
the documented topics through a Jinja2 ``value_template``, so nothing extra is published per
value. Availability follows the retained ``.../status`` (``online`` true/false), which the
service's last will sets to offline when it dies: Home Assistant shows the sensors as
unavailable whenever the service is not running.

A JSON ``null`` renders as ``None``, which Home Assistant takes as "unknown" (its MQTT
``PAYLOAD_NONE``), so a metric the engine cannot tell yet shows as unknown, not as 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gaitcoach import __version__
from gaitcoach.mqtt.topics import Topics

COMPONENT = "sensor"
AVAILABLE = "{{ 'online' if value_json.online else 'offline' }}"
"""Availability from the status payload: compared to payload_available ("online")."""


def _pod_battery(foot: str) -> str:
    return (
        "{% set p = value_json.pods | default([], true) | selectattr('foot', 'equalto', "
        f"'{foot}') | list %}}{{{{ p[0].battery_pct if p and p[0].battery_pct is not none "
        "else none }}"
    )


def _scaled(key: str, factor: int) -> str:
    return (
        f"{{{{ none if value_json.{key} is none else (value_json.{key} * {factor}) | round(0) }}}}"
    )


@dataclass(frozen=True)
class SensorSpec:
    """One discovered sensor: which topic, how to read it, what it is."""

    object_id: str
    name: str
    source: str
    """Which of the runner's topics: metrics, status or cue."""
    value_template: str
    extra: dict[str, Any] = field(default_factory=dict)


SENSORS: tuple[SensorSpec, ...] = (
    SensorSpec(
        "cadence",
        "Cadence",
        "metrics",
        "{{ value_json.cadence_spm }}",
        {
            "unit_of_measurement": "steps/min",
            "state_class": "measurement",
            "suggested_display_precision": 0,
            "icon": "mdi:run-fast",
        },
    ),
    SensorSpec(
        "contact_time",
        "Contact time",
        "metrics",
        _scaled("contact_time_s", 1000),
        {
            "device_class": "duration",
            "unit_of_measurement": "ms",
            "state_class": "measurement",
            "suggested_display_precision": 0,
        },
    ),
    SensorSpec(
        "strike_angle",
        "Foot strike angle",
        "metrics",
        "{{ value_json.foot_strike_angle_deg }}",
        {
            "unit_of_measurement": "°",
            "state_class": "measurement",
            "suggested_display_precision": 0,
            "icon": "mdi:shoe-print",
        },
    ),
    SensorSpec(
        "overstride",
        "Overstride",
        "metrics",
        _scaled("overstride_m", 100),
        {
            "device_class": "distance",
            "unit_of_measurement": "cm",
            "state_class": "measurement",
            "suggested_display_precision": 0,
        },
    ),
    SensorSpec(
        "activity",
        "Activity",
        "metrics",
        "{{ value_json.activity }}",
        {"device_class": "enum", "options": ["standing", "walking", "running"]},
    ),
    SensorSpec(
        "last_cue",
        "Last cue",
        "cue",
        "{{ value_json.text[:255] }}",  # a state holds at most 255 characters
        {
            "icon": "mdi:bullhorn",
            "json_attributes_template": (
                "{{ {'kind': value_json.kind, 'level': value_json.level, "
                "'priority': value_json.priority, 'id': value_json.id} | tojson }}"
            ),
        },
    ),
    *(
        SensorSpec(
            f"battery_{foot}",
            f"Battery {foot} pod",
            "status",
            _pod_battery(foot),
            {
                "device_class": "battery",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
        )
        for foot in ("left", "right")
    ),
)


def node_id(runner: str) -> str:
    return f"gaitcoach_{runner}"


def discovery_topic(prefix: str, runner: str, object_id: str) -> str:
    return f"{prefix}/{COMPONENT}/{node_id(runner)}/{object_id}/config"


def discovery_messages(topics: Topics, discovery_prefix: str) -> list[tuple[str, bytes]]:
    """(topic, retained JSON payload) of every sensor of this runner."""
    runner = topics.runner
    device = {
        "identifiers": [node_id(runner)],
        "name": f"gaitcoach {runner}",
        "manufacturer": "gaitcoach",
        "model": "running gait coach",
        "sw_version": __version__,
    }
    origin = {"name": "gaitcoach", "sw_version": __version__}
    source = {"metrics": topics.metrics, "status": topics.status, "cue": topics.cue}
    out = []
    for spec in SENSORS:
        config: dict[str, Any] = {
            "name": spec.name,
            "unique_id": f"{node_id(runner)}_{spec.object_id}",
            "state_topic": source[spec.source],
            "value_template": spec.value_template,
            "availability": [{"topic": topics.status, "value_template": AVAILABLE}],
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": origin,
            "qos": 1 if spec.source != "metrics" else 0,
            **spec.extra,
        }
        if "json_attributes_template" in config:
            config["json_attributes_topic"] = source[spec.source]
        out.append(
            (
                discovery_topic(discovery_prefix, runner, spec.object_id),
                json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode(),
            )
        )
    return out
