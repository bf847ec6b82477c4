"""A private D-Bus system bus for the virtual BlueZ, and process hygiene helpers.

:class:`PrivateBus` starts ``dbus-daemon`` with a generated configuration (system-bus type,
allow-all policy, generous limits) on a unix socket in a temporary directory. Children are
tied to their parent with ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` so none outlives a crashed test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from gaitcoach.proc import die_with_parent, stop_process

__all__ = ["PrivateBus", "die_with_parent", "env_for_bus", "write_bluetoothctl_shim"]

BLUEZ_VERSION = "5.72"
"""Version the bluetoothctl shim reports (bleak requires 5.55+ in the 5.x series)."""

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="max_incoming_unix_fds">100000</limit>
  <limit name="max_outgoing_unix_fds">100000</limit>
  <limit name="max_connections_per_user">10000</limit>
  <limit name="max_pending_service_starts">10000</limit>
  <limit name="max_names_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="reply_timeout">300000</limit>
</busconfig>
"""


class PrivateBus:
    """A private ``dbus-daemon`` acting as the system bus (context manager).

    ``address`` is what ``DBUS_SYSTEM_BUS_ADDRESS`` must be set to for bleak and the virtual
    BlueZ. The daemon and the temporary directory are removed on exit, even after errors.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self._owned_dir = directory is None
        self.dir = (
            Path(tempfile.mkdtemp(prefix="gaitcoach-bus-"))
            if directory is None
            else Path(directory)
        )
        self.socket = self.dir / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateBus:
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise RuntimeError("dbus-daemon not found (apt-get install dbus-daemon)")
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "bus.conf"
        config.write_text(_CONFIG.format(socket=self.socket))
        self._proc = subprocess.Popen(
            [daemon, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().decode().strip()
        if not line:
            self.stop()
            raise RuntimeError("dbus-daemon did not start")
        return self

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc, 5)
            self._proc = None
        if self._owned_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateBus:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def write_bluetoothctl_shim(directory: str | Path) -> Path:
    """Write an executable ``bluetoothctl`` that only answers ``--version``.

    bleak runs ``bluetoothctl --version`` once per process before its first connect; put
    ``directory`` first on ``PATH`` of the client process so the check does not depend on
    whatever BlueZ (if any) is installed.
    """
    path = Path(directory) / "bluetoothctl"
    path.write_text(f"#!/bin/sh\necho {BLUEZ_VERSION}\n")
    path.chmod(0o755)
    return path


def env_for_bus(address: str, shim_dir: str | Path | None = None) -> dict[str, str]:
    """A copy of ``os.environ`` pointing the system bus (and optionally PATH) at ours."""
    env = dict(os.environ)
    env["DBUS_SYSTEM_BUS_ADDRESS"] = address
    if shim_dir is not None:
        env["PATH"] = f"{shim_dir}{os.pathsep}{env.get('PATH', '')}"
    return env
