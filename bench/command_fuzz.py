"""Live MQTT command fuzz against the running service (issue 14).

``./run bench command_fuzz [--seed S] [--scale X] [--only CATEGORY ...]``

The real stack: virtual pods streaming through the virtual BlueZ and bleak, the service
(recording), Mosquitto, and a fuzzing client publishing a few thousand hostile commands by
category over MQTT v5, each with its own correlation data. For every category the table shows
the messages tried and the failures of the contract "every command gets exactly one reply, on
the runner's own reply tree, with its proper code; a rejected command changes nothing":

* no reply, more than one reply, a wrong or ``internal_error`` code;
* a reply or any other message outside the runner's tree (a confused deputy);
* state changed by a refused command (the session id, a mute, a file outside the data dir);
* data lost: samples that reached the service while nothing recorded them, and, for the
  whole run, samples handled by the service but missing from the store.

The pure command path is also fuzzed by Hypothesis (tests/mqtt/test_command_fuzz.py); this
is the same contract end to end, with the broker and the service running.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
import resource
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gaitcoach.link import LinkItem
from gaitcoach.service.config import load_config
from gaitcoach.service.service import Service
from gaitcoach.session import SessionStore
from gaitcoach.types import ImuChunk

RUNNER = "bench"
BASE = f"gaitcoach/{RUNNER}"
WINDOW = 40
"""Commands in flight (sent, not yet answered) at most, so that a category measures the
command path rather than the broker's queue."""


@dataclasses.dataclass
class Probe:
    """One command message and what its reply must say (None: accepted)."""

    name: str
    payload: bytes
    code: str | None
    response_topic: str | None = None


@dataclasses.dataclass
class Row:
    category: str
    tried: int = 0
    no_reply: int = 0
    duplicate: int = 0
    wrong_code: int = 0
    state_changed: int = 0
    leaked: int = 0
    lost_samples: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def failures(self) -> int:
        return self.no_reply + self.duplicate + self.wrong_code + self.state_changed + self.leaked


# -- what is sent, by category ------------------------------------------------------------


def _nan_like(r: random.Random) -> bytes:
    return r.choice([b"NaN", b"Infinity", b"-Infinity"])


def cat_valid(r: random.Random, n: int) -> list[Probe]:
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append(Probe("mute", b'{"duration_s": 0}', None))
        elif kind == 1:
            v = r.uniform(150, 200)
            out.append(Probe("set_targets", json.dumps({"cadence_target_spm": v}).encode(), None))
        else:
            note = r.choice(["", "sharp", "tight after the hill"])
            body = {"body_part": "calf", "score": 0, "note": note}
            out.append(Probe("discomfort", json.dumps(body).encode(), None))
    return out


def cat_bad_json(r: random.Random, n: int) -> list[Probe]:
    makers: list[Callable[[], bytes]] = [
        lambda: r.randbytes(r.randint(1, 64)).replace(b"{", b"(") + b"\xff",
        lambda: b'{"duration_s": ' + str(r.randint(0, 99)).encode(),
        lambda: b"[1, 2, 3]",
        lambda: b'"just a string"',
        lambda: b'{"duration_s": ' + _nan_like(r) + b"}",
        lambda: b'{"duration_s": 5, "duration_s": 6}',
        lambda: '{"note": "caf\u00e9"}'.encode("latin-1"),
        lambda: b"\xef\xbb\xbf{}",
        lambda: b"{'single': 'quotes'}",
    ]
    return [Probe("mute", r.choice(makers)(), "bad_json") for _ in range(n)]


def cat_deep_nesting(r: random.Random, n: int) -> list[Probe]:
    out = []
    for _ in range(n):
        depth = r.choice([5, 50, 900, 950, 990, 1000, 1500, 2000])
        opener, closer = r.choice([(b"[", b"]"), (b'{"a":', b"}")])
        payload = b'{"duration_s": ' + opener * depth + b"1" + closer * depth + b"}"
        out.append(Probe("mute", payload, "too_large" if len(payload) > 4096 else "bad_json"))
    return out


def cat_huge_numbers(r: random.Random, n: int) -> list[Probe]:
    out = []
    for _ in range(n):
        digits = str(r.randint(1, 9)) + "9" * r.randint(20, 4000)
        sign = r.choice(["", "-"])
        number = r.choice([f"{sign}{digits}", f"{sign}1e999", f"{sign}1e{r.randint(309, 5000)}"])
        name, key = r.choice([("mute", "duration_s"), ("set_targets", "cadence_target_spm")])
        body = f'{{"{key}": {number}}}'.encode()
        if name == "mute" and r.random() < 0.3:
            body = f'{{"body_part": "knee", "score": {number}}}'.encode()
            name = "discomfort"
        out.append(Probe(name, body, "out_of_range"))
    return out


