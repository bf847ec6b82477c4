"""Cue delivery over MQTT: topic tree, JSON payloads, the service's publisher and command
client (paho-mqtt); ``gaitcoach.mqtt.embedded`` (the ``demo`` extra: amqtt) is the
embedded broker of a zero-setup demo (docs/mqtt/topics.md)."""

from gaitcoach.mqtt.bridge import coach_command_handler
from gaitcoach.mqtt.config import MqttSettings
from gaitcoach.mqtt.connection import ConnectionStats, Incoming, MqttConnection, Will
from gaitcoach.mqtt.outbox import Outbox, Outgoing
from gaitcoach.mqtt.payloads import (
    SCHEMA_VERSION,
    CuePayload,
    MetricsPayload,
    PayloadError,
    PodReport,
    ReplyError,
    ReplyPayload,
    SessionPayload,
    StatusPayload,
    StridePayload,
)
from gaitcoach.mqtt.publisher import (
    CommandHandler,
    HandledCommand,
    MqttPublisher,
    PublisherStats,
    service_publisher,
)
from gaitcoach.mqtt.topics import Topics

__all__ = [
    "SCHEMA_VERSION",
    "CommandHandler",
    "ConnectionStats",
    "CuePayload",
    "HandledCommand",
    "Incoming",
    "MetricsPayload",
    "MqttConnection",
    "MqttPublisher",
    "MqttSettings",
    "Outbox",
    "Outgoing",
    "PayloadError",
    "PodReport",
    "PublisherStats",
    "ReplyError",
    "ReplyPayload",
    "SessionPayload",
    "StatusPayload",
    "StridePayload",
    "Topics",
    "Will",
    "coach_command_handler",
    "service_publisher",
]
