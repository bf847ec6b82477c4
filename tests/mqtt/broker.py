"""A real Mosquitto for tests: free port, generated config, tied to the test process.

Reusable by every component's tests::

    from tests.mqtt.broker import MosquittoBroker, mosquitto  # noqa: F401 (pytest fixture)

    def test_x(mosquitto: MosquittoBroker) -> None:
        ... connect to mosquitto.host, mosquitto.port ...

Variants: plain (anonymous), TLS (throwaway CA; optional client certificates), and password +
ACL where each runner's credentials reach only ``gaitcoach/<runner>/#``. ``stop()`` /
``start()`` restart the broker on the same port (with ``persistence=True`` the sessions and
queued messages survive). Measured facts behind the details: /work/shared/notes/mqtt.md.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gaitcoach.mqtt.mosquitto import (
    SERVICE_USER,
    MosquittoBroker,
    TlsFiles,
    free_port,
    mosquitto_available,
)
from tests.support import require

__all__ = [
    "SERVICE_USER",
    "MosquittoBroker",
    "TlsFiles",
    "free_port",
    "make_tls_files",
    "sign_certificate",
]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tls_files(directory: Path) -> TlsFiles:
    """Generate the CA and certificates with openssl (EC keys: fast)."""
    require(shutil.which("openssl") is not None, "openssl is needed to make test certificates")
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "other-ca"):
        _openssl(
            "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d
        )
        _openssl(
            "req",
            "-x509",
            "-new",
            "-key",
            f"{name}.key",
            "-days",
            "2",
            "-subj",
            f"/CN=gaitcoach test {name}",
            "-out",
            f"{name}.crt",
            cwd=d,
        )
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, cn in (("server", "localhost"), ("client", "alice")):
        _openssl(
            "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d
        )
        _openssl(
            "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=d
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.crt",
            cwd=d,
        )
    for f in d.iterdir():
        f.chmod(0o644)  # mosquitto may drop privileges before reading them
    return TlsFiles(
        d / "ca.crt",
        d / "server.crt",
        d / "server.key",
        d / "client.crt",
        d / "client.key",
        d / "other-ca.crt",
    )


def sign_certificate(tls: TlsFiles, directory: Path, cn: str, extension: str) -> tuple[Path, Path]:
    """A new key and a certificate (``CN=cn``, one extension line such as
    ``subjectAltName=DNS:x`` or ``extendedKeyUsage=clientAuth``) signed by the test CA."""
    directory.mkdir(parents=True, exist_ok=True)
    key, crt = directory / f"{cn}.key", directory / f"{cn}.crt"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory)
    _openssl(
        "req", "-new", "-key", str(key), "-subj", f"/CN={cn}", "-out", f"{cn}.csr", cwd=directory
    )
    (directory / f"{cn}.ext").write_text(extension + "\n")
    _openssl(
        "x509", "-req", "-in", f"{cn}.csr", "-CA", str(tls.ca_cert),
        "-CAkey", str(tls.ca_cert.parent / "ca.key"), "-CAcreateserial",
        "-CAserial", str(directory / "ca.srl"), "-days", "2", "-extfile", f"{cn}.ext",
        "-out", str(crt), cwd=directory,
    )  # fmt: skip
    for f in (key, crt):
        f.chmod(0o644)  # mosquitto may drop privileges before reading them
    return crt, key


@contextlib.contextmanager
def running_mosquitto(directory: Path, **kwargs: object) -> Iterator[MosquittoBroker]:
    """``with running_mosquitto(tmp_path, users={...}) as broker:`` (kwargs as the class)."""
    require(mosquitto_available(), "mosquitto is not installed (./run test installs it)")
    broker = MosquittoBroker(directory, **kwargs)  # type: ignore[arg-type]
    with broker:
        yield broker


RUNNER_PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", SERVICE_USER: "service-pw"}


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """Plain Mosquitto, anonymous access."""
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture
def mosquitto_persistent(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """Plain Mosquitto keeping sessions across restarts."""
    with running_mosquitto(tmp_path / "mosquitto", persistence=True) as broker:
        yield broker


@pytest.fixture
def mosquitto_auth(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """Passwords (``RUNNER_PASSWORDS``) and the per-runner ACL."""
    with running_mosquitto(tmp_path / "mosquitto", users=RUNNER_PASSWORDS) as broker:
        yield broker


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mosquitto_tls(tmp_path: Path, tls_files: TlsFiles) -> Iterator[MosquittoBroker]:
    """TLS with the throwaway CA, passwords and ACL; client certificates required."""
    with running_mosquitto(
        tmp_path / "mosquitto", users=RUNNER_PASSWORDS, tls=tls_files, require_client_cert=True
    ) as broker:
        yield broker