def cat_bad_values(r: random.Random, n: int) -> list[Probe]:
    bodies: list[tuple[str, str]] = [
        ("mute", '{"duration_s": "long"}'),
        ("mute", '{"duration_s": true}'),
        ("mute", '{"duration_s": null}'),
        ("mute", '{"duration_s": [1]}'),
        ("discomfort", '{"body_part": "elbow", "score": 3}'),
        ("discomfort", '{"body_part": "knee", "score": 2.5}'),
        ("discomfort", '{"body_part": "knee", "score": 3, "note": "\\ud800"}'),
        ("discomfort", '{"body_part": "knee", "score": 3, "note": "' + "n" * 201 + '"}'),
        ("mute", '{"duration_s": 5, "id": "\\u001b[2J"}'),
        ("mute", '{"duration_s": 5, "id": {"a": 1}}'),
        ("set_targets", '{"cadence_target_spm": "fast"}'),
    ]
    picks = [r.choice(bodies) for _ in range(n)]
    return [Probe(name, body.encode(), "bad_value") for name, body in picks]


def cat_unknown(r: random.Random, n: int) -> list[Probe]:
    out = []
    for _ in range(n):
        choice = r.randrange(3)
        if choice == 0:
            name = "".join(r.choice("abcxyz_-") for _ in range(r.randint(1, 80)))
            out.append(Probe(name, b"{}", "unknown_command"))
        elif choice == 1:
            out.append(Probe("mute/now/" + "x" * r.randint(0, 40), b"{}", "unknown_command"))
        else:
            key = "".join(r.choice("abcdefgh") for _ in range(r.randint(1, 3000)))
            out.append(Probe("mute", json.dumps({"duration_s": 5, key: 1}).encode(), None))
            out[-1].code = "too_large" if len(out[-1].payload) > 4096 else "unknown_argument"
    return out


def cat_too_large(r: random.Random, n: int) -> list[Probe]:
    sizes = [r.randint(4096, 256_000) for _ in range(n)]
    return [
        Probe("mute", b'{"duration_s": 5, "x": "' + b"y" * k + b'"}', "too_large") for k in sizes
    ]


ESCAPES = [
    "../../escape",
    "../../../../tmp/gaitcoach-fuzz-escape",
    "/tmp/gaitcoach-fuzz-abs",
    "reports/../../x",
    "..",
    ".",
    "a/b",
    "a\\\\b",
    "-rf",
    "x.html",
    "caf\u00e9",
    "a" * 65,
    "",
    " ",
    "nul\\u0000x",
]


def cat_path_traversal(r: random.Random, n: int) -> list[Probe]:
    out = []
    for _ in range(n):
        sid = r.choice(ESCAPES)
        out.append(Probe("start", ('{"session_id": "' + sid + '"}').encode(), "bad_value"))
    return out


def cat_wildcard_response(r: random.Random, n: int) -> list[Probe]:
    topics = [f"{BASE}/reply/#", f"{BASE}/reply/+", f"{BASE}/+/x", "#", "+", f"{BASE}/reply/a/#"]
    return [
        Probe("mute", b'{"duration_s": 0}', "bad_response_topic", r.choice(topics))
        for _ in range(n)
    ]


def cat_foreign_response(r: random.Random, n: int) -> list[Probe]:
    topics = [
        "gaitcoach/bob/cue",
        "gaitcoach/bob/status",
        "gaitcoach/bob/reply",
        f"{BASE}/cmd/stop",
        f"{BASE}/status",
        f"{BASE}/replyx",
        "other/tree",
        "x" * 300,
    ]
    return [
        Probe("mute", b'{"duration_s": 0}', "bad_response_topic", r.choice(topics))
        for _ in range(n)
    ]


# -- the run ------------------------------------------------------------------------------


