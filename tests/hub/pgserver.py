"""A private PostgreSQL server from the Debian packages: ``initdb`` into a temporary folder,
started on a free loopback port, as an unprivileged account.

PostgreSQL refuses to run as root ("root" execution of the PostgreSQL server is not
permitted), and CI runs as root. So when this process is root, ``initdb`` and ``postgres``
run as the ``postgres`` account the Debian package creates (``nobody`` when there is none):
``subprocess.Popen(user=..., group=..., extra_groups=[])`` drops the ids in the child before
it executes, like ``setpriv --reuid --regid --clear-groups``. The folder is made by this
process and handed to that account (``chown``); nothing else on the machine is touched.

Used by the tests and ``./run bench scale``; production runs its own PostgreSQL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gaitcoach.proc import die_with_parent, free_port

ADMIN_USER = "gaitcoach_admin"
"""The cluster's superuser (named at initdb; its password is random per server)."""
DATABASE = "gaitcoach"


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: Debian's newest
    ``/usr/lib/postgresql/<version>/bin``, else whatever ``postgres`` is on PATH."""

    def version(p: str) -> int:
        try:
            return int(Path(p).parts[-3])
        except ValueError:
            return 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).resolve().parent if on_path else None


def postgres_available() -> bool:
    bindir = find_bindir()
    return bindir is not None and (bindir / "initdb").exists()


@dataclass(frozen=True, slots=True)
class Account:
    """Who runs initdb and postgres: ``None`` ids mean "as this process" (not root)."""

    uid: int | None
    gid: int | None
    name: str

    @classmethod
    def for_server(cls) -> Account:
        if os.geteuid() != 0:
            return cls(None, None, pwd.getpwuid(os.geteuid()).pw_name)
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(entry.pw_uid, entry.pw_gid, name)
        raise RuntimeError("running as root and no unprivileged account (postgres, nobody)")

    def popen_kwargs(self) -> dict[str, object]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder (removed by :meth:`cleanup`).

    Parameters
    ----------
    settings
        Extra ``postgresql.conf`` lines (e.g. ``{"fsync": "off"}`` for quick tests).
    """

    host = "127.0.0.1"

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server is not installed (apt-get install postgresql)")
        self.bindir = bindir
        self.account = Account.for_server()
        self.settings = dict(settings or {})
        # Not pytest's tmp_path: root's 0700 folders are closed to the server's account.
        self.directory = Path(tempfile.mkdtemp(prefix="gaitcoach-pg-"))
        self.account.own(self.directory)
        self.data_dir = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self.admin_password = secrets.token_urlsafe(18)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._initdb()

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            cwd=self.directory,
            **self.account.popen_kwargs(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {(result.stderr or result.stdout)[-800:]}")

    def _initdb(self) -> None:
        pwfile = self.directory / "pwfile"
        pwfile.write_text(self.admin_password + "\n")
        pwfile.chmod(0o600)
        self.account.own(pwfile)
        # scram-sha-256 everywhere: the roles' passwords are checked as in production.
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            ADMIN_USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()

    def _write_config(self) -> None:
        lines = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            # The socket lives in our folder: /var/run/postgresql may not exist or be ours.
            "unix_socket_directories": f"'{self.directory}'",
            "max_connections": "100",
            "logging_collector": "off",
            **self.settings,
        }
        conf = self.data_dir / "postgresql.auto.conf"
        conf.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
        self.account.own(conf)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 30.0) -> None:
        """Start (again on the same port once it has one) and wait until it accepts logins."""
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            if not self.port or attempts > 1:
                self.port = free_port()
            self._write_config()
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [str(self.bindir / "postgres"), "-D", str(self.data_dir)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.directory,
                    preexec_fn=die_with_parent,
                    **self.account.popen_kwargs(),  # type: ignore[call-overload]
                )
            if self._wait_ready(timeout_s):
                return
            self.stop()
        raise RuntimeError(f"postgres did not start on port {self.port}: {self.log_tail()}")

    def _wait_ready(self, timeout_s: float) -> bool:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    pass
                with psycopg.connect(self.admin_dsn("postgres"), connect_timeout=2):
                    return True
            except (OSError, psycopg.OperationalError):
                time.sleep(0.05)
        return False

    def stop(self, mode: str = "fast", timeout_s: float = 30.0) -> None:
        """Shut down: ``fast`` (SIGINT: roll back open transactions, checkpoint) or
        ``immediate`` (SIGQUIT: no checkpoint, crash recovery at the next start)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT if mode == "fast" else signal.SIGQUIT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- connecting --------------------------------------------------------------------------

    def dsn(self, user: str, password: str, dbname: str = DATABASE) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host, port=self.port, user=user, password=password, dbname=dbname
        )

    def admin_dsn(self, dbname: str = DATABASE) -> str:
        return self.dsn(ADMIN_USER, self.admin_password, dbname)

    def create_database(self, name: str = DATABASE) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_dsn("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
