"""``gaitcoach listen`` as a user runs it: a real process against a real broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gaitcoach.cli import build_parser, main
from gaitcoach.errors import CliError
from gaitcoach.listen import Metronome, format_cue, settings_from_args
from gaitcoach.mqtt import CuePayload, MqttPublisher
from gaitcoach.mqtt.payloads import encode
from gaitcoach.types import Cue, CueKind
from tests.mqtt.broker import RUNNER_PASSWORDS, MosquittoBroker
from tests.mqtt.clients import publish
from tests.mqtt.test_topics import make_cue, settings_for
from tests.support import require

ROOT = Path(__file__).resolve().parents[2]


async def read_until(stream: asyncio.StreamReader, needle: str, lines: list[str]) -> None:
    while True:
        line = (await asyncio.wait_for(stream.readline(), 15.0)).decode()
        if not line:
            raise AssertionError(f"listen ended before {needle!r}: {lines}")
        lines.append(line.rstrip("\n"))
        if needle in line:
            return


@contextlib.asynccontextmanager
async def listen_process(
    port: int, *extra: str, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``gaitcoach listen --runner alice --port PORT --timeout 30 EXTRA...`` as a user runs it;
    killed on the way out if still running."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "gaitcoach", "listen", "--runner", "alice"),
        *("--port", str(port), "--timeout", "30", *extra),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert proc.stdout is not None
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_listen_prints_and_speaks_cues_drops_stale_ones_and_ticks(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    require(shutil.which("espeak-ng") is not None, "espeak-ng is not installed")
    wav_dir = tmp_path / "spoken"
    async with MqttPublisher(settings_for(mosquitto), "alice") as pub:
        assert await pub.wait_connected(5.0) and await pub.flush()
        lines: list[str] = []
        args = ("--count", "2", "--wav-dir", str(wav_dir), "--metronome")
        async with listen_process(mosquitto.port, *args) as proc:
            assert proc.stdout is not None
            await read_until(proc.stdout, "service online", lines)
            # A cue that expired on the way is dropped by the listener, not spoken.
            stale = CuePayload.from_cue(make_cue(time.time() - 20, cue_id="old"), "alice")
            publish(mosquitto, "gaitcoach/alice/cue", encode(stale))
            await read_until(proc.stdout, "dropped stale cue old", lines)
            pub.publish_cue(make_cue(time.time(), cue_id="c-1"))
            await read_until(proc.stdout, "cadence: Quicker steps", lines)
            # The metronome now ticks at the cue's 165 steps/min (a bell per step).
            bells = await asyncio.wait_for(proc.stdout.readuntil(b"\a\a"), 5.0)
            lines.append(bells.decode())
            pub.publish_cue(
                Cue(
                    "c-2",
                    CueKind.STRIDE,
                    "Shorter stride",
                    30,
                    time.time(),
                    time.time() + 8,
                    {"overstride_m": 0.36},
                )
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 30.0)
    lines += out.decode().splitlines()
    assert proc.returncode == 0, lines
    text = "\n".join(lines)
    assert "cadence: Quicker steps" in text and "stride: Shorter stride" in text
    assert "cadence_spm=152" in text and "overstride_m=0.36" in text
    assert "2 cues, 1 stale dropped, 0 bad, 2 spoken" in text
    for cue_id in ("c-1", "c-2"):
        wav = wav_dir / f"{cue_id}.wav"
        assert wav.read_bytes()[:4] == b"RIFF" and wav.stat().st_size > 1000
    assert not (wav_dir / "old.wav").exists()
    ticks = int(text.rsplit(", ", 1)[1].split()[0])
    assert ticks >= 2  # the metronome ticked at the cadence cue's tempo


def test_listen_bad_arguments_are_one_line_errors() -> None:
    assert main(["listen", "--runner", "a/b", "--timeout", "1"]) == 2
    assert main(["listen", "--config", "/nonexistent.toml"]) == 2


async def test_metronome_ticks_at_its_tempo() -> None:
    ticks: list[float] = []
    loop = asyncio.get_running_loop()
    metronome = Metronome(lambda: ticks.append(loop.time()), spm=1200.0)
    metronome.start()
    await asyncio.sleep(0.5)
    await metronome.stop()
    assert len(ticks) >= 3
    mean_gap_s = (ticks[-1] - ticks[0]) / (len(ticks) - 1)
    assert mean_gap_s > 0.03  # beats spaced at the tempo (0.05 s), not a burst


def test_format_cue_shows_text_and_numbers() -> None:
    cue = CuePayload.from_cue(make_cue(1000.0), "alice", 1.7e9)
    line = format_cue(cue, cue.created_unix_s + 0.012)
    assert "cadence: Quicker steps" in line and "target_spm=165" in line and "12 ms" in line


def test_listen_reads_config_and_flags_override(tmp_path: Path) -> None:
    config = tmp_path / "gaitcoach.toml"
    config.write_text('[runner]\nid = "carol"\n[mqtt]\nhost = "broker.local"\nport = 1884\n')
    parser = build_parser()
    settings, runner = settings_from_args(parser.parse_args(["listen", "--config", str(config)]))
    assert (settings.host, settings.port, runner) == ("broker.local", 1884, "carol")
    args = parser.parse_args(
        ["listen", "--config", str(config), "--port", "1999", "--runner", "dan"]
    )
    settings, runner = settings_from_args(args)
    assert (settings.host, settings.port, runner) == ("broker.local", 1999, "dan")
    config.write_text("[mqtt]\nport = 99999\n")
    with pytest.raises(CliError, match=r"mqtt\.port"):
        settings_from_args(parser.parse_args(["listen", "--config", str(config)]))


HOSTILE_CUES: list[dict[str, Any]] = [
    {"priority": 1e999},
    {"level": 1e999},
    {"priority": "high"},
    {"level": -1},
    {"created_unix_s": None},
    {"expires_unix_s": float("nan")},
    {"trigger": None},
    {"trigger": {"cadence_spm": "fast"}},
    {"metronome_spm": -5},
    {"text": ["x"]},
    {"id": None},
]


async def test_listen_survives_hostile_retained_status_and_cues(
    mosquitto: MosquittoBroker,
) -> None:
    # Issue 14: a retained status with pods: null killed every listener at start, and a cue
    # with priority 1e999 killed a running one.
    from tests.mqtt.clients import Commander

    good = CuePayload.from_cue(make_cue(time.time(), cue_id="good"), "alice")
    base = json.loads(encode(good))
    with Commander(mosquitto) as app:
        app.send(
            "gaitcoach/alice/status",
            json.dumps({"v": 1, "type": "status", "online": True, "pods": None}),
            retain=True,
        )
        lines: list[str] = []
        async with listen_process(
            mosquitto.port, "--count", "2", "--no-speak", "--metronome"
        ) as proc:
            assert proc.stdout is not None
            await read_until(proc.stdout, "service online", lines)
            for i, change in enumerate(HOSTILE_CUES):
                app.send("gaitcoach/alice/cue", json.dumps({**base, "id": f"h{i}", **change}))
            for payload in (b"[" * 5000, b'{"type": "cue", "v": 1, "priority": 1' + b"0" * 5000):
                app.send("gaitcoach/alice/cue", payload)
            app.send(
                "gaitcoach/alice/status",
                json.dumps({"online": False, "reason": "\x1b]0;pwned\x07", "pods": [None, 3]}),
            )
            # Valid cues: a terminal escape in the text is shown inert; a tempo of 1e300
            # steps/min is not taken up by the metronome.
            escape = {**base, "id": "esc", "text": "\x1b[2J\x1b[31mred", "metronome_spm": 1e300}
            app.send("gaitcoach/alice/cue", json.dumps(escape))
            app.send("gaitcoach/alice/cue", encode(good))
            out, _ = await asyncio.wait_for(proc.communicate(), 30.0)
        app.send("gaitcoach/alice/status", b"", retain=True)
    text = "\n".join(lines) + out.decode()
    assert proc.returncode == 0, text
    assert f"2 cues, 0 stale dropped, {len(HOSTILE_CUES) + 2} bad" in text
    assert "cadence: ?[2J?[31mred" in text and "\x1b" not in text
    assert "service offline (?]0;pwned?)" in text
    assert "metronome ticks" in text and "\a" * 20 not in text


def test_listen_password_from_the_environment_or_a_private_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    monkeypatch.setenv("GAITCOACH_MQTT_PASSWORD", "from-env")
    settings, _ = settings_from_args(parser.parse_args(["listen", "--username", "alice"]))
    assert (settings.username, settings.password) == ("alice", "from-env")
    assert "warning" not in capsys.readouterr().err
    monkeypatch.delenv("GAITCOACH_MQTT_PASSWORD")
    config = tmp_path / "gaitcoach.toml"
    config.write_text('[mqtt]\nusername = "alice"\npassword = "in-file"\n')
    config.chmod(0o600)
    settings, _ = settings_from_args(parser.parse_args(["listen", "--config", str(config)]))
    assert settings.password == "in-file"
    assert "warning" not in capsys.readouterr().err
    config.chmod(0o644)
    settings_from_args(parser.parse_args(["listen", "--config", str(config)]))
    err = capsys.readouterr().err
    assert "other users can read" in err and "chmod 600" in err and "in-file" not in err
    settings_from_args(parser.parse_args(["listen", "--username", "a", "--password", "argv"]))
    assert "--password is visible" in capsys.readouterr().err


async def test_listen_authenticates_with_the_environment_password(
    mosquitto_auth: MosquittoBroker,
) -> None:
    async with MqttPublisher(
        settings_for(mosquitto_auth, username="alice", password=RUNNER_PASSWORDS["alice"]),
        "alice",
    ) as pub:
        assert await pub.wait_connected(5.0)
        lines: list[str] = []
        args = ("--count", "1", "--no-speak", "--username", "alice")
        env = {"GAITCOACH_MQTT_PASSWORD": RUNNER_PASSWORDS["alice"]}
        async with listen_process(mosquitto_auth.port, *args, env=env) as proc:
            assert proc.stdout is not None
            await read_until(proc.stdout, "service online", lines)
            pub.publish_cue(make_cue(time.time()))
            out, _ = await asyncio.wait_for(proc.communicate(), 30.0)
    assert proc.returncode == 0 and "1 cues" in out.decode(), (lines, out)