class FuzzedService(Service):
    """The service, counting samples that arrive while no session records them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.category = "setup"
        self.unrecorded: Counter[str] = Counter()

    def handle(self, item: LinkItem) -> None:
        if isinstance(item, ImuChunk) and self.recorder is None:
            self.unrecorded[self.category] += len(item)
        super().handle(item)


class Client:
    """The fuzzer's MQTT side: one publisher and one collector of everything on the broker."""

    def __init__(self, port: int) -> None:
        self.replies: dict[bytes, list[dict[str, Any]]] = defaultdict(list)
        self.leaks: list[str] = []
        self.lock = threading.Lock()
        self.pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.watch = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.watch.on_connect = lambda c, *_: c.subscribe("#", 1)
        self.watch.on_message = self._on_message
        subscribed = threading.Event()
        self.watch.on_subscribe = lambda *_: subscribed.set()
        for c in (self.pub, self.watch):
            c.connect("127.0.0.1", port, 30)
            c.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("fuzz watcher not subscribed")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        topic = msg.topic
        if topic.startswith(f"{BASE}/cmd/"):
            return  # ours
        with self.lock:
            if not topic.startswith(BASE + "/"):
                self.leaks.append(topic[:80])
            elif topic == f"{BASE}/reply" or topic.startswith(f"{BASE}/reply/"):
                corr = getattr(msg.properties, "CorrelationData", None)
                try:
                    data = json.loads(msg.payload)
                except ValueError:
                    data = {"unparsable": True}
                self.replies[corr or b""].append(data)

    def answered(self, keys: list[bytes]) -> int:
        with self.lock:
            return sum(1 for k in keys if self.replies.get(k))

    def send(self, probe: Probe, corr: bytes, retain: bool = False) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = corr
        if probe.response_topic is not None:
            props.ResponseTopic = probe.response_topic
        self.pub.publish(f"{BASE}/cmd/{probe.name}", probe.payload, 1, retain, properties=props)

    def close(self) -> None:
        for c in (self.pub, self.watch):
            c.disconnect()
            c.loop_stop()


def _wait(timeout_s: float, predicate: Callable[..., bool], *args: Any) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate(*args):
            return True
        time.sleep(0.01)
    return predicate(*args)


def run_probes(
    svc: FuzzedService, client: Client, category: str, probes: list[Probe], window: int = WINDOW
) -> Row:
    row = Row(category, tried=len(probes))
    svc.category = category
    session_before = svc.state.session_id
    leaks_before = len(client.leaks)
    keys = [f"{category}:{i}".encode() for i in range(len(probes))]
    patience_s = 10.0
    for i, (probe, key) in enumerate(zip(probes, keys, strict=True)):
        # Replies that never come must not stall the run: after one long wait, brief ones.
        if window and not _wait(patience_s, lambda i: client.answered(keys[:i]) >= i - window, i):
            patience_s = 0.05
        client.send(probe, key)
    _wait(30.0, lambda: client.answered(keys) == len(keys))
    time.sleep(0.3)  # a second reply to any of them would be here by now
    accepted = 0
    with client.lock:
        for probe, key in zip(probes, keys, strict=True):
            got = client.replies.get(key, [])
            if not got:
                row.no_reply += 1
                continue
            row.duplicate += len(got) - 1
            error = got[0].get("error") or {}
            code = error.get("code") if isinstance(error, dict) else None
            if code != probe.code:
                row.wrong_code += 1
                if len(row.notes) < 3:
                    row.notes.append(f"{probe.name} {probe.payload[:40]!r}: {code} != {probe.code}")
            accepted += code is None
    if accepted == 0 and svc.state.session_id != session_before:
        row.state_changed += 1
        row.notes.append(f"session {session_before} -> {svc.state.session_id}")
    row.leaked = len(client.leaks) - leaks_before
    row.lost_samples = svc.unrecorded[category]
    return row


def run_start_running_id(svc: FuzzedService, client: Client, n: int) -> Row:
    sid = svc.state.session_id
    probe = Probe("start", json.dumps({"session_id": sid}).encode(), "conflict")
    row = run_probes(svc, client, "start_running_id", [probe] * n)
    recorder = svc.recorder
    if svc.state.session_id != sid or recorder is None:
        row.state_changed += 1
    return row


def run_start_new(svc: FuzzedService, client: Client, n: int) -> Row:
    """Accepted starts (each closes a session and opens one): nothing may be lost between."""
    probes = [
        Probe("start", json.dumps({"session_id": f"fuzz-{time.time_ns()}-{i}"}).encode(), None)
        for i in range(n)
    ]
    row = run_probes(svc, client, "start_new", probes, window=1)
    if svc.state.session_id != json.loads(probes[-1].payload)["session_id"]:
        row.state_changed += 1
    return row


