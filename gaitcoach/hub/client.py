"""A threaded paho MQTT v5 client from the ``[mqtt]`` settings (credentials, TLS, backoff),
shared by the ingest workers and ``gaitcoach sync``: both are synchronous programs that need
what the service's asyncio connection does not offer (persistent sessions and manual
acknowledgements; request/response with a v5 response topic)."""

from __future__ import annotations

import math

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gaitcoach.mqtt.config import MqttSettings


def v5_client(settings: MqttSettings, client_id: str, manual_ack: bool = False) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(
            ca_certs=settings.ca_file, certfile=settings.cert_file, keyfile=settings.key_file
        )
    # paho's own reconnect backoff, in whole seconds.
    client.reconnect_delay_set(1, max(1, math.ceil(settings.reconnect_max_s)))
    return client
