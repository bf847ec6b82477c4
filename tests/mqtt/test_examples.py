"""The example configurations: Mosquitto starts with them and they do what they say."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import time
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from gaitcoach.mqtt import MqttPublisher, MqttSettings
from gaitcoach.mqtt.subscriber import MqttSubscriber
from tests.mqtt.broker import MosquittoBroker, TlsFiles, free_port, sign_certificate
from tests.mqtt.clients import Recorder
from tests.mqtt.test_topics import make_cue
from tests.support import require

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "gaitcoach" / "data" / "examples" / "mosquitto"


def test_mqtt_section_example_loads() -> None:
    data = tomllib.loads((ROOT / "gaitcoach" / "data" / "examples" / "gaitcoach.toml").read_text())
    settings = MqttSettings.from_dict(data["mqtt"], "mqtt")
    assert settings.configured and settings.protocol == "auto"


def adapted(conf: str, port: int, tmp: Path, tls: TlsFiles | None = None, ws_port: int = 0) -> str:
    """The example with this test's ports (TCP, then websockets), folders and files."""
    ports = iter([port, ws_port or free_port()])
    text = re.sub(
        r"^listener \d+.*$", lambda m: f"listener {next(ports)} 127.0.0.1", conf, flags=re.M
    )
    text = text.replace("/var/lib/mosquitto/", f"{tmp}/")
    if tls is not None:
        for name, path in (
            ("ca.crt", tls.ca_cert),
            ("server.crt", tls.server_cert),
            ("server.key", tls.server_key),
        ):
            text = text.replace(f"/etc/mosquitto/gaitcoach/{name}", str(path))
    text = text.replace("/etc/mosquitto/gaitcoach/acl", str(EXAMPLES / "acl"))
    text = text.replace("/etc/mosquitto/gaitcoach/passwd", str(tmp / "passwd"))
    return text + "user root\n"


class ExampleBroker(MosquittoBroker):
    """A MosquittoBroker whose config file is an adapted example."""

    def __init__(self, directory: Path, text: str) -> None:
        super().__init__(directory)
        self.text = text

    def _write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.text)


async def test_local_example_serves_the_service(tmp_path: Path) -> None:
    port = free_port()
    text = adapted((EXAMPLES / "local.conf").read_text(), port, tmp_path)
    broker = ExampleBroker(tmp_path / "b", text)
    broker.port = port
    with broker:
        settings = MqttSettings(host="127.0.0.1", port=port, embedded="never")
        with Recorder(broker, ["gaitcoach/alice/cue"]) as rec:
            async with MqttPublisher(settings, "alice") as pub:
                assert await pub.wait_connected(5.0)
                pub.publish_cue(make_cue(time.time()))
                await rec.wait_for("/cue")


ACCOUNTS = ("alice", "bob", "gaitcoach-alice", "gaitcoach-bob", "alice-dashboard", "coach")


def tls_acl_example(tmp_path: Path, tls_files: TlsFiles, ws_port: int = 0) -> ExampleBroker:
    """The shipped tls-acl.conf with its acl, a password per account (``<name>-pw``)."""
    require(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd is missing")
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    for user in ACCOUNTS:
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, f"{user}-pw"], check=True)
    port = free_port()
    text = adapted((EXAMPLES / "tls-acl.conf").read_text(), port, tmp_path, tls_files, ws_port)
    broker = ExampleBroker(tmp_path / "b", text)
    broker.port = port
    return broker


def account(broker: MosquittoBroker, tls_files: TlsFiles, user: str, **kw: Any) -> MqttSettings:
    return MqttSettings(
        host="localhost",
        port=broker.port,
        tls=True,
        ca_file=str(tls_files.ca_cert),
        username=user,
        password=f"{user}-pw",
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        **kw,
    )


