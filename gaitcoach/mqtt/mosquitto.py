"""A local Mosquitto broker process: generated config, free port, tied to its parent.

Used by the demo (plain broker) and by the tests (plain, TLS, password + ACL, persistence).
Measured facts behind the details (TCP_NODELAY, ``user root``, ``listener 0``):
/work/shared/notes/mqtt.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gaitcoach.proc import die_with_parent, free_port, stop_process

SERVICE_USER = "gaitcoach"
"""A user allowed on every runner's topics (the ACL's service account)."""


def mosquitto_available() -> bool:
    return shutil.which("mosquitto") is not None


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, a server certificate for localhost/127.0.0.1 and a client certificate."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path
    """A CA that signed nothing here: clients trusting only it must fail verification."""


ACL_TEMPLATE = """\
# The service account may use every runner's topics.
user {service}
topic readwrite gaitcoach/#

# Every other user reaches only its own runner's topics (%u = the username).
pattern readwrite gaitcoach/%u/#
"""


class MosquittoBroker:
    """One Mosquitto process with a generated config in ``directory``.

    Parameters
    ----------
    directory
        Where config, password, ACL, persistence and log files go.
    users
        username -> password; when given, anonymous access is off and the ACL applies.
    tls
        Serve TLS with these files instead of plain TCP.
    require_client_cert
        With TLS, refuse clients without a certificate signed by the CA.
    persistence
        Keep sessions and queued messages across ``stop()`` / ``start()``.
    port
        Listen here (0: a free port).
    websockets
        Also serve MQTT over WebSockets on :attr:`ws_port` (TLS too when ``tls`` is given: wss),
        for the dashboard.
    acl
        ACL file text instead of :data:`ACL_TEMPLATE` (with ``users``).
    listener_options
        Lines for the main listener (e.g. ``use_username_as_clientid true``).
    extra
        Lines appended to the config (e.g. a second listener and its options).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        directory: Path,
        *,
        users: Mapping[str, str] | None = None,
        tls: TlsFiles | None = None,
        require_client_cert: bool = False,
        persistence: bool = False,
        port: int = 0,
        websockets: bool = False,
        acl: str | None = None,
        listener_options: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.users = dict(users) if users else None
        self.tls = tls
        self.require_client_cert = require_client_cert
        self.persistence = persistence
        self.port = port
        """0 until started: a free port is chosen (retried if taken meanwhile)."""
        self.websockets = websockets
        self.ws_port = 0
        """The websockets listener's port (chosen at the first start, kept across restarts)."""
        self.acl = acl
        self.listener_options = list(listener_options)
        self.extra = list(extra)
        self.log_path = directory / "mosquitto.log"
        self.config_path = directory / "mosquitto.conf"
        self._proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} {self.host}", *self.listener_options]
        lines.append("set_tcp_nodelay true")
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot read tmp files
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_cert}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
                f"require_certificate {'true' if self.require_client_cert else 'false'}",
            ]
        if self.users is not None:
            passwd = d / "passwd"
            # Plain "user:password" lines hashed in place by one mosquitto_passwd -U (one
            # process for hundreds of accounts, not one each).
            passwd.touch(0o600)
            passwd.chmod(0o600)
            passwd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            subprocess.run(
                ["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True
            )
            acl = d / "acl"
            acl.write_text(self.acl or ACL_TEMPLATE.format(service=SERVICE_USER))
            lines += ["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl}"]
        else:
            lines.append("allow_anonymous true")
        if self.persistence:
            store = d / "store"
            store.mkdir(exist_ok=True)
            lines += ["persistence true", f"persistence_location {store}/", "autosave_interval 1"]
        if self.websockets:
            # Mosquitto 2.0.11 refuses to start with a websockets listener alone ("Unable to
            # start any listening sockets"): it always comes after the TCP one here.
            lines += [f"listener {self.ws_port} {self.host}", "protocol websockets"]
            if self.tls is not None:  # wss: browsers bring no client certificate
                lines += [
                    f"cafile {self.tls.ca_cert}",
                    f"certfile {self.tls.server_cert}",
                    f"keyfile {self.tls.server_key}",
                ]
        lines += [f"log_dest file {self.log_path}", "log_type error", "log_type warning"]
        lines += self.extra
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 5.0) -> None:
        """Start (again, on the same port once it has one); wait until it accepts."""
        if not mosquitto_available():
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            if not self.port or attempts > 1:
                self.port = free_port()
            if self.websockets and (not self.ws_port or attempts > 1):
                self.ws_port = free_port()
            self._write_config()
            self._proc = subprocess.Popen(
                ["mosquitto", "-c", str(self.config_path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
            if self._wait_accepting(timeout_s):
                return
            self.stop()
        log = self.log_path.read_text() if self.log_path.exists() else ""
        raise RuntimeError(f"mosquitto did not start on port {self.port}: {log[-500:]}")

    def _wait_accepting(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        waiting = [self.port, self.ws_port] if self.websockets else [self.port]
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False  # e.g. the port was taken meanwhile: retry on another
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, waiting[0]), timeout=0.2),
            ):
                waiting.pop(0)
                if not waiting:
                    return True
                continue
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        """SIGTERM and wait (a persistent broker saves its store)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, 5)  # stdout is DEVNULL: nothing to close

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without saving anything."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
