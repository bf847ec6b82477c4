"""Connection behaviour on a real Mosquitto (and the embedded amqtt broker): last will, TLS,
passwords and ACL, broker restart mid-run, MQTT 3.1.1 fallback."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gaitcoach.mqtt import MqttPublisher, MqttSettings, service_publisher
from gaitcoach.mqtt.embedded import EmbeddedBroker, broker_reachable
from gaitcoach.mqtt.subscriber import MqttSubscriber
from gaitcoach.types import Activity, GaitMetrics
from tests.mqtt.broker import (
    RUNNER_PASSWORDS,
    SERVICE_USER,
    MosquittoBroker,
    TlsFiles,
    free_port,
    sign_certificate,
)
from tests.mqtt.clients import Recorder, publish, publisher_process, validate
from tests.mqtt.test_topics import make_cue, settings_for

ROOT = Path(__file__).resolve().parents[2]


async def test_last_will_marks_the_service_offline_when_it_is_killed(
    mosquitto: MosquittoBroker,
) -> None:
    with (
        Recorder(mosquitto, ["gaitcoach/alice/status"]) as rec,
        publisher_process(mosquitto) as child,
    ):
        online = await rec.wait_for("/status", lambda d: d["online"], timeout_s=15)
        assert online["protocol"] == "5"
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        offline = await rec.wait_for("/status", lambda d: not d["online"], timeout_s=10)
        assert offline["reason"] == "connection lost"
        assert all(m.retain is False or m.topic.endswith("status") for m in rec.messages)
        validate(rec.on("/status")[-1].payload)
    with Recorder(mosquitto, ["gaitcoach/alice/status"]) as late:
        retained = await late.wait_for("/status")
        assert retained["online"] is False and retained["reason"] == "connection lost"


async def test_tls_with_client_certificate_and_password(
    mosquitto_tls: MosquittoBroker, tls_files: TlsFiles
) -> None:
    base = settings_for(
        mosquitto_tls,
        tls=True,
        ca_file=str(tls_files.ca_cert),
        cert_file=str(tls_files.client_cert),
        key_file=str(tls_files.client_key),
        username="alice",
        password=RUNNER_PASSWORDS["alice"],
    )
    with Recorder(
        mosquitto_tls,
        ["gaitcoach/alice/cue"],
        username="alice",
        password=RUNNER_PASSWORDS["alice"],
        tls_ca=tls_files.ca_cert,
        tls_cert=(tls_files.client_cert, tls_files.client_key),
    ) as rec:
        async with MqttPublisher(base, "alice") as pub:
            assert await pub.wait_connected(5.0)
            pub.publish_cue(make_cue(time.time()))
            await rec.wait_for("/cue")
    # A broker certificate from another CA is refused; so is a client without a certificate.
    wrong_ca = replace(base, ca_file=str(tls_files.other_ca_cert))
    no_cert = replace(base, cert_file=None, key_file=None)
    for settings in (wrong_ca, no_cert):
        async with MqttPublisher(settings, "alice") as pub:
            assert not await pub.wait_connected(1.5)
            pub.publish_cue(make_cue(time.time()))
            assert pub.queued == 1  # kept for later, nothing leaked


async def test_password_and_acl_keep_runners_apart(mosquitto_auth: MosquittoBroker) -> None:
    alice = settings_for(mosquitto_auth, username="alice", password=RUNNER_PASSWORDS["alice"])
    applied: list[object] = []
    bob_spy = Recorder(
        mosquitto_auth,
        ["gaitcoach/alice/#", "gaitcoach/#"],
        username="bob",
        password=RUNNER_PASSWORDS["bob"],
    )
    service = Recorder(
        mosquitto_auth,
        ["gaitcoach/#"],
        username=SERVICE_USER,
        password=RUNNER_PASSWORDS[SERVICE_USER],
    )
    with bob_spy, service:
        async with MqttPublisher(alice, "alice", command_handler=applied.append) as pub:
            assert await pub.wait_connected(5.0)
            pub.publish_cue(make_cue(time.time()))
            await service.wait_for("alice/cue")
            # Bob cannot command Alice's service (the broker drops his publish) ...
            publish(
                mosquitto_auth,
                "gaitcoach/alice/cmd/mute",
                b'{"duration_s": 60}',
                username="bob",
                password=RUNNER_PASSWORDS["bob"],
            )
            # ... while Alice can.
            publish(
                mosquitto_auth,
                "gaitcoach/alice/cmd/stop",
                b"{}",
                username="alice",
                password=RUNNER_PASSWORDS["alice"],
            )
            await service.wait_for("alice/reply")
            assert len(applied) == 1 and pub.stats.commands_ok == 1
            # Alice's credentials cannot write Bob's topics (v5: the PUBACK says so).
            pub.connection.publish("gaitcoach/bob/cue", b"{}", 1)
            deadline = time.monotonic() + 5
            while pub.connection.stats.rejected == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert pub.connection.stats.rejected == 1
        await asyncio.sleep(0.2)
        assert bob_spy.messages == []  # never saw any of Alice's messages
        assert not service.on("bob/cue")
    # Wrong password: refused, one clear error, and the publisher keeps trying.
    wrong = replace(alice, password="guess")
    async with MqttPublisher(wrong, "alice") as pub:
        assert not await pub.wait_connected(1.0)
        assert pub.connection.stats.refused >= 1
        assert "Not authorized" in pub.connection.stats.last_error


async def test_broker_restart_drops_stale_cues_and_metrics_resume(
    mosquitto_persistent: MosquittoBroker,
) -> None:
    broker = mosquitto_persistent
    settings = settings_for(broker, reconnect_min_s=0.05, reconnect_max_s=0.2)
    app = Recorder(broker, ["gaitcoach/alice/#"], client_id="app", clean=False)
    with app:
        async with MqttPublisher(settings, "alice") as pub:
            assert await pub.wait_connected(5.0)
            stop = asyncio.Event()

            async def metrics_at_20_hz() -> None:
                while not stop.is_set():
                    pub.publish_metrics(GaitMetrics(time.time(), Activity.RUNNING, 10, 170.0))
                    await asyncio.sleep(0.05)

            task = asyncio.create_task(metrics_at_20_hz())
            await app.wait_for("/metrics")
            broker.stop()
            down_at = time.time()
            # Published before the publisher has even noticed that the broker is gone.
            pub.publish_cue(make_cue(time.time(), ttl_s=1.0, cue_id="stale"))
            pub.publish_cue(make_cue(time.time(), ttl_s=30.0, cue_id="fresh"))
            await asyncio.sleep(2.0)  # the analysis goes on; the stale cue expires meanwhile
            broker.start()
            assert await pub.wait_connected(10.0)
            fresh = await app.wait_for("/cue", lambda d: d["id"] == "fresh", timeout_s=10)
            await app.wait_for("/metrics", lambda d: d["t_unix_s"] > down_at + 2.0, timeout_s=5)
            status = await app.wait_for(
                "/status", lambda d: d["online"] and d["dropped"].get("cue_expired", 0) >= 1
            )
            stop.set()
            await task
        assert fresh["expires_unix_s"] > time.time()
        assert [m.json()["id"] for m in app.on("/cue")] == ["fresh"]
        assert pub.dropped["cue_expired"] == 1
        # About 40 metrics during the outage: only the newest was kept, and sent if still fresh.
        assert pub.dropped["metrics_superseded"] + pub.dropped.get("metrics_expired", 0) >= 30
        assert pub.connection.stats.disconnects == 1 and pub.connection.stats.connects == 2
        # Metrics queued during the outage are not delivered late.
        late = [m for m in app.on("/metrics") if m.t_s - m.json()["t_unix_s"] > 2.5]
        assert late == []
        validate(app.on("/status")[-1].payload)
        assert status["protocol"] == "5"


async def test_falls_back_to_mqtt_311_on_the_embedded_broker() -> None:
    async with EmbeddedBroker() as broker:
        plain = MqttSettings(
            host="127.0.0.1", port=broker.port, embedded="never", connect_timeout_s=0.5
        )
        # Without credentials amqtt refuses v5 in its CONNACK; with credentials it never
        # answers: both end on 3.1.1, for the publisher and for a consumer alike.
        for settings in (plain, replace(plain, username="alice", password="x")):
            async with (
                MqttSubscriber(settings, [("gaitcoach/alice/cue", 1)], "app") as sub,
                MqttPublisher(settings, "alice") as pub,
            ):
                assert await pub.wait_connected(5.0) and await sub.wait_subscribed(5.0)
                assert pub.protocol == "3.1.1" and pub.connection.stats.fallbacks == 1
                assert pub.connection.stats.outages == 0  # negotiation is not an outage
                assert sub.connection.protocol == "3.1.1"
                pub.publish_cue(make_cue(time.time()))
                got = await sub.get(5.0)
            assert got.topic == "gaitcoach/alice/cue"
            validate(got.payload)


async def test_service_publisher_never_falls_back_to_an_embedded_broker(tmp_path: Path) -> None:
    # Issue 14, silent downgrade: a configured (TLS) broker that is down at start-up used to be
    # replaced for the whole run by an anonymous plaintext amqtt broker on the same port.
    port = free_port()
    settings = MqttSettings(host="127.0.0.1", port=port, reconnect_min_s=0.05, reconnect_max_s=0.2)
    async with service_publisher(settings, "alice") as pub:
        assert pub is not None
        assert not await pub.wait_connected(0.5)
        assert not await broker_reachable("127.0.0.1", port)  # nothing serves in its place
        assert pub.connection.stats.outages == 1
        assert "connection refused" in pub.connection.down_reason
        pub.publish_cue(make_cue(time.time(), ttl_s=30.0))
        assert pub.queued == 1  # kept for the configured broker
        broker = MosquittoBroker(tmp_path / "late", port=port)
        with broker, Recorder(broker, ["gaitcoach/alice/cue"]) as rec:
            assert await pub.wait_connected(5.0) and pub.protocol == "5"
            await rec.wait_for("/cue")
        assert pub.connection.down_since_s is None or not pub.connected
    # No host configured: no MQTT at all (the live view coaches), and no broker either.
    async with service_publisher(MqttSettings(host=""), "alice") as none:
        assert none is None


async def test_service_starts_before_the_broker_and_backs_off(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "late")
    broker.port = free_port()
    settings = MqttSettings(
        host=broker.host,
        port=broker.port,
        embedded="never",
        reconnect_min_s=0.05,
        reconnect_max_s=0.4,
    )
    try:
        async with MqttPublisher(settings, "alice") as pub:
            pub.publish_cue(make_cue(time.time(), ttl_s=30.0, cue_id="early"))
            await asyncio.sleep(1.5)
            attempts = sum(
                e.startswith(f"cannot connect to {broker.host}:{broker.port}")
                for e in pub.connection.stats.errors
            )
            # Doubling from 0.05 s up to 0.4 s: about 6 tries in 1.5 s, not hundreds.
            assert 3 <= attempts <= 12, pub.connection.stats.errors
            assert not pub.connected and pub.queued == 1
            broker.start()
            assert await pub.wait_connected(5.0)
            with Recorder(broker, ["gaitcoach/alice/#"]) as rec:
                # The queued cue was sent on connect; the retained status shows it online.
                status = await rec.wait_for("/status", lambda d: d["online"])
                assert status["dropped"] == {}
            assert pub.stats.published["cue"] == 1 and pub.queued == 0
            assert await pub.flush() and pub.connection.stats.delivered >= 2  # status + cue
    finally:
        broker.stop()


def server_cert_for(tls: TlsFiles, directory: Path, san: str) -> TlsFiles:
    """The test CA's files with a server certificate naming only ``san``."""
    crt, key = sign_certificate(tls, directory, "elsewhere", f"subjectAltName={san}")
    return replace(tls, server_cert=crt, server_key=key)