async def test_tls_acl_example_keeps_runners_apart(tmp_path: Path, tls_files: TlsFiles) -> None:
    with tls_acl_example(tmp_path, tls_files) as broker:
        applied: list[object] = []
        async with (
            MqttPublisher(
                account(broker, tls_files, "gaitcoach-alice"),
                "alice",
                command_handler=applied.append,
            ) as service,
            MqttPublisher(account(broker, tls_files, "bob"), "bob") as bob,
            MqttPublisher(account(broker, tls_files, "alice"), "alice") as app,
        ):
            for c in (service, bob, app):
                assert await c.connection.wait_subscribed(5.0)
            # Bob's credentials cannot command Alice's service; Alice's can.
            bob.connection.publish("gaitcoach/alice/cmd/stop", b"{}", 1)
            app.connection.publish("gaitcoach/alice/cmd/stop", b"{}", 1)
            deadline = time.monotonic() + 5
            while not service.handled_commands_ and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            assert len(service.handled_commands_) == 1 and len(applied) == 1
            # v5 PUBACK "not authorized": the command to Alice, and the status Bob's client
            # published in his service's name (a runner's devices only read and command).
            assert bob.connection.stats.rejected == 2
            # Alice's client (a publisher used as a phone) also answered the command it read
            # on alice/cmd/: its status and that reply are refused, its command went through.
            assert app.connection.stats.rejected == 2 and app.connection.stats.delivered == 1
            # Alice's service account reaches only Alice's topics.
            service.connection.publish("gaitcoach/bob/cue", b"{}", 1)
            while service.connection.stats.rejected == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert service.connection.stats.rejected == 1


async def test_tls_acl_example_prevents_client_id_takeover(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    # Issue 14: any runner could connect as gaitcoach-<other> and knock that runner's service
    # off, leaving a retained "offline" status (the last will) behind.
    with tls_acl_example(tmp_path, tls_files) as broker:
        async with (
            MqttPublisher(account(broker, tls_files, "gaitcoach-alice"), "alice") as service,
            MqttSubscriber(
                account(broker, tls_files, "alice"), [("gaitcoach/alice/status", 1)], "phone"
            ) as phone,
        ):
            assert await service.wait_connected(5.0) and await phone.wait_subscribed(5.0)
            assert service.connection.client_id == "gaitcoach-alice"
            # Bob asks for the service's client id (with his own password) ...
            thief_settings = account(broker, tls_files, "bob", client_id="gaitcoach-alice")
            async with MqttPublisher(thief_settings, "bob") as thief:
                assert thief.connection.client_id == "gaitcoach-alice"
                assert await thief.wait_connected(5.0)  # ... is let in, as "bob" ...
                await asyncio.sleep(1.0)
                # ... and Alice's service stays connected: no disconnect, no last will.
                assert service.connected and service.connection.stats.disconnects == 0
                assert thief.connected and thief.connection.stats.disconnects == 0
            statuses = []
            with contextlib.suppress(TimeoutError):
                while True:
                    statuses.append(json.loads((await phone.get(0.5)).payload))
            assert statuses and all(s["online"] for s in statuses), statuses
            # Without a username there is no client id at all: refused.
            anonymous = replace(
                account(broker, tls_files, "bob", client_id="gaitcoach-alice"),
                username=None,
                password=None,
            )
            async with MqttPublisher(anonymous, "bob") as nobody:
                assert not await nobody.wait_connected(1.0)
            assert service.connected and service.connection.stats.disconnects == 0


async def test_tls_acl_example_certificate_variant_prevents_client_id_takeover(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    # The commented alternative of tls-acl.conf: the certificate's CN is the username (and so
    # the client id); no passwords.
    broker = tls_acl_example(tmp_path, tls_files)
    variant = broker.text.replace("# require_certificate true", "require_certificate true")
    broker.text = variant.replace(
        "# use_identity_as_username true", "use_identity_as_username true"
    )
    assert "\nrequire_certificate true" in broker.text
    assert "\nuse_identity_as_username true" in broker.text
    certs = {cn: sign_certificate(tls_files, tmp_path / "certs", cn, "extendedKeyUsage=clientAuth")
             for cn in ("gaitcoach-alice", "bob")}  # fmt: skip

    def by_cert(cn: str, **kw: Any) -> MqttSettings:
        crt, key = certs[cn]
        s = account(broker, tls_files, cn, cert_file=str(crt), key_file=str(key), **kw)
        return replace(s, username=None, password=None)

    with broker:
        async with MqttPublisher(by_cert("gaitcoach-alice"), "alice") as service:
            assert await service.wait_connected(5.0)
            async with MqttPublisher(by_cert("bob", client_id="gaitcoach-alice"), "bob") as thief:
                assert await thief.wait_connected(5.0)
                await asyncio.sleep(1.0)
                assert service.connected and service.connection.stats.disconnects == 0
                # The ACL applies to the certificate's name: bob cannot write alice's topics.
                thief.connection.publish("gaitcoach/alice/cmd/stop", b"{}", 1)
                deadline = time.monotonic() + 5
                while thief.connection.stats.rejected == 0 and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                assert thief.connection.stats.rejected == 1
            assert not service.handled_commands_
