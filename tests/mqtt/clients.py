"""Test-side MQTT clients (plain paho) and schema validation of everything received."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.mqtt.broker import MosquittoBroker

SCHEMAS = Path(__file__).resolve().parents[2] / "gaitcoach" / "data" / "schemas"


@cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def validate(payload: bytes) -> dict[str, Any]:
    """Parse and validate a published payload against the schema its ``type`` names."""
    data = json.loads(payload)
    validator(data["type"]).validate(data)
    return data


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    t_s: float
    expiry_interval_s: int | None = None
    correlation: bytes | None = None

    def json(self) -> dict[str, Any]:
        return json.loads(self.payload)


class Recorder:
    """A subscriber that records every message (thread-safe), for assertions."""

    def __init__(
        self,
        broker: MosquittoBroker,
        topics: list[str],
        *,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        v5: bool = True,
        clean: bool = True,
        tls_ca: Path | None = None,
        tls_cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self.connects: list[str] = []
        self._lock = threading.Lock()
        self.topics = topics
        proto = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=proto,
            clean_session=None if v5 else clean,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls_ca is not None:
            cert = str(tls_cert[0]) if tls_cert else None
            key = str(tls_cert[1]) if tls_cert else None
            self.client.tls_set(ca_certs=str(tls_ca), certfile=cert, keyfile=key)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self.v5, self.clean, self.broker = v5, clean, broker
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.subscribed.set()

    def _on_connect(self, c: paho.Client, u: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connects.append(str(rc))
        if not rc.is_failure:
            for t in self.topics:
                c.subscribe(t, 1)

    def _on_message(self, c: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        with self._lock:
            self.messages.append(
                Received(
                    msg.topic,
                    bytes(msg.payload),
                    msg.qos,
                    bool(msg.retain),
                    time.time(),
                    getattr(props, "MessageExpiryInterval", None),
                    getattr(props, "CorrelationData", None),
                )
            )

    def start(self, timeout_s: float = 5.0) -> Recorder:
        props = None
        if self.v5 and not self.clean:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect_async(
            self.broker.host, self.broker.port, 30, clean_start=self.clean, properties=props
        )
        self.client.loop_start()
        if not self.subscribed.wait(timeout_s):
            raise TimeoutError(f"recorder not subscribed: {self.connects}")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on(self, suffix: str, *, anywhere: bool = False) -> list[Received]:
        """The messages whose topic ends with ``suffix`` (has it ``anywhere``)."""
        with self._lock:
            return [
                m
                for m in self.messages
                if (suffix in m.topic if anywhere else m.topic.endswith(suffix))
            ]

    def _match(
        self, suffix: str, predicate: Callable[[dict[str, Any]], bool], anywhere: bool = False
    ) -> dict[str, Any] | None:
        return next(
            (d for m in self.on(suffix, anywhere=anywhere) if predicate(d := m.json())), None
        )

    def _missing(self, suffix: str, timeout_s: float) -> AssertionError:
        got = [m.payload[:200] for m in self.on(suffix)]
        return AssertionError(f"no matching message on *{suffix} within {timeout_s} s; got {got}")

    async def wait_for(
        self,
        suffix: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda d: True,
        timeout_s: float = 5.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (data := self._match(suffix, predicate)) is not None:
                return data
            await asyncio.sleep(0.01)
        raise self._missing(suffix, timeout_s)

    def find(
        self,
        suffix: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda d: True,
        timeout_s: float = 10.0,
        *,
        anywhere: bool = False,
    ) -> dict[str, Any]:
        """``wait_for`` from a thread: another subscriber (a browser page) may get a message
        before this recorder does, most of all on a loaded machine."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (data := self._match(suffix, predicate, anywhere)) is not None:
                return data
            time.sleep(0.02)
        raise self._missing(suffix, timeout_s)


def publish(
    broker: MosquittoBroker,
    topic: str,
    payload: bytes | str,
    *,
    username: str | None = None,
    password: str | None = None,
    properties: Properties | None = None,
    v5: bool = True,
) -> None:
    """Publish one QoS 1 message from a separate client and wait for the broker's ack."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
    )
    if username is not None:
        client.username_pw_set(username, password)
    client.connect(broker.host, broker.port, 30)
    client.loop_start()
    try:
        info = client.publish(topic, payload, 1, properties=properties)
        info.wait_for_publish(5.0)
    finally:
        client.disconnect()
        client.loop_stop()


class Commander:
    """One persistent MQTT v5 client that publishes commands (QoS 1), optionally with a
    response topic, correlation data and the retain flag; ``sent`` counts acknowledged ones."""

    def __init__(
        self,
        broker: MosquittoBroker,
        *,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.broker = broker

    def __enter__(self) -> Commander:
        self.client.connect(self.broker.host, self.broker.port, 30)
        self.client.loop_start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def send(
        self,
        topic: str,
        payload: bytes | str,
        *,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        retain: bool = False,
        wait: bool = True,
    ) -> None:
        props = Properties(PacketTypes.PUBLISH)
        if response_topic is not None:
            props.ResponseTopic = response_topic
        if correlation is not None:
            props.CorrelationData = correlation
        info = self.client.publish(topic, payload, 1, retain, properties=props)
        if wait:
            info.wait_for_publish(5.0)


PUBLISHER_CHILD = """
import asyncio, sys
from gaitcoach.mqtt import MqttPublisher, MqttSettings

async def main() -> None:
    s = MqttSettings(host="127.0.0.1", port=int(sys.argv[1]), keepalive_s=5, embedded="never",
                     homeassistant_discovery=sys.argv[2] == "ha")
    async with MqttPublisher(s, "alice") as pub:
        await pub.wait_connected(5)
        print("connected", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


@contextlib.contextmanager
def publisher_process(
    broker: MosquittoBroker, homeassistant: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """Alice's publisher in a child process, to kill (its last will then says offline)."""
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER_CHILD, str(broker.port), "ha" if homeassistant else "-"],
        cwd=root,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