async def test_tls_failures_are_logged_with_their_reason(
    tmp_path: Path, tls_files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 14: a wrong CA or a broker certificate for another host name showed up only as
    # "cannot connect"; the operator needs the reason.
    elsewhere = server_cert_for(tls_files, tmp_path / "elsewhere", "DNS:broker.example")
    cases = [
        # OpenSSL's words for "signed by a CA you do not trust" (mosquitto sends its CA too).
        (tls_files, tls_files.other_ca_cert, "127.0.0.1", "self-signed certificate in certificate"),
        (elsewhere, tls_files.ca_cert, "localhost", "Hostname mismatch"),
        (elsewhere, tls_files.ca_cert, "127.0.0.1", "IP address mismatch"),
    ]
    for i, (server, ca_file, host, reason) in enumerate(cases):
        broker = MosquittoBroker(tmp_path / f"b{i}", tls=server)
        with broker, caplog.at_level(logging.WARNING, logger="gaitcoach.mqtt.connection"):
            caplog.clear()
            settings = settings_for(
                broker,
                host=host,
                tls=True,
                ca_file=str(ca_file),
                reconnect_min_s=0.05,
                reconnect_max_s=0.1,
            )
            async with MqttPublisher(settings, "alice") as pub:
                assert not await pub.wait_connected(1.0)
                assert "TLS certificate rejected" in pub.connection.down_reason
                assert reason in pub.connection.down_reason, pub.connection.down_reason
                assert reason in pub.connection.stats.last_error
        warnings = [r.getMessage() for r in caplog.records if reason in r.getMessage()]
        # Said once with its reason, not at every retry (about 10 retries happened).
        assert len(warnings) == 1, warnings
        assert f"{host}:{broker.port}" in warnings[0]


def test_an_embedded_fall_back_cannot_be_configured() -> None:
    from gaitcoach.errors import ConfigError

    for value in ("auto", "always"):
        try:
            MqttSettings.from_dict({"host": "broker.example", "embedded": value})
        except ConfigError as exc:
            assert "mqtt.embedded" in str(exc) and "never" in str(exc)
        else:
            raise AssertionError(f"embedded = {value!r} was accepted")
    assert MqttSettings.from_dict({"embedded": "never"}).embedded == "never"
