"""The example configurations: Mosquitto starts with them and they do what they say."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

from gaitcoach.mqtt import MqttPublisher, MqttSettings
from tests.mqtt.broker import MosquittoBroker, TlsFiles, free_port
from tests.mqtt.clients import Recorder
from tests.mqtt.test_topics import make_cue
from tests.support import require

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config" / "mosquitto"


def test_mqtt_section_example_loads() -> None:
    data = tomllib.loads((ROOT / "config" / "gaitcoach.toml").read_text())
    settings = MqttSettings.from_dict(data["mqtt"], "mqtt")
    assert settings.configured and settings.protocol == "auto"


def adapted(conf: str, port: int, tmp: Path, tls: TlsFiles | None = None) -> str:
    """The example with this test's port, folders and files."""
    text = re.sub(r"^listener \d+.*$", f"listener {port} 127.0.0.1", conf, flags=re.M)
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


async def test_tls_acl_example_keeps_runners_apart(tmp_path: Path, tls_files: TlsFiles) -> None:
    require(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd is missing")
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    for user in ("alice", "bob", "gaitcoach"):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, f"{user}-pw"], check=True)
    port = free_port()
    text = adapted((EXAMPLES / "tls-acl.conf").read_text(), port, tmp_path, tls_files)
    broker = ExampleBroker(tmp_path / "b", text)
    broker.port = port
    with broker:

        def settings(user: str) -> MqttSettings:
            return MqttSettings(
                host="localhost",
                port=port,
                embedded="never",
                tls=True,
                ca_file=str(tls_files.ca_cert),
                username=user,
                password=f"{user}-pw",
            )

        async with (
            MqttPublisher(settings("alice"), "alice") as alice,
            MqttPublisher(settings("bob"), "bob") as bob,
        ):
            assert await alice.wait_connected(5.0) and await bob.wait_connected(5.0)
            # Bob's credentials cannot command Alice's service.
            bob.connection.publish("gaitcoach/alice/cmd/stop", b"{}", 1)
            alice.connection.publish("gaitcoach/alice/cmd/stop", b"{}", 1)
            deadline = time.monotonic() + 5
            while not alice.handled_commands_ and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            assert len(alice.handled_commands_) == 1
            assert bob.connection.stats.rejected == 1  # v5 PUBACK: not authorized