def run_retained(svc: FuzzedService, client: Client, port: int, kicks: int) -> Row:
    """Retained commands: executed once when sent live, refused (``retained``) each time the
    broker delivers them again, here after the service's connection is thrown off."""
    row = Row("retained")
    svc.category = "retained"
    pub = svc.publisher
    assert pub is not None
    targets = [("mute", b'{"duration_s": 0}'), ("set_targets", b'{"cadence_raise_pct": 7}')]
    targets += [(f"unknown{i}", b"{}") for i in range(20)]
    keys = [f"retained:{i}".encode() for i in range(len(targets))]
    for (name, payload), key in zip(targets, keys, strict=True):
        client.send(Probe(name, payload, None), key, retain=True)
    _wait(10.0, lambda: client.answered(keys) == len(keys))
    for k in range(kicks):
        connects = pub.connection.stats.connects
        kicker = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"gaitcoach-{RUNNER}", protocol=mqtt.MQTTv5
        )
        kicker.reconnect_delay_set(60, 60)  # thrown off in turn by the service: stay away
        kicker.connect("127.0.0.1", port, 30)
        kicker.loop_start()
        _wait(10.0, lambda c: pub.connection.stats.connects > c, connects)
        kicker.disconnect()
        kicker.loop_stop()
        expected = 2 + k
        _wait(10.0, lambda e: all(len(client.replies[x]) >= e for x in keys), expected)
    time.sleep(0.3)
    row.tried = len(targets) * (1 + kicks)
    with client.lock:
        for (name, _), key in zip(targets, keys, strict=True):
            got = client.replies.get(key, [])
            live, again = got[:1], got[1:]
            row.no_reply += max(0, 1 + kicks - len(got))
            row.duplicate += max(0, len(got) - 1 - kicks)
            live_ok = name.startswith("unknown") or (live and live[0].get("ok"))
            if not live_ok:
                row.wrong_code += 1
            for reply in again:
                error = reply.get("error") or {}
                if error.get("code") != "retained":
                    row.wrong_code += 1
                    row.state_changed += bool(reply.get("ok"))  # executed again
    for name, _ in targets:  # clear them (the empty payload arrives live: refused)
        client.pub.publish(f"{BASE}/cmd/{name}", b"", 1, True)
    row.lost_samples = svc.unrecorded["retained"]
    row.notes.append(f"{kicks} forced reconnects")
    return row


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Counting(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines = 0
        self.longest = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1
        self.longest = max(self.longest, len(self.format(record)))


CATEGORIES: dict[str, tuple[Callable[[random.Random, int], list[Probe]], int]] = {
    "valid": (cat_valid, 150),
    "bad_json": (cat_bad_json, 300),
    "deep_nesting": (cat_deep_nesting, 200),
    "huge_numbers": (cat_huge_numbers, 250),
    "bad_values": (cat_bad_values, 300),
    "unknown": (cat_unknown, 250),
    "too_large": (cat_too_large, 100),
    "path_traversal": (cat_path_traversal, 150),
    "wildcard_response": (cat_wildcard_response, 150),
    "foreign_response": (cat_foreign_response, 150),
}
SPECIAL = ("start_running_id", "retained", "start_new", "flood")


def fuzz(
    svc: FuzzedService, port: int, work: Path, seed: int, scale: float, only: list[str]
) -> tuple[list[Row], list[str]]:
    r = random.Random(seed)
    client = Client(port)
    rows: list[Row] = []
    notes: list[str] = []
    counting = _Counting()
    # Count what the command path logs (and keep it off the bench's output).
    command_log = logging.getLogger("gaitcoach.mqtt.publisher")
    command_log.setLevel(logging.WARNING)
    command_log.propagate = False
    command_log.addHandler(counting)
    outside_before = {p for p in work.rglob("*") if "data" not in p.parts}
    try:
        for name, (make, n) in CATEGORIES.items():
            if not only or name in only:
                rows.append(run_probes(svc, client, name, make(r, max(1, round(n * scale)))))
        if not only or "start_running_id" in only:
            rows.append(run_start_running_id(svc, client, max(1, round(50 * scale))))
        if not only or "retained" in only:
            rows.append(run_retained(svc, client, port, kicks=2))
        if not only or "flood" in only:
            before = rss_mb()
            lines_before = counting.lines
            mix = [p for make, _ in CATEGORIES.values() for p in make(r, 6)]
            probes = [r.choice(mix) for _ in range(max(1, round(1500 * scale)))]
            probes = [p for p in probes if p.code is not None]  # refused ones only
            rows.append(run_probes(svc, client, "flood", probes, window=400))
            notes.append(
                f"flood: {len(probes)} commands, {counting.lines - lines_before} log lines "
                f"(longest {counting.longest} chars), peak RSS {before:.0f} -> {rss_mb():.0f} MB"
            )
        if not only or "start_new" in only:
            rows.append(run_start_new(svc, client, 3))
    finally:
        command_log.removeHandler(counting)
        command_log.propagate = True
        client.close()
    outside = {p for p in work.rglob("*") if "data" not in p.parts} - outside_before
    escaped = [p for p in outside if "escape" in p.name or p.suffix == ".html"]
    escaped += [p for p in Path("/tmp").glob("gaitcoach-fuzz-*")]
    for row in rows:
        if row.category == "path_traversal":
            row.state_changed += len(escaped)
    if escaped:
        notes.append(f"files written outside the data directory: {escaped[:5]}")
    return rows, notes


async def serve_and_fuzz(
    seed: int, scale: float, only: list[str], speed: float
) -> tuple[list[Row], list[str], dict[str, int]]:
    from gaitcoach.demo import demo_config, demo_stack

    work = Path(tempfile.mkdtemp(prefix="bench-fuzz-"))
    with demo_stack("heel-overstrider", 3600, speed, 0.0, runner=RUNNER, work=work) as st:
        if st.broker is None:
            raise RuntimeError("mosquitto is needed (./run test installs it)")
        cfg = demo_config(load_config(None), work / "data", st.port, speed, RUNNER)
        svc = FuzzedService(cfg)
        task = asyncio.create_task(svc.run())
        deadline = time.monotonic() + 180
        while svc.pipeline.counts["samples"] < 2000 or svc.publisher is None:
            if time.monotonic() > deadline or task.done():
                raise RuntimeError("the service did not start streaming within 180 s")
            await asyncio.sleep(0.2)
        assert await svc.publisher.connection.wait_subscribed(10.0)
        rows, notes = await asyncio.to_thread(fuzz, svc, st.port, work, seed, scale, only)
        svc.category = "shutdown"
        svc.stop()
        await task
    with SessionStore(work / "data") as store:
        stored = sum(store.raw_count(sid)[1] for sid in svc.session_ids)
    totals = {
        "received": svc.pipeline.counts["samples"],
        "stored": stored,
        "unrecorded": sum(svc.unrecorded.values()),
        "link_queue_drops": svc.link.queue_drops if svc.link else 0,
        "sessions": len(svc.session_ids),
    }
    return rows, notes, totals


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench command_fuzz", description=__doc__)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count")
    parser.add_argument("--speed", type=float, default=1.0, help="pods' time scale")
    parser.add_argument(
        "--only", action="append", default=[], choices=[*CATEGORIES, *SPECIAL], metavar="CAT"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    rows, notes, totals = asyncio.run(serve_and_fuzz(args.seed, args.scale, args.only, args.speed))
    print(
        f"\nlive command fuzz: virtual pods -> service (recording) <- Mosquitto <- fuzzer, "
        f"seed {args.seed}, {time.monotonic() - started:.0f} s"
    )
    print(
        f"{'category':<18} {'tried':>6} {'failures':>9} {'data lost':>10}  reproduce "
        "(failures: no reply / duplicate / wrong code / state changed / leaked)"
    )
    for row in rows:
        detail = f"{row.no_reply}/{row.duplicate}/{row.wrong_code}/{row.state_changed}/{row.leaked}"
        print(
            f"{row.category:<18} {row.tried:>6} {row.failures:>9} {row.lost_samples:>10}  "
            f"./run bench command_fuzz --only {row.category} --seed {args.seed}"
            + (f"   [{detail}]" if row.failures else "")
        )
        for note in row.notes:
            print(f"{'':<18} note: {note}")
    print(
        f"{'total':<18} {sum(r.tried for r in rows):>6} {sum(r.failures for r in rows):>9} "
        f"{sum(r.lost_samples for r in rows):>10}"
    )
    for note in notes:
        print(note)
    missing = totals["received"] - totals["unrecorded"] - totals["stored"]
    print(
        f"store check: {totals['received']} samples handled, {totals['stored']} stored in "
        f"{totals['sessions']} sessions, {totals['unrecorded']} arrived with no session "
        f"(shutdown included), {missing} otherwise missing; link queue drops "
        f"{totals['link_queue_drops']}"
    )
    return 0 if sum(r.failures for r in rows) == 0 else 1
