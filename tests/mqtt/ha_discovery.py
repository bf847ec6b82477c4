"""Home Assistant's MQTT discovery schema for sensors, written from its documentation:

- https://www.home-assistant.io/integrations/sensor.mqtt/ (configuration variables),
- https://www.home-assistant.io/integrations/sensor/#device-class (device classes and units),
- https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery (topic format, ``origin``),
- https://developers.home-assistant.io/docs/core/entity/sensor (state classes).

Home Assistant itself validates with voluptuous inside its MQTT integration; installing it
for a test is not reasonable (hundreds of packages, its own Python), so this checker states
the documented rules. Templates are rendered with Jinja2's sandbox the way Home Assistant's
MQTT integration does: ``value_json`` is the parsed payload and the result is a string.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

TOPIC_RE = re.compile(
    r"^(?P<prefix>[^#+]+?)/(?P<component>[a-z_]+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?"
    r"(?P<object_id>[a-zA-Z0-9_-]+)/config$"
)
SENSOR_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "device", "device_class", "enabled_by_default", "encoding", "entity_category",
    "entity_picture", "expire_after", "force_update", "icon", "json_attributes_template",
    "json_attributes_topic", "last_reset_value_template", "name", "object_id",
    "default_entity_id", "options", "payload_available", "payload_not_available", "platform",
    "suggested_display_precision", "qos", "state_class", "state_topic", "unique_id",
    "unit_of_measurement", "value_template", "origin",
}  # fmt: skip
AVAILABILITY_KEYS = {"payload_available", "payload_not_available", "topic", "value_template"}
DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
    "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
DEVICE_CLASS_UNITS: dict[str, set[str | None]] = {
    "battery": {"%"},
    "distance": {"km", "m", "cm", "mm", "mi", "nmi", "yd", "in"},
    "duration": {"d", "h", "min", "s", "ms", "µs"},
    "speed": {"ft/s", "in/d", "in/h", "in/s", "km/h", "kn", "m/s", "mph", "mm/d", "mm/s"},
    "signal_strength": {"dB", "dBm"},
    "enum": {None},
    "timestamp": {None},
}
"""The device classes a gaitcoach sensor may use, with their documented units."""
ICON_RE = re.compile(r"^[a-z0-9-]+:[a-z0-9-]+$")


def _is_topic(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 65535 and not set(value) & {"#", "+"}


def jinja() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment()


def render(template: str, payload: bytes | str) -> str:
    """A value template applied to a received payload, as Home Assistant does."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    try:
        value_json = json.loads(text)
    except ValueError:
        value_json = None
    return str(jinja().from_string(template).render(value=text, value_json=value_json))


def check_sensor_discovery(topic: str, payload: bytes) -> dict[str, Any]:
    """Raise AssertionError naming the first documented rule a sensor discovery message
    breaks; returns the parsed config."""
    m = TOPIC_RE.match(topic)
    assert m, f"{topic}: not <prefix>/<component>/[<node_id>/]<object_id>/config"
    assert m["component"] == "sensor", topic
    config = json.loads(payload)
    assert isinstance(config, dict), "the payload is a JSON object"
    unknown = set(config) - SENSOR_KEYS
    assert not unknown, f"{topic}: keys not documented for MQTT sensors: {sorted(unknown)}"
    assert _is_topic(config.get("state_topic")), "state_topic is required (a topic, no wildcards)"
    for key in ("name", "unique_id", "object_id", "icon", "unit_of_measurement", "encoding"):
        assert key not in config or isinstance(config[key], str | None), f"{key} is a string"
    if "icon" in config:
        assert ICON_RE.match(config["icon"]), f"icon {config['icon']!r} is not prefix:name"
    if "qos" in config:
        assert config["qos"] in (0, 1, 2), "qos is 0, 1 or 2"
    if "suggested_display_precision" in config:
        assert isinstance(config["suggested_display_precision"], int)
    for key in ("value_template", "json_attributes_template", "availability_template"):
        if key in config:
            jinja().parse(config[key])  # a template that does not parse is refused
    if "json_attributes_template" in config:
        assert _is_topic(config.get("json_attributes_topic")), "json_attributes_topic"
    # Availability: a list of {topic, ...}, not together with availability_topic.
    if "availability" in config:
        assert "availability_topic" not in config, "availability and availability_topic"
        items = config["availability"]
        assert isinstance(items, list) and items, "availability is a non-empty list"
        for item in items:
            assert set(item) <= AVAILABILITY_KEYS, f"availability keys {sorted(item)}"
            assert _is_topic(item.get("topic")), "availability topic is required"
            if "value_template" in item:
                jinja().parse(item["value_template"])
    if "availability_mode" in config:
        assert config["availability_mode"] in ("all", "any", "latest")
    # Device: tied to unique_id; identifiers or connections present.
    if "device" in config:
        device = config["device"]
        assert set(device) <= DEVICE_KEYS, f"device keys {sorted(set(device) - DEVICE_KEYS)}"
        assert device.get("identifiers") or device.get("connections"), "device identifiers"
        assert config.get("unique_id"), "device info needs unique_id"
    if "origin" in config:
        assert set(config["origin"]) <= ORIGIN_KEYS and config["origin"].get("name")
    # Classes and units.
    device_class = config.get("device_class")
    unit = config.get("unit_of_measurement")
    state_class = config.get("state_class")
    if device_class is not None:
        assert device_class in DEVICE_CLASS_UNITS, f"device_class {device_class!r}"
        assert unit in DEVICE_CLASS_UNITS[device_class], f"{device_class} in {unit!r}"
    if device_class == "enum" or "options" in config:
        assert device_class == "enum", "options need device_class enum"
        assert isinstance(config.get("options"), list) and config["options"], "options"
        assert state_class is None and unit is None, "enum: no state_class, no unit"
    if state_class is not None:
        assert state_class in STATE_CLASSES, f"state_class {state_class!r}"
    if "entity_category" in config:
        assert config["entity_category"] == "diagnostic", "a sensor's category is diagnostic"
    if "last_reset_value_template" in config:
        assert state_class == "total"
    return config
