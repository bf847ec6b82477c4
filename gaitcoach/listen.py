"""``gaitcoach listen``: a reference consumer of the cue topic.

Prints every cue as it arrives (stale ones are dropped and counted), speaks it with espeak-ng
when that is installed, shows when the service goes online or offline, and with
``--metronome`` ticks at the target cadence of the latest cadence cue (or ``--metronome-spm``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from gaitcoach.coach.config import RunnerProfile
from gaitcoach.errors import CliError, ConfigError
from gaitcoach.mqtt.config import (
    PASSWORD_ENV,
    MqttSettings,
    secret_file_warning,
    with_password_env,
)
from gaitcoach.mqtt.connection import Incoming
from gaitcoach.mqtt.payloads import CuePayload, PayloadError, decode_object
from gaitcoach.mqtt.subscriber import MqttSubscriber
from gaitcoach.mqtt.topics import QOS_CUE, QOS_STATUS, Topics
from gaitcoach.safepath import inside, is_session_id

METRONOME_MIN_SPM = 60.0
METRONOME_MAX_SPM = 300.0
"""A cue's metronome tempo is used only within these steps per minute."""


def terminal_safe(text: str, limit: int = 300) -> str:
    """Text from the network as it may reach a terminal: control characters (escape
    sequences that move the cursor or retitle the window) shown as '?', and cut."""
    safe = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return safe if len(safe) <= limit else safe[:limit] + "..."


def format_cue(cue: CuePayload, now_unix_s: float) -> str:
    """One line per cue: local time, kind, level, text and the numbers behind it."""
    try:
        stamp = time.strftime("%H:%M:%S", time.localtime(cue.created_unix_s))
    except (OverflowError, OSError, ValueError):  # a time far outside the calendar
        stamp = "--:--:--"
    numbers = " ".join(
        f"{terminal_safe(k, 40)}={v:.3g}"
        for k, v in sorted(cue.trigger.items())[:12]
        if not k.startswith("before_")
    )
    late_ms = max(0.0, now_unix_s - cue.created_unix_s) * 1000
    level = f" L{min(cue.level, 99)}" if cue.level else ""
    kind, text = terminal_safe(cue.kind, 20), terminal_safe(cue.text)
    return f"[{stamp}] {kind}{level}: {text}  ({numbers}; {late_ms:.0f} ms)"


class Speaker:
    """Speaks cues one at a time with espeak-ng; a more important cue interrupts."""

    def __init__(self, voice: str = "en", wav_dir: Path | None = None) -> None:
        self.program = shutil.which("espeak-ng")
        self.voice = voice
        self.wav_dir = wav_dir
        self.spoken = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._priority = -1

    @property
    def available(self) -> bool:
        return self.program is not None

    async def say(self, cue: CuePayload) -> None:
        if self.program is None:
            return
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if cue.priority <= self._priority:
                await proc.wait()  # let the current message finish
            else:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                await proc.wait()
        args = [self.program, "-v", self.voice]
        if self.wav_dir is not None:  # for machines without audio (and tests)
            # The id comes from the network: a plain name inside wav_dir, or a numbered one.
            name = cue.id if is_session_id(cue.id) else f"cue-{self.spoken + 1}"
            args += ["-w", str(inside(self.wav_dir, f"{name}.wav"))]
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            "--",
            cue.text[:500],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._priority = cue.priority
        self.spoken += 1

    async def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            await self._proc.wait()


class Metronome:
    """Ticks at ``spm`` beats per minute (one per step) through ``tick``; 0 = silent."""

    def __init__(self, tick: Callable[[], None], spm: float = 0.0) -> None:
        self.tick = tick
        self.spm = spm
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            if self.spm <= 0:
                await asyncio.sleep(0.1)
                next_t = loop.time()
                continue
            # Absolute beat times: no drift from the time each tick takes.
            next_t += 60.0 / self.spm
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            self.tick()
            self.ticks += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class ListenOptions:
    speak: bool = True
    voice: str = "en"
    wav_dir: Path | None = None
    metronome: bool = False
    metronome_spm: float | None = None
    count: int | None = None
    timeout_s: float | None = None


@dataclass
class ListenResult:
    cues: int = 0
    stale: int = 0
    bad: int = 0
    spoken: int = 0
    ticks: int = 0
    connected: bool = False
    last_error: str = ""


async def listen(
    settings: MqttSettings, runner: str, options: ListenOptions, out: TextIO = sys.stdout
) -> ListenResult:
    """Print (and speak) cues until ``count`` cues, ``timeout_s`` or cancellation."""
    topics = Topics(runner, settings.topic_prefix)
    result = ListenResult()
    speaker = Speaker(options.voice, options.wav_dir) if options.speak else None
    metronome = Metronome(lambda: print("\a", end="", file=out, flush=True))
    if options.metronome:
        metronome.spm = options.metronome_spm or 0.0
        metronome.start()
    client_id = f"gaitcoach-listen-{runner}-{int(time.time() * 1000) % 100000}"
    subscriptions = [(topics.cue, QOS_CUE), (topics.status, QOS_STATUS)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.timeout_s if options.timeout_s else None
    try:
        async with MqttSubscriber(settings, subscriptions, client_id) as sub:
            print(f"listening for {topics.cue} on {settings.host}:{settings.port}", file=out)
            last_status: str | None = None
            while options.count is None or result.cues < options.count:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    msg = await sub.get(remaining)
                except TimeoutError:
                    break
                result.connected = True
                try:
                    last_status = await _handle(
                        msg, topics, options, result, out, last_status, metronome, speaker
                    )
                except Exception as exc:  # one bad message must never end the listener
                    result.bad += 1
                    print(f"ignored a message on {terminal_safe(msg.topic)}: {exc!r}", file=out)
            result.connected = result.connected or sub.connection.stats.connects > 0
            result.last_error = sub.connection.stats.last_error
    finally:
        await metronome.stop()
        if speaker is not None:
            await speaker.close()
            result.spoken = speaker.spoken
        result.ticks = metronome.ticks
    return result


async def _handle(
    msg: Incoming,
    topics: Topics,
    options: ListenOptions,
    result: ListenResult,
    out: TextIO,
    last_status: str | None,
    metronome: Metronome,
    speaker: Speaker | None,
) -> str | None:
    """One received message; returns the status line now shown."""
    if msg.topic == topics.status:
        # Status is republished on every battery/RSSI update: show changes only.
        line = _status_line(msg.payload)
        if line is not None and line != last_status:
            print(line, file=out, flush=True)
            return line
        return last_status
    try:
        cue = CuePayload.from_json(msg.payload)
    except PayloadError as exc:
        result.bad += 1
        print(f"ignored a bad cue payload: {terminal_safe(str(exc))}", file=out)
        return last_status
    now = time.time()
    if now > cue.expires_unix_s:
        result.stale += 1
        print(
            f"dropped stale cue {terminal_safe(cue.id, 64)} "
            f"({now - cue.expires_unix_s:.1f} s late)",
            file=out,
        )
        return last_status
    result.cues += 1
    print(format_cue(cue, now), file=out, flush=True)
    spm = cue.metronome_spm or 0.0
    # A tempo outside what a runner can step is ignored (1e-300 would silence the
    # metronome, 1e300 would ring the bell in a busy loop).
    usable = METRONOME_MIN_SPM <= spm <= METRONOME_MAX_SPM
    if usable and options.metronome and options.metronome_spm is None:
        metronome.spm = spm
    if speaker is not None:
        await speaker.say(cue)
    return last_status


def _status_line(payload: bytes) -> str | None:
    """The service's retained status in one line; None when it is not a status object. Every
    field is checked: a retained message with ``pods: null`` must not stop a listener."""
    try:
        status = decode_object(payload)
    except PayloadError:
        return None
    if not status:
        return None
    reason = status.get("reason")
    reason_text = terminal_safe(reason, 80) if isinstance(reason, str) else ""
    state = "online" if status.get("online") is True else f"offline ({reason_text})"
    pods_raw = status.get("pods")
    pods = []
    for p in pods_raw[:4] if isinstance(pods_raw, list) else []:
        if isinstance(p, dict):
            battery = p.get("battery_pct")
            battery_text = (
                f"{battery}%" if isinstance(battery, int) and 0 <= battery <= 100 else "?"
            )
            foot, link = (terminal_safe(str(p.get(k)), 20) for k in ("foot", "state"))
            pods.append(f"{foot} {link} {battery_text}")
    return f"service {state}" + (f"; pods: {', '.join(pods)}" if pods else "")


def settings_from_args(args: argparse.Namespace) -> tuple[MqttSettings, str]:
    """The [mqtt] section and runner id of the config ``run`` uses (``--config``, else
    ``$GAITCOACH_CONFIG``, else the user's file), overridden by the flags."""
    from gaitcoach.configmodel import read_toml, resolve_paths
    from gaitcoach.mqtt.config import PATH_KEYS
    from gaitcoach.paths import find_config

    data: dict[str, Any] = {}
    where = find_config(args.config)
    if where.path is not None:
        try:
            data = read_toml(where.path, where.how)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
    mqtt = data.get("mqtt", {})
    if where.path is not None:
        mqtt = resolve_paths(mqtt, PATH_KEYS, where.path.parent)
    if where.path is not None and isinstance(mqtt, dict):
        warning = secret_file_warning(where.path, mqtt)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    if args.password is not None:
        print(
            f"warning: --password is visible to other users (ps); prefer {PASSWORD_ENV} "
            "or the [mqtt] section of a config only you can read",
            file=sys.stderr,
        )
    try:
        if not isinstance(mqtt, dict):
            raise ConfigError("mqtt", "...", "a table ([mqtt])")
        # Precedence: the file, then the environment's password, then the flags.
        if args.username is not None:
            mqtt = {**mqtt, "username": args.username}
        mqtt = with_password_env(mqtt)
        if args.password is not None:
            mqtt["password"] = args.password
        settings = MqttSettings.from_dict(mqtt, "mqtt")
        flags = {
            "host": args.host,
            "port": args.port,
            "username": args.username,
            "password": args.password,
            "ca_file": args.ca_file,
            "cert_file": args.cert_file,
            "key_file": args.key_file,
            "protocol": args.protocol,
        }
        given = {k: v for k, v in flags.items() if v is not None}
        if args.ca_file or args.cert_file:
            given["tls"] = True
        merged = {**_as_dict(settings), **given}
        merged["host"] = merged["host"] or "127.0.0.1"
        settings = MqttSettings.from_dict(merged, "mqtt")
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    runner_table = data.get("runner", {})
    runner = (
        args.runner
        or (runner_table.get("id") if isinstance(runner_table, dict) else None)
        or RunnerProfile().id
    )
    try:
        Topics(runner)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return replace(settings, client_id=""), runner


def _as_dict(settings: MqttSettings) -> dict[str, Any]:
    return {
        name: getattr(settings, name)
        for name in settings.__dataclass_fields__
        if getattr(settings, name) is not None
    }


def run(args: argparse.Namespace) -> int:
    settings, runner = settings_from_args(args)
    options = ListenOptions(
        speak=not args.no_speak,
        voice=args.voice,
        wav_dir=Path(args.wav_dir) if args.wav_dir else None,
        metronome=args.metronome or args.metronome_spm is not None,
        metronome_spm=args.metronome_spm,
        count=args.count,
        timeout_s=args.timeout,
    )
    if options.wav_dir is not None:
        options.wav_dir.mkdir(parents=True, exist_ok=True)
    if options.speak and not Speaker().available:
        print("espeak-ng is not installed: printing only", file=sys.stderr)
    result = asyncio.run(listen(settings, runner, options))
    print(
        f"{result.cues} cues, {result.stale} stale dropped, {result.bad} bad, "
        f"{result.spoken} spoken, {result.ticks} metronome ticks"
    )
    if not result.connected:
        print(
            f"gaitcoach listen: no broker reached at {settings.host}:{settings.port} "
            f"({result.last_error or 'no answer'})",
            file=sys.stderr,
        )
        return 1
    return 0


def _positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{value!r}: must be > 0")
    return v


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "listen",
        help="print (and speak) a runner's cues as they arrive",
        description="Follow a runner's cues from the broker: print each one as it arrives, "
        "speak it with espeak-ng when installed, and say when the service goes online or "
        "offline. The broker and runner come from the config run uses, or the flags.",
    )
    p.add_argument("--runner", help="runner id (default: [runner] id of the config, as run)")
    p.add_argument(
        "--config", help="config file (as for run: default $GAITCOACH_CONFIG, else the user's)"
    )
    p.add_argument("--host", help="broker host (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="broker port (default 1883)")
    p.add_argument("--username")
    p.add_argument(
        "--password",
        help=f"visible to other users in ps: prefer {PASSWORD_ENV} or --config",
    )
    p.add_argument("--ca-file", help="CA to verify the broker (turns TLS on)")
    p.add_argument("--cert-file", help="client certificate (TLS)")
    p.add_argument("--key-file", help="client key (TLS)")
    p.add_argument("--protocol", choices=("auto", "5", "3.1.1"))
    p.add_argument("--no-speak", action="store_true", help="do not speak with espeak-ng")
    p.add_argument("--voice", default="en", help="espeak-ng voice (default en)")
    p.add_argument("--wav-dir", help="write each spoken cue to DIR/<cue id>.wav instead")
    p.add_argument(
        "--metronome",
        action="store_true",
        help="tick at the target cadence of the latest cadence cue",
    )
    p.add_argument("--metronome-spm", type=_positive, help="tick at this tempo (steps/min)")
    p.add_argument("--count", type=int, help="exit after this many cues")
    p.add_argument("--timeout", type=_positive, help="exit after this many seconds")
    p.set_defaults(func=run)
